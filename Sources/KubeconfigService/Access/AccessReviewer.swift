import CoreMetrics
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// Decides whether an HTTP caller may read or trigger the document, the way kube-rbac-proxy
/// does: TokenReview for who the caller is, SubjectAccessReview for what they may do.
///
/// Decisions are cached briefly, keyed by the SHA-256 of the caller's token (never the token),
/// so that probes of a busy client do not reach the API server on every request.
public final class AccessReviewer: Sendable {
    /// What a caller wants to do, as a Kubernetes verb on the document's object.
    public enum Verb: String, Sendable {
        case get, patch
    }

    public enum Decision: Sendable, Equatable {
        case allowed(username: String)
        case denied(username: String, reason: String)
        case unauthenticated(reason: String)
    }

    /// How long decisions are reused.
    public struct CacheLifetimes: Sendable {
        public var allowed: Duration = .seconds(60)
        public var refused: Duration = .seconds(10)
        public var maxEntries = 4096
        public init() {}
    }

    private struct Entry {
        var decision: Decision
        var expires: ContinuousClock.Instant
    }

    private let namespace: String
    private let resource: DataObjectResource
    private let name: String
    private let api: any AccessReviewAPI
    private let lifetimes: CacheLifetimes
    /// Audiences a caller's token must be issued for (one of them); empty: the API server's.
    private let audiences: [String]
    private let logger: Logger
    private let cache = Mutex<[CacheKey: Entry]>([:])
    /// Decisions by verb and outcome, made once.
    private let decisionCounters: [String: Counter]

    public init(
        namespace: String, resource: DataObjectResource = .configMaps, name: String, api: any AccessReviewAPI,
        audiences: [String] = [], lifetimes: CacheLifetimes = CacheLifetimes(), logger: Logger
    ) {
        self.audiences = audiences
        self.namespace = namespace
        self.resource = resource
        self.name = name
        self.api = api
        self.lifetimes = lifetimes
        self.logger = logger
        var counters: [String: Counter] = [:]
        for verb in [Verb.get, .patch] {
            for decision in ["allowed", "denied", "unauthenticated"] {
                counters[verb.rawValue + "/" + decision] = Counter(
                    label: "kubeconfig_authorization_decisions_total",
                    dimensions: [("verb", verb.rawValue), ("decision", decision)])
            }
        }
        self.decisionCounters = counters
    }

    /// A decision is cached under the token's SHA-256, never the token.
    private struct CacheKey: Hashable {
        var digest: SHA256.Digest
        var verb: Verb
    }

    private static func cacheKey(_ token: BearerToken, _ verb: Verb) -> CacheKey {
        CacheKey(digest: token.digest, verb: verb)
    }

    /// The cached decision, if a fresh one exists: answers without suspending.
    public func cachedDecision(for token: BearerToken, verb: Verb) -> Decision? {
        let key = Self.cacheKey(token, verb)
        let now = ContinuousClock.now
        return cache.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return entry.decision
        }
    }

    /// Reviews the token with the API server (or the cache).
    ///
    /// - Throws: `ServiceError` when the API server cannot answer; such outcomes are not cached.
    public func review(_ token: BearerToken, verb: Verb) async throws(ServiceError) -> Decision {
        if let cached = cachedDecision(for: token, verb: verb) { return cached }
        let decision = try await ask(token, verb: verb)
        decisionCounters[verb.rawValue + "/" + decision.label]?.increment()
        remember(decision, for: token, verb: verb)
        return decision
    }

    private func ask(_ token: BearerToken, verb: Verb) async throws(ServiceError) -> Decision {
        guard let user = try await api.reviewToken(token, audiences: audiences) else {
            return .unauthenticated(
                reason: audiences.isEmpty
                    ? "the bearer token is not valid"
                    : "the bearer token is not valid for this service's audience (\(audiences.joined(separator: ", ")))")
        }
        let allowed = try await api.reviewAccess(
            user: user,
            ResourceAttributes(verb: verb.rawValue, resource: resource.rawValue, namespace: namespace, name: name))
        guard allowed else {
            let reason =
                "User \"\(user.username)\" cannot \(verb.rawValue) \(resource.singular) \"\(name)\" in namespace \"\(namespace)\""
            return .denied(username: user.username, reason: reason)
        }
        return .allowed(username: user.username)
    }

    private func remember(_ decision: Decision, for token: BearerToken, verb: Verb) {
        let lifetime: Duration
        if case .allowed = decision { lifetime = lifetimes.allowed } else { lifetime = lifetimes.refused }
        let now = ContinuousClock.now
        let key = Self.cacheKey(token, verb)
        let maxEntries = lifetimes.maxEntries
        cache.withLock { entries in
            if entries.count >= maxEntries {
                // Many distinct tokens: drop what expired, and everything if that was not enough.
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= maxEntries { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = Entry(decision: decision, expires: now + lifetime)
        }
    }
}

extension AccessReviewer.Decision {
    var label: String {
        switch self {
        case .allowed: return "allowed"
        case .denied: return "denied"
        case .unauthenticated: return "unauthenticated"
        }
    }
}
