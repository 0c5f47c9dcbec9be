import KubeconfigBase
import KubernetesAPI

/// Where the server and CA that a site's entries carry come from (and the pod's own token).
///
/// Today the pod's own service account (`InClusterDiscovery`).
public protocol SiteCredentialSource: Sendable {
    /// The credentials to publish now; read anew on every call, since they rotate.
    func credentials() async throws(ServiceError) -> ClusterCredentials
}

extension InClusterDiscovery: SiteCredentialSource {
    public func credentials() async throws(ServiceError) -> ClusterCredentials {
        try readCredentials()
    }
}
