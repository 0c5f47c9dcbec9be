import KubernetesAPI

/// Where the server, CA and token that a site's entries carry come from.
///
/// Today the pod's own service account (`InClusterDiscovery`); an issued token (TokenRequest) is
/// the next source.
public protocol SiteCredentialSource: Sendable {
    /// The credentials to publish now; read anew on every call, since they rotate.
    func credentials() async throws(ServiceError) -> ClusterCredentials
}

extension InClusterDiscovery: SiteCredentialSource {
    public func credentials() async throws(ServiceError) -> ClusterCredentials {
        try readCredentials()
    }
}
