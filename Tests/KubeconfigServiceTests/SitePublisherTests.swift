import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Testing

@testable import KubeconfigService

/// A publication end to end in memory: the pod's credentials from a service-account folder, the
/// ConfigMap behind a scripted API, through the real store and update loop.
@Suite struct SitePublisherTests {
    let api = ScriptedKubernetesAPI()
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("pod-token\n".utf8).write(to: folder.appendingPathComponent("token"))
        try Data(Self.selfSignedPEM.utf8).write(to: folder.appendingPathComponent("ca.crt"))
    }

    func publisher() -> SitePublisher {
        let discovery = InClusterDiscovery(
            environment: ["KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"],
            serviceAccountDirectory: folder.path)
        let store = ObjectDocumentStore(api: api, namespace: "onap", name: "kc", key: "kubeconfig")
        return SitePublisher(
            configuration: PublisherConfiguration(namespace: "onap"), credentials: discovery,
            updater: DocumentUpdater(store: store, logger: Logger(label: "test")), logger: Logger(label: "test"))
    }

    @Test func aPublicationWritesOurEntriesAndRecordsWhatItServed() async throws {
        api.put(namespace: "onap", name: "kc", data: nil, version: "7")
        let publisher = publisher()
        let result = try await publisher.publish()
        #expect(
            result
                == PublicationResult(
                    site: "central", namespace: "onap", configMap: "multisite-kubeconfig-configmap", key: "kubeconfig",
                    server: "https://10.96.0.1:443", resourceVersion: "8", changed: true, tokenSource: .pod))
        #expect(api.calls == ["GET onap/kc", "PATCH onap/kc@7"])
        let snapshot = publisher.state.snapshot
        #expect(snapshot.published?.resourceVersion == "8")
        #expect(snapshot.token == PublicationState.TokenStatus(PublishedToken(token: BearerToken("pod-token"), source: .pod)))
        #expect(snapshot.lastError == nil)
        let served = String(decoding: try #require(snapshot.published).yaml, as: UTF8.self)
        #expect(served.contains("token: pod-token") && served.contains("server: https://10.96.0.1:443"))

        let again = try await publisher.publish()
        #expect(!again.changed && again.resourceVersion == "8")
        #expect(api.calls.count == 3)
    }

    @Test func aMissingConfigMapIsNamedAndRecorded() async throws {
        let publisher = publisher()
        await #expect {
            try await publisher.publish()
        } throws: { error in
            let error = error as? ServiceError
            return error?.code == .configMapNotFound && error?.message.contains("configmap onap/kc not found") == true
        }
        #expect(publisher.state.snapshot.lastError?.code == .configMapNotFound)
        #expect(publisher.state.snapshot.lastSuccess == nil)
    }

    /// A self-signed certificate, so that discovery's PEM check passes.
    static let selfSignedPEM = """
        -----BEGIN CERTIFICATE-----
        MIIBgzCCASmgAwIBAgIUbI5rb3N55ey7/SlUEJSpP/xvP+YwCgYIKoZIzj0EAwIw
        FzEVMBMGA1UEAwwMdGVzdC1jbHVzdGVyMB4XDTI2MTIwMTIxNTg0MFoXDTM2MTEy
        ODIxNTg0MFowFzEVMBMGA1UEAwwMdGVzdC1jbHVzdGVyMFkwEwYHKoZIzj0CAQYI
        KoZIzj0DAQcDQgAEFLlJU1fbmj62GAGLTc2w/XG5KSsUNcFGCTG751Ug8X4WcKpp
        5yd9O9bNjpvVOMrK9KXgFvcjTD9v9EOJt+NHPqNTMFEwHQYDVR0OBBYEFOYTaGqJ
        WsWqe1dlTVngAzROrBkwMB8GA1UdIwQYMBaAFOYTaGqJWsWqe1dlTVngAzROrBkw
        MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgGzONGK5KQt3wRZdF
        jSaanPMk7WJj6oFx272hug1I6rwCIQD3Vc7CvM2HlOvbmU5BxejTOBXMGgQ6+nr7
        MkGdkbXNMg==
        -----END CERTIFICATE-----
        """
}
