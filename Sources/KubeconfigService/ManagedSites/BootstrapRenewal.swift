import FoundationEssentials
import KubeconfigBase

/// One managed registration's bootstrap credential in this process, as a plain value: whether
/// the service renews it, when, and why not.
///
/// A bootstrap credential that is a service-account token (a JWT with `iat`, `exp` and its
/// account in the `kubernetes.io` claim) is `managed`: renewed at 75 to 80 % of its granted
/// lifetime (`share`, drawn once per process, so that replicas reach the point one after
/// another) by a TokenRequest for its own account, made with itself, for as long (at least
/// TokenRequest's 10 minutes: the API server caps it) and for the same audiences. Anything else
/// (a pasted opaque token, a JWT without an expiry) is `static`, and so is one whose account may
/// not create its own tokens (a 403), looked at again after `recheckInterval`.
///
/// The invariant: a managed credential is never silent. It is `scheduled` at its renewal point,
/// `renewing`, or `failing` (retried with backoff, the error shown) while it is valid; once it
/// has lapsed it is `expired`, and says how to recover (`BootstrapExpired`).
struct BootstrapRenewal: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        /// Renewed at its renewal point.
        case scheduled(at: Date)
        /// A TokenRequest (and the write of what it issued) is under way; the last failure stays
        /// shown meanwhile.
        case renewing(failures: Int, error: ServiceError?)
        /// The last renewal failed: tried again at `retryAt`, its error shown meanwhile.
        case failing(failures: Int, retryAt: Date, error: ServiceError)
        /// Not renewed here: why (nil: it is no service-account token, which is no fault), and
        /// when a refused right is looked at again (nil: never, nothing will change).
        case `static`(reason: ServiceError?, recheckAt: Date?)
        /// It lapsed unrenewed: nothing is asked with it any more; another replica's renewal
        /// (found in the Secret) or a new registration recovers the site.
        case expired
    }

    /// What a renewal asks for.
    struct Request: Sendable, Equatable {
        var namespace: String
        var serviceAccount: String
        var expirationSeconds: Int
        /// The audiences of the current token (empty: the API server's own).
        var audiences: [String]
    }

    /// How a renewal ended.
    enum Outcome: Sendable, Equatable {
        /// The Secret holds `token` now (ours, or a newer one another replica wrote); it expires
        /// at `expiresAt` when the answer said (the TokenRequest's `expirationTimestamp`).
        case renewed(BearerToken, expiresAt: Date?)
        /// The account may not create its own tokens (403): static from now on.
        case forbidden(ServiceError)
        /// Anything else: retried with backoff while the credential is valid.
        case failed(ServiceError)
    }

    /// The credential token requests are made with now.
    private(set) var token: BearerToken
    /// Its expiry: the earlier of its `exp` and what the TokenRequest that issued it answered.
    private(set) var expiresAt: Date?
    private(set) var phase: Phase
    /// The share of the lifetime after which a managed credential is renewed.
    let share: Double

    /// A 403 is looked at again this long after (the account may be given the right meanwhile).
    static let recheckInterval: TimeInterval = 3600
    /// TokenRequest refuses to issue tokens shorter than this (422).
    static let minimumExpirationSeconds = 600
    private static let backoff = Backoff(initial: .seconds(2), maximum: .seconds(60))

    init(token: BearerToken, now: Date, share: Double = .random(in: 0.75..<0.80)) {
        self.token = token
        self.share = share
        expiresAt = token.claims?.expiresAt
        phase = .expired
        phase = initialPhase(now: now)
    }

    // MARK: - What it says

    var management: SiteTokenStatus.Management {
        if case .static = phase { return .static }
        return .managed
    }

    /// The renewal point of a managed credential: `share` of its lifetime after it was issued.
    var renewsAt: Date? { management == .managed ? managedRenewalPoint : nil }

    /// When `due` next has something to do.
    var deadline: Date? {
        switch phase {
        case .scheduled(let at): at
        case .failing(_, let retryAt, _): retryAt
        case .static(_, let recheckAt): recheckAt
        case .renewing, .expired: nil
        }
    }

    /// Why it is not renewing on schedule: `BootstrapExpired` once it lapsed, else the last
    /// failure, or why a credential the site refused to renew is static.
    func error(site: String, at now: Date) -> ServiceError? {
        if let expiresAt, expiresAt <= now {
            return ServiceError(
                code: .bootstrapExpired,
                message: "the bootstrap credential of site \(site) expired at \(expiresAt.formatted(.iso8601)) without "
                    + "being renewed; run kubeconfig-service site add \(site) again (or register the site again with a "
                    + "new bootstrap token)")
        }
        switch phase {
        case .renewing(_, let error): return error
        case .failing(_, _, let error): return error
        case .static(let reason, _): return reason
        case .scheduled, .expired: return nil
        }
    }

    /// What a renewal of `token` asks for; nil when it is no service-account token with a
    /// lifetime (it cannot renew itself).
    static func request(for token: BearerToken) -> Request? {
        guard let claims = token.claims, let issuedAt = claims.issuedAt, let expiresAt = claims.expiresAt,
            expiresAt > issuedAt
        else { return nil }
        var account = claims.serviceAccount
        if account == nil, let subject = claims.subject, subject.hasPrefix("system:serviceaccount:") {
            let parts = subject.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 4, !parts[2].isEmpty, !parts[3].isEmpty { account = (String(parts[2]), String(parts[3])) }
        }
        guard let account else { return nil }
        let lifetime = Int(expiresAt.timeIntervalSince(issuedAt).rounded())
        return Request(
            namespace: account.namespace, serviceAccount: account.name,
            expirationSeconds: max(lifetime, minimumExpirationSeconds), audiences: claims.audiences ?? [])
    }

    // MARK: - Transitions

    /// Starts the renewal due at `now`: what to ask for. A lapsed credential is not used any more.
    mutating func due(at now: Date) -> Request? {
        guard let deadline, deadline <= now else { return nil }
        if let expiresAt, expiresAt <= now {
            phase = .expired
            return nil
        }
        guard let request = Self.request(for: token) else {
            phase = initialPhase(now: now)
            return nil
        }
        switch phase {
        case .failing(let failures, _, let error): phase = .renewing(failures: failures, error: error)
        case .static(let reason, _): phase = .renewing(failures: 0, error: reason)
        default: phase = .renewing(failures: 0, error: nil)
        }
        return request
    }

    /// A renewal ended; ignored unless one is under way.
    mutating func ended(_ outcome: Outcome, at now: Date, jitter: Double = 1) {
        guard case .renewing(let failures, _) = phase else { return }
        switch outcome {
        case .renewed(let token, let answered):
            self.token = token
            expiresAt = [token.claims?.expiresAt, answered].compactMap { $0 }.min()
            phase = initialPhase(now: now)
            // A lifetime over before it starts (the site's clock far behind ours) would renew
            // again at once, and again: back off instead, and say why.
            if case .scheduled(let at) = phase, at <= now {
                let step = Self.backoff.step(afterFailures: failures + 1).seconds * jitter
                phase = .failing(
                    failures: failures + 1, retryAt: now.addingTimeInterval(step),
                    error: ServiceError(
                        code: .tokenRequestFailed,
                        message: "the site granted a bootstrap credential already due for renewal (expires "
                            + "\((expiresAt ?? now).formatted(.iso8601))): check the clocks of this node and the site"))
            }
        case .forbidden(let error):
            phase = .static(reason: error, recheckAt: now.addingTimeInterval(Self.recheckInterval))
        case .failed(let error):
            if let expiresAt, expiresAt <= now {
                phase = .expired
                return
            }
            let step = Self.backoff.step(afterFailures: failures + 1).seconds * jitter
            phase = .failing(failures: failures + 1, retryAt: now.addingTimeInterval(step), error: error)
        }
    }

    /// The site's probe reached it again: a renewal waiting for its backoff is tried now.
    mutating func recovered(at now: Date) {
        guard case .failing(let failures, let retryAt, let error) = phase, retryAt > now else { return }
        phase = .failing(failures: failures, retryAt: now, error: error)
    }

    /// `token` is what the credentials Secret holds for the registration: adopted when it is
    /// another one at least as new (an expiry as late: another replica renewed it, and the
    /// Secret's wins a tie). Returns whether it was.
    mutating func adopt(_ token: BearerToken, at now: Date) -> Bool {
        guard token != self.token else { return false }
        let theirs = token.claims?.expiresAt ?? .distantPast
        guard theirs >= (expiresAt ?? .distantPast) else { return false }
        self.token = token
        expiresAt = token.claims?.expiresAt
        // A renewal under way ends by writing its token or adopting the Secret's newest.
        if case .renewing = phase { return true }
        phase = initialPhase(now: now)
        return true
    }

    private func initialPhase(now: Date) -> Phase {
        guard Self.request(for: token) != nil, let renewsAt = managedRenewalPoint else {
            return .static(reason: nil, recheckAt: nil)
        }
        if let expiresAt, expiresAt <= now { return .expired }
        return .scheduled(at: renewsAt)
    }

    private var managedRenewalPoint: Date? {
        guard let issuedAt = token.claims?.issuedAt, let expiresAt, expiresAt > issuedAt else { return nil }
        return issuedAt.addingTimeInterval(expiresAt.timeIntervalSince(issuedAt) * share)
    }
}
