import FoundationEssentials

/// One context of the document as `GET /sites` shows it: names, server, the kind of credential
/// and when things expire. Never a token or a key.
public struct SiteSummary: Sendable, Equatable, Encodable {
    public var name: String
    public var cluster: String?
    public var user: String?
    public var namespace: String?
    public var server: String?
    /// The cluster the site was registered as (its `kube-system` namespace UID), when known.
    public var clusterId: String?
    public var tlsServerName: String?
    /// `token`, `client-certificate`, `exec`, `auth-provider`, `token-file`, `basic` or `none`.
    public var credential: String
    /// The token's `exp` claim, when the token is a JWT that has one.
    public var tokenExpiresAt: Date?
    /// The earliest `notAfter` of the CA bundle.
    public var certificateAuthorityExpiresAt: Date?
    /// The earliest `notAfter` of the client certificate (chain).
    public var clientCertificateExpiresAt: Date?
    /// Published by this service (the central location), not registered.
    public var ours: Bool
}
