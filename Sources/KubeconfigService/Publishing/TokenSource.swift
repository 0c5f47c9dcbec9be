import FoundationEssentials
import KubeconfigBase
import KubernetesAPI

/// Where the token in a site's user entry comes from: the pod's own (`PodTokenSource`) or one
/// issued for a named account and renewed (`IssuedTokenSource`).
///
/// Asked once per round of the update loop, with what the document holds then, so that a
/// replica that finds a fresh token another replica wrote adopts it.
public protocol TokenSource: Sendable {
    /// The token to publish, given the stored one and the cluster's credentials read for this
    /// publication.
    func token(for stored: StoredToken, cluster: ClusterCredentials) async throws(ServiceError) -> PublishedToken
}

/// What the document holds for our user: its token and our record of it (an annotation).
public struct StoredToken: Sendable, Equatable {
    /// The user entry's `token`; nil when the entry or the field is missing.
    public var token: BearerToken?
    /// Our annotation for this site, when present and readable.
    public var record: TokenRecord?

    public init(token: BearerToken?, record: TokenRecord?) {
        self.token = token
        self.record = record
    }
}

/// The token a publication writes, and what `/status` and metrics say about it.
public struct PublishedToken: Sendable, Equatable {
    public enum Source: String, Sendable, Codable {
        case pod
        case tokenRequest = "TokenRequest"
    }

    public var token: BearerToken
    public var source: Source
    /// The annotation to store beside it; nil removes ours (the pod's token needs none).
    public var record: TokenRecord?
    /// Who the token authenticates as, when known (`system:serviceaccount:ns:name`).
    public var subject: String?
    public var expiresAt: Date?
    /// When a renewal is due; nil when this service does not renew the token.
    public var renewsAt: Date?
    /// Set when a renewal was due and failed: the stored token stays in place.
    public var renewalError: ServiceError?
    /// The stored token no longer authenticates (a TokenReview said so), and no new one could
    /// be issued: it stays, for want of a better one, but it is not valid.
    public var rejected = false

    public init(
        token: BearerToken, source: Source, record: TokenRecord? = nil, subject: String? = nil, expiresAt: Date? = nil,
        renewsAt: Date? = nil, renewalError: ServiceError? = nil
    ) {
        self.token = token
        self.source = source
        self.record = record
        self.subject = subject
        self.expiresAt = expiresAt
        self.renewsAt = renewsAt
        self.renewalError = renewalError
    }
}

/// Publishes the pod's own service-account token, as the old init container did: right for a
/// sidecar in the consumer's pod, whose token it is. Expiry and subject come from its claims.
public struct PodTokenSource: TokenSource {
    public init() {}

    public func token(for stored: StoredToken, cluster: ClusterCredentials) async throws(ServiceError) -> PublishedToken {
        let claims = cluster.token.claims
        return PublishedToken(token: cluster.token, source: .pod, subject: claims?.subject, expiresAt: claims?.expiresAt)
    }
}
