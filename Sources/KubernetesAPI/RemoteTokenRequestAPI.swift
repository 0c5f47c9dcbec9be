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

/// The TokenRequest API of one remote site, as `IssuedTokenSource` asks for it.
public struct SiteTokenRequests: TokenRequestAPI {
    public let remote: any RemoteTokenRequestAPI
    /// The site's server and CA, with its bootstrap credential.
    public let endpoint: ClusterEndpoint

    public init(remote: any RemoteTokenRequestAPI, endpoint: ClusterEndpoint) {
        self.remote = remote
        self.endpoint = endpoint
    }

    public func requestToken(
        namespace: String, serviceAccount: String, expirationSeconds: Int, audiences: [String]
    ) async throws(ServiceError) -> IssuedToken {
        try await remote.requestToken(
            at: endpoint, namespace: namespace, serviceAccount: serviceAccount, expirationSeconds: expirationSeconds,
            audiences: audiences)
    }
}
