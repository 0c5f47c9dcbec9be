import FoundationEssentials
import KubeconfigBase

/// When an issued token must be replaced: the decision as a plain value, with no I/O.
public struct TokenRenewal: Sendable {
    /// Why a new token is needed.
    public enum Reason: String, Sendable, Equatable {
        case missing = "our user entry has no token"
        case unrecorded = "no record of the stored token's expiry"
        case altered = "the stored token is not the one recorded"
        case reconfigured = "the stored token was issued for another account or audience"
        case reregistered = "the stored token was issued under another registration of the site"
        case due = "less than the renewal share of the token's lifetime remains"
        case unauthenticated = "the stored token no longer authenticates as the account"
    }

    public enum Decision: Sendable, Equatable {
        case reuse(BearerToken, TokenRecord)
        case renew(Reason)
    }

    /// `namespace/name` of the account tokens are issued for.
    public var serviceAccount: String
    /// The audiences asked for, in any order.
    public var audiences: Set<String>
    /// Renew when less than this share of the lifetime remains (0.2: at 80 %).
    public var remaining: Double
    /// A managed site's registration (`ManagedCredential.registration`): a token recorded under
    /// another one is never reused nor kept, whatever its account and lifetime.
    public var registration: String?

    public init(serviceAccount: String, audiences: [String], remaining: Double = 0.2, registration: String? = nil) {
        self.serviceAccount = serviceAccount
        self.audiences = Set(audiences)
        self.remaining = remaining
        self.registration = registration
    }

    /// When less than `remaining` of the record's lifetime is left: the renewal point.
    public func renewsAt(_ record: TokenRecord) -> Date {
        record.expiresAt.addingTimeInterval(-record.expiresAt.timeIntervalSince(record.issuedAt) * remaining)
    }

    /// Reuse the stored token while it is ours, recorded, for this account and not yet due.
    public func decide(_ stored: StoredToken, now: Date) -> Decision {
        guard let token = stored.token else { return .renew(.missing) }
        guard let record = stored.record else { return .renew(.unrecorded) }
        guard record.fingerprint == token.fingerprint else { return .renew(.altered) }
        guard describesThisAccount(record) else { return .renew(.reconfigured) }
        guard isOfThisRegistration(record) else { return .renew(.reregistered) }
        guard now < renewsAt(record) else { return .renew(.due) }
        return .reuse(token, record)
    }

    /// Whether `stored` may stay in place when a renewal failed: the recorded token of this
    /// account and audiences, not yet expired. (A token a TokenReview rejected never may.)
    public func isStillValid(_ stored: StoredToken, now: Date) -> Bool {
        guard let token = stored.token, let record = stored.record else { return false }
        return record.fingerprint == token.fingerprint && describesThisAccount(record) && isOfThisRegistration(record)
            && now < record.expiresAt
    }

    /// Whether `record` describes a token of this account, audiences and registration.
    public func describes(_ record: TokenRecord) -> Bool {
        describesThisAccount(record) && isOfThisRegistration(record)
    }

    private func isOfThisRegistration(_ record: TokenRecord) -> Bool {
        registration == nil || record.credential == registration
    }

    private func describesThisAccount(_ record: TokenRecord) -> Bool {
        record.serviceAccount == serviceAccount && Set(record.audiences) == audiences
    }
}
