import CoreMetrics
import FoundationEssentials
import KubeconfigBase
import KubernetesAPI
import Logging

/// Publishes a token issued by the TokenRequest API for a named account (the consumer's, not
/// ours), and renews it before it expires.
///
/// A publication reuses the stored token while `TokenRenewal` allows it and a TokenReview still
/// accepts it as the account: no TokenRequest per publication. A token this replica minted in a
/// round whose write then lost to an unrelated change is offered again in the next round; once
/// the document holds another fresh token (the winner of a race), it is adopted and what this
/// replica minted is discarded. So a lost race may mint one extra token, never write two. When a
/// renewal fails, the stored token stays while it is valid and the error is reported.
public actor IssuedTokenSource: TokenSource {
    public struct Configuration: Sendable {
        /// Namespace of the account (the document's).
        public var namespace: String
        /// The account tokens are issued for.
        public var serviceAccount: String
        /// The lifetime asked for; the API server may grant less.
        public var expirationSeconds: Int = 3600
        /// The audiences asked for; empty means the API server's own.
        public var audiences: [String] = []
        /// Renew when less than this share of the lifetime remains...
        public var renewWhenRemaining: Double = 0.2
        /// ...plus a share drawn once per process from `0..<renewalSpread`, so that replicas reach
        /// their renewal points one after another: the first renews, the others find its fresh
        /// token and mint nothing. Renewal then comes between 75 % and 80 % of the lifetime.
        public var renewalSpread: Double = 0.05
        /// The remote site whose tokens these are, asked for with its bootstrap credential; nil
        /// for this cluster's, asked for with this service's own account.
        public var site: String?
        /// Recorded with each token of a managed site: the registration it was issued under
        /// (`ManagedCredential.registration`); a token recorded under another is replaced.
        public var registration: String?

        public init(namespace: String, serviceAccount: String) {
            self.namespace = namespace
            self.serviceAccount = serviceAccount
        }

        /// `system:serviceaccount:ns:name`: who issued tokens authenticate as.
        public var subject: String { "system:serviceaccount:\(namespace):\(serviceAccount)" }
        var reference: String { "\(namespace)/\(serviceAccount)" }
    }

    public let configuration: Configuration
    private let tokens: any TokenRequestAPI
    /// Checks that a stored token still authenticates; nil skips the check.
    private let reviews: (any AccessReviewAPI)?
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let renewal: TokenRenewal
    private let metrics: Metrics
    /// The last token this replica minted and has not seen replaced; offered again until it is due.
    private var minted: (token: BearerToken, record: TokenRecord)?
    /// The failures last logged, so that a lasting one is logged once, not at every retry.
    private var reportedReviewFailure: ServiceError.Code?
    private var reportedRequestFailure: ServiceError.Code?

    public init(
        configuration: Configuration, tokens: any TokenRequestAPI, reviews: (any AccessReviewAPI)?,
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.configuration = configuration
        self.tokens = tokens
        self.reviews = reviews
        self.now = now
        self.logger = logger
        self.metrics = Metrics(site: configuration.site)
        let spread = configuration.renewalSpread > 0 ? Double.random(in: 0..<configuration.renewalSpread) : 0
        self.renewal = TokenRenewal(
            serviceAccount: configuration.reference, audiences: configuration.audiences,
            remaining: configuration.renewWhenRemaining + spread, registration: configuration.registration)
    }

    public func token(for stored: StoredToken, cluster: ClusterCredentials) async throws(ServiceError) -> PublishedToken {
        try await token(for: stored)
    }

    /// The token to publish, given what the document holds: the stored one, one this process
    /// minted, or a new one.
    ///
    /// With `mayRequest` false, no TokenRequest is made: what was minted is offered, or the
    /// stored token kept (inside a round of the update loop, where a request would hold every
    /// other edit of the document).
    public func token(for stored: StoredToken, mayRequest: Bool = true) async throws(ServiceError) -> PublishedToken {
        var decision = renewal.decide(stored, now: now())
        if case .reuse(let token, _) = decision, await authenticates(token) == false {
            decision = .renew(.unauthenticated)
            if minted?.token == token { minted = nil }
        }
        switch decision {
        case .reuse(let token, let record):
            // Another replica's fresh token (or ours) is in place: what we minted is not needed.
            if minted?.token != token { minted = nil }
            return published(token, record)
        case .renew(let reason):
            // What this process minted, while fresh; inside a round (no request allowed), while
            // still valid: a slow round must not lose the token a registration minted for it.
            let usableUntil = minted.map { mayRequest ? renewal.renewsAt($0.record) : $0.record.expiresAt }
            if let minted, let usableUntil, now() < usableUntil,
                minted.record.expiresAt >= stored.record.flatMap({ renewal.describes($0) ? $0.expiresAt : nil }) ?? .distantPast
            {
                return published(minted.token, minted.record)
            }
            do throws(ServiceError) {
                guard mayRequest else {
                    throw ServiceError(code: .tokenRequestFailed, message: "a renewal is due and none was minted")
                }
                return try await issue(because: reason)
            } catch {
                guard reason != .unauthenticated else {
                    // Nothing better to publish: the rejected token stays, and readiness says so.
                    guard let token = stored.token, let record = stored.record else { throw error }
                    var kept = published(token, record)
                    kept.renewalError = error
                    kept.rejected = true
                    return kept
                }
                guard renewal.isStillValid(stored, now: now()), let token = stored.token, let record = stored.record else {
                    throw error
                }
                var kept = published(token, record)
                kept.renewalError = error
                return kept
            }
        }
    }

    /// The renewal point of a token `record` describes.
    public nonisolated func renewsAt(_ record: TokenRecord) -> Date { renewal.renewsAt(record) }

    /// A token of the account for a caller (`SiteTokenIssuer`), with a lifetime and audiences of
    /// its own: not kept, published or counted here, and not waiting for a renewal under way.
    public nonisolated func mint(expirationSeconds: Int, audiences: [String]) async throws(ServiceError) -> IssuedToken {
        do throws(ServiceError) {
            return try await tokens.requestToken(
                namespace: configuration.namespace, serviceAccount: configuration.serviceAccount,
                expirationSeconds: expirationSeconds, audiences: audiences)
        } catch {
            throw explain(error)
        }
    }

    /// When `stored` is next due for renewal: its renewal point while it may be reused, else now.
    public nonisolated func dueAt(_ stored: StoredToken, now: Date) -> Date {
        guard case .reuse(_, let record) = renewal.decide(stored, now: now) else { return now }
        return renewal.renewsAt(record)
    }

    /// A token found not to authenticate (a probe said so): never offer it again.
    public func rejected(fingerprint: String) {
        if minted?.token.fingerprint == fingerprint { minted = nil }
    }

    /// Drops a site's series: it left the registry (every registration's source counts under them).
    public static func destroySeries(site: String) {
        let metrics = Metrics(site: site)
        metrics.issued.destroy()
        metrics.failed.destroy()
    }

    private func published(_ token: BearerToken, _ record: TokenRecord) -> PublishedToken {
        PublishedToken(
            token: token, source: .tokenRequest, record: record, subject: configuration.subject,
            expiresAt: record.expiresAt, renewsAt: renewal.renewsAt(record))
    }

    private func issue(because reason: TokenRenewal.Reason) async throws(ServiceError) -> PublishedToken {
        let requestedAt = now()
        let issued: IssuedToken
        do throws(ServiceError) {
            issued = try await tokens.requestToken(
                namespace: configuration.namespace, serviceAccount: configuration.serviceAccount,
                expirationSeconds: configuration.expirationSeconds, audiences: configuration.audiences)
        } catch {
            throw failed(explain(error), because: reason)
        }
        let record = self.record(of: issued, requestedAt: requestedAt)
        // A lifetime that is over before it starts (an API server whose clock is far behind
        // ours, or an expiry before issue) would have every pass renew again at once.
        guard renewal.renewsAt(record) > now() else {
            throw failed(
                ServiceError(
                    code: .tokenRequestFailed,
                    message: "TokenRequest for serviceaccount \(configuration.reference) granted a token that expires at "
                        + "\(record.expiresAt), already due for renewal: check the clocks of this node and the API server"),
                because: reason)
        }
        metrics.issued.increment()
        reportedRequestFailure = nil
        minted = (issued.token, record)
        let published = published(issued.token, record)
        logger.info(
            "issued a token",
            metadata: siteMetadata([
                "serviceaccount": "\(configuration.reference)", "reason": "\(reason.rawValue)",
                "token_fingerprint": "\(issued.token.fingerprint)", "expires_at": "\(record.expiresAt.formatted(.iso8601))",
                "renews_at": "\(renewal.renewsAt(record).formatted(.iso8601))",
            ]))
        return published
    }

    /// What the annotation records of a new token. The answer's `expirationTimestamp` counts, but
    /// the token's own claims (the API server's clock) are a cross-check: the earlier expiry wins.
    private func record(of issued: IssuedToken, requestedAt: Date) -> TokenRecord {
        let claims = issued.token.claims
        var expiresAt = issued.expiresAt
        if let claimed = claims?.expiresAt, abs(claimed.timeIntervalSince(expiresAt)) > 1 {
            logger.warning(
                "the issued token's exp claim disagrees with the TokenRequest's expirationTimestamp; using the earlier",
                metadata: ["expiration_timestamp": "\(expiresAt)", "exp_claim": "\(claimed)"])
            expiresAt = min(expiresAt, claimed)
        }
        return TokenRecord(
            serviceAccount: configuration.reference, audiences: configuration.audiences,
            issuedAt: min(claims?.issuedAt ?? requestedAt, expiresAt), expiresAt: expiresAt,
            fingerprint: issued.token.fingerprint, credential: configuration.registration)
    }

    /// Counts and logs a failed request (a lasting failure once), and returns it to throw.
    private func failed(_ error: ServiceError, because reason: TokenRenewal.Reason) -> ServiceError {
        metrics.failed.increment()
        let level: Logger.Level = reportedRequestFailure == error.code ? .debug : .warning
        reportedRequestFailure = error.code
        logger.log(
            level: level, "token request failed",
            metadata: siteMetadata([
                "serviceaccount": "\(configuration.reference)", "reason": "\(reason.rawValue)",
                "error_code": "\(error.code)", "error": "\(error.message)",
            ]))
        return error
    }

    private func siteMetadata(_ metadata: Logger.Metadata) -> Logger.Metadata {
        guard let site = configuration.site else { return metadata }
        return metadata.merging(["site": "\(site)"]) { $1 }
    }

    /// Whether the API server still accepts `token` as the account; nil when it cannot say.
    private func authenticates(_ token: BearerToken) async -> Bool? {
        guard let reviews else { return nil }
        do throws(ServiceError) {
            let user = try await reviews.reviewToken(token, audiences: configuration.audiences)
            reportedReviewFailure = nil
            return user?.username == configuration.subject
        } catch {
            if reportedReviewFailure != error.code {
                reportedReviewFailure = error.code
                logger.notice(
                    "cannot check whether the published token still authenticates; trusting its recorded expiry",
                    metadata: ["error_code": "\(error.code)", "error": "\(error.message)"])
            }
            return nil
        }
    }

    /// This cluster's requests count under `kubeconfig_token_requests_total`, a site's under
    /// `kubeconfig_site_token_requests_total{site}`.
    private struct Metrics: Sendable {
        let issued: Counter
        let failed: Counter

        init(site: String?) {
            if let site {
                issued = Counter(
                    label: "kubeconfig_site_token_requests_total", dimensions: [("site", site), ("result", "issued")])
                failed = Counter(
                    label: "kubeconfig_site_token_requests_total", dimensions: [("site", site), ("result", "failed")])
            } else {
                issued = Counter(label: "kubeconfig_token_requests_total", dimensions: [("result", "issued")])
                failed = Counter(label: "kubeconfig_token_requests_total", dimensions: [("result", "failed")])
            }
        }
    }
}
