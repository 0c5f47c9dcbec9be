import FoundationEssentials
import KubeconfigBase
import Testing

@testable import KubernetesAPI

/// What the sinks send and read: the list and watch by label, a whole Secret's body, and a watch
/// event of Secrets.
@Suite struct SecretSinkMessagesTests {
    @Test func theListAndWatchSelectByLabel() {
        let selector = "app.kubernetes.io/managed-by=kubeconfig-service,kubeconfig-service.onap.org/sink=argocd"
        let encoded =
            "app.kubernetes.io%2Fmanaged-by%3Dkubeconfig-service%2Ckubeconfig-service.onap.org%2Fsink%3Dargocd"
        #expect(
            KubernetesClient.secretsListPath(namespace: "argocd", labelSelector: selector)
                == "/api/v1/namespaces/argocd/secrets?labelSelector=\(encoded)")
        #expect(
            KubernetesClient.secretsWatchPath(
                namespace: "argocd", labelSelector: selector, resourceVersion: "12", timeoutSeconds: 300)
                == "/api/v1/namespaces/argocd/secrets?labelSelector=\(encoded)&watch=true&allowWatchBookmarks=true"
                + "&resourceVersion=12&timeoutSeconds=300")
    }

    @Test func aReplacementCarriesKindAndTheVersionItWasDecidedOn() {
        let secret = SecretObject(
            metadata: .init(name: "cluster-a", namespace: "argocd", resourceVersion: "7", labels: ["k": "v"]),
            data: ["name": "YQ=="])
        #expect(
            String(decoding: KubernetesClient.encode(secret), as: UTF8.self)
                == #"{"apiVersion":"v1","data":{"name":"YQ=="},"kind":"Secret","metadata":{"labels":{"k":"v"},"#
                + #""name":"cluster-a","namespace":"argocd","resourceVersion":"7"},"type":"Opaque"}"#)
    }

    @Test func aWatchEventOfSecretsKeepsLabelsUidAndData() throws {
        let event =
            #"{"type":"ADDED","object":{"kind":"Secret","apiVersion":"v1","metadata":{"name":"a-kubeconfig","uid":"u1","#
            + #""resourceVersion":"9","labels":{"reconcile.fluxcd.io/watch":"Enabled"}},"type":"Opaque","data":{"value":"eA=="}}}"#
        let decoded = try KubernetesClient.objectWatchEvent(SecretObject.self, from: Array(event.utf8), redaction: .none)
        guard case .added(let secret) = decoded else {
            Issue.record("an ADDED event")
            return
        }
        #expect(secret.metadata.uid == "u1" && secret.metadata.resourceVersion == "9")
        #expect(secret.metadata.labels == ["reconcile.fluxcd.io/watch": "Enabled"])
        #expect(secret.data == ["value": "eA=="])
        let gone = #"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"}}"#
        #expect {
            try KubernetesClient.objectWatchEvent(SecretObject.self, from: Array(gone.utf8), redaction: .none)
        } throws: { ($0 as? ServiceError)?.code == .apiExpired }
    }
}
