import KubeconfigServiceTestSupport
import KubernetesAPI
import Testing

@testable import KubeconfigService

/// The ConfigMap as a document store: one data key, conditional writes, errors named for operators.
@Suite struct ConfigMapDocumentStoreTests {
    let api = ScriptedKubernetesAPI()
    var store: ConfigMapDocumentStore { ConfigMapDocumentStore(api: api, namespace: "onap", name: "kc", key: "kubeconfig") }

    @Test func aReadGivesTheKeyAndTheResourceVersion() async throws {
        api.put(namespace: "onap", name: "kc", data: ["kubeconfig": "kind: Config\n", "other": "x"], version: "41")
        #expect(try await store.read() == StoredDocument(text: "kind: Config\n", version: "41"))
        api.put(namespace: "onap", name: "kc", data: ["other": "x"], version: "42")
        #expect(try await store.read() == StoredDocument(text: nil, version: "42"))
        #expect(store.origin == "key \"kubeconfig\" of configmap onap/kc")
    }

    @Test func aWriteCarriesTheVersionAndReturnsTheNewOne() async throws {
        api.put(namespace: "onap", name: "kc", data: ["other": "x"], version: "5")
        #expect(try await store.write("kind: Config\n", ifVersion: "5") == "6")
        #expect(api.calls == ["PATCH onap/kc@5"])
        #expect(try await store.read() == StoredDocument(text: "kind: Config\n", version: "6"))
    }

    @Test func aStaleVersionIsAConflictTheLoopRecognises() async throws {
        api.put(namespace: "onap", name: "kc", data: [:], version: "5")
        await #expect {
            try await store.write("kind: Config\n", ifVersion: "4")
        } throws: { ($0 as? ServiceError)?.code == .apiConflict }
    }

    @Test func aMissingConfigMapIsNamedWithWhoOwnsIt() async {
        for call in [false, true] {
            await #expect {
                if call { _ = try await store.write("", ifVersion: "1") } else { _ = try await store.read() }
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
}
