import KubeconfigBase

/// TokenRequests made at a remote site's API server, with the credential its endpoint carries
/// (the site's bootstrap credential).
public protocol RemoteTokenRequestAPI: Sendable {
    /// `POST .../serviceaccounts/{name}/token` at `endpoint`, asking for `expirationSeconds` and
    /// `audiences` (empty: that API server's own).
    func requestToken(
        at endpoint: ClusterEndpoint, namespace: String, serviceAccount: String, expirationSeconds: Int,
        audiences: [String]
    ) async throws(ServiceError) -> IssuedToken
}
