import KubeconfigBase

/// The cluster, user and context that one site contributes to the multi-site kubeconfig.
public struct SiteEntries: Sendable, Equatable {
    /// Name of the cluster and of the context (the site's location, e.g. `central`).
    public var location: String
    /// Name of the user entry (e.g. `user00`).
    public var user: String
    /// `https://host:port` of the site's API server.
    public var server: String
    /// The cluster CA bundle (PEM bytes), written base64-encoded.
    public var certificateAuthority: [UInt8]
    /// The credential clients of this site present.
    public var token: BearerToken

    public init(location: String, user: String, server: String, certificateAuthority: [UInt8], token: BearerToken) {
        self.location = location
        self.user = user
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.token = token
    }
}
