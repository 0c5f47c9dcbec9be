import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Testing

@testable import KubeconfigService

/// A ConfigMap or Secret as a document store: one data key, conditional writes, annotations,
/// errors named for operators.
@Suite struct ObjectDocumentStoreTests {
    let api = ScriptedKubernetesAPI()
    var store: ObjectDocumentStore { ObjectDocumentStore(api: api, namespace: "onap", name: "kc", key: "kubeconfig") }
    var secretStore: ObjectDocumentStore {
        ObjectDocumentStore(api: api, resource: .secrets, namespace: "onap", name: "kc", key: "kubeconfig")
    }

    @Test func aReadGivesTheKeyAndTheResourceVersion() async throws {
        api.put(namespace: "onap", name: "kc", data: ["kubeconfig": "kind: Config\n", "other": "x"], version: "41")
        #expect(try await store.read() == StoredDocument(text: "kind: Config\n", version: "41", capacity: (1 << 20) - 1))
        api.put(namespace: "onap", name: "kc", data: ["other": "x"], version: "42")
        #expect(try await store.read() == StoredDocument(text: nil, version: "42", capacity: (1 << 20) - 1))
        #expect(store.origin == "key \"kubeconfig\" of configmap onap/kc")
    }

    @Test func aWriteCarriesTheVersionAndReturnsTheNewOne() async throws {
        api.put(namespace: "onap", name: "kc", data: ["other": "x"], version: "5")
        #expect(try await store.write("kind: Config\n", annotations: [:], ifVersion: "5") == "6")
        #expect(api.calls == ["PATCH onap/kc@5"])
        #expect(try await store.read() == StoredDocument(text: "kind: Config\n", version: "6", capacity: (1 << 20) - 1))
    }

    @Test func aStaleVersionIsAConflictTheLoopRecognises() async throws {
        api.put(namespace: "onap", name: "kc", data: [:], version: "5")
        await #expect {
            try await store.write("kind: Config\n", annotations: [:], ifVersion: "4")
        } throws: { ($0 as? ServiceError)?.code == .apiConflict }
    }

    @Test func aMissingConfigMapIsNamedWithWhoOwnsIt() async {
        for call in [false, true] {
            await #expect {
                if call { _ = try await store.write("", annotations: [:], ifVersion: "1") } else { _ = try await store.read() }
            } throws: { error in
                let error = error as? ServiceError
                return error?.code == .configMapNotFound
                    && error?.message.hasPrefix("configmap onap/kc not found; it is created by the Helm release") == true
            }
        }
    }

    @Test func otherAPIErrorsKeepTheirCode() async {
        api.fail(ServiceError(code: .apiForbidden, message: "forbidden: cannot get configmaps"))
        await #expect {
            try await store.read()
        } throws: { ($0 as? ServiceError) == ServiceError(code: .apiForbidden, message: "forbidden: cannot get configmaps") }
    }

    @Test func annotationsAreReadAndSetOrRemovedInTheSameWrite() async throws {
        api.put(namespace: "onap", name: "kc", data: [:], annotations: ["theirs": "1", "ours": "old"], version: "5")
        #expect(try await store.read().annotations == ["theirs": "1", "ours": "old"])
        _ = try await store.write("kind: Config\n", annotations: ["ours": nil, "new": "v"], ifVersion: "5")
        #expect(api.object(namespace: "onap", name: "kc")?.metadata.annotations == ["theirs": "1", "new": "v"])
        #expect(api.calls.filter { $0.hasPrefix("PATCH") } == ["PATCH onap/kc@5"])
    }

    @Test func aSecretKeepsTheDocumentBase64() async throws {
        api.put(.secrets, namespace: "onap", name: "kc", data: ["kubeconfig": "a2luZDogQ29uZmlnCg=="], version: "3")
        #expect(try await secretStore.read() == StoredDocument(text: "kind: Config\n", version: "3", capacity: 1 << 20))
        #expect(secretStore.origin == "key \"kubeconfig\" of secret onap/kc")
        _ = try await secretStore.write("kind: Config\nusers: []\n", annotations: [:], ifVersion: "3")
        #expect(api.object(.secrets, namespace: "onap", name: "kc")?.data?["kubeconfig"] == "a2luZDogQ29uZmlnCnVzZXJzOiBbXQo=")
        #expect(api.calls == ["GET secrets:onap/kc", "PATCH secrets:onap/kc@3"])
    }

    @Test func theCapacityIsWhatTheOtherValuesLeaveOfTheLimitCountedAsTheAPIServerDoes() async throws {
        // A ConfigMap's text values count as UTF-8 bytes, a Secret's as decoded bytes; our own
        // key's old value does not count, since a write replaces it.
        api.put(namespace: "onap", name: "kc", data: ["kubeconfig": "kind: Config\n", "other": "é", "more": "abc"])
        #expect(try await store.read().capacity == (1 << 20) - 5)
        api.put(.secrets, namespace: "onap", name: "kc", data: ["kubeconfig": "a2luZDogQ29uZmlnCg==", "other": "AAAA"])
        #expect(try await secretStore.read().capacity == (1 << 20) - 3)
    }

    @Test func aSecretValueThatIsNotTextIsRefusedNotOverwritten() async {
        api.put(.secrets, namespace: "onap", name: "kc", data: ["kubeconfig": "//79"], version: "3")
        await #expect {
            try await secretStore.read()
        } throws: { ($0 as? ServiceError)?.code == .documentNotKubeconfig }
    }

    @Test func aMissingSecretIsNamedAsASecret() async {
        await #expect {
            try await secretStore.read()
        } throws: { error in
            let error = error as? ServiceError
            return error?.code == .secretNotFound
                && error?.message.hasPrefix("secret onap/kc not found; it is created by the Helm release") == true
        }
    }
}
