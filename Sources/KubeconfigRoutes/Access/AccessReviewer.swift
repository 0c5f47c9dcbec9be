import CoreMetrics
import KubeconfigBase
import KubeconfigService
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

    /// What a caller asks to be allowed.
    public enum Permission: Sendable, Hashable {
        /// `get` (read) or `patch` (change) the document's object.
        case document(Verb)
        /// `create` on `sites/token` of one site (API group `kubeconfig-service.onap.org`, in the
        /// service's namespace): what RBAC grants per site, apart from the document.
        case siteToken(site: String)

        /// The verb, for messages and metrics.
        var verb: String {
            switch self {
            case .document(let verb): verb.rawValue
            case .siteToken: "create"
            }
        }
    }

    /// The API group of the service's own resources (`sites/token`), as RBAC rules name it.
    public static let apiGroup = "kubeconfig-service.onap.org"

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
        for verb in ["get", "patch", "create"] {
            for decision in ["allowed", "denied", "unauthenticated"] {
                counters[verb + "/" + decision] = Counter(
                    label: "kubeconfig_authorization_decisions_total",
                    dimensions: [("verb", verb), ("decision", decision)])
            }
        }
        self.decisionCounters = counters
    }

    /// A decision is cached under the token's SHA-256, never the token.
    private struct CacheKey: Hashable {
        var digest: SHA256.Digest
        var permission: Permission
    }

    private static func cacheKey(_ token: BearerToken, _ permission: Permission) -> CacheKey {
        CacheKey(digest: token.digest, permission: permission)
    }

    /// The cached decision, if a fresh one exists: answers without suspending.
    public func cachedDecision(for token: BearerToken, verb: Verb) -> Decision? {
        cachedDecision(for: token, .document(verb))
    }

    /// The cached decision on `permission`, if a fresh one exists.
    public func cachedDecision(for token: BearerToken, _ permission: Permission) -> Decision? {
        let key = Self.cacheKey(token, permission)
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
        try await review(token, .document(verb))
    }

    /// Reviews the token's `permission` with the API server (or the cache).
    public func review(_ token: BearerToken, _ permission: Permission) async throws(ServiceError) -> Decision {
        if let cached = cachedDecision(for: token, permission) { return cached }
        let decision = try await ask(token, permission)
        decisionCounters[permission.verb + "/" + decision.label]?.increment()
        remember(decision, for: token, permission)
        return decision
    }

    private func ask(_ token: BearerToken, _ permission: Permission) async throws(ServiceError) -> Decision {
        guard let user = try await api.reviewToken(token, audiences: audiences) else {
            return .unauthenticated(
                reason: audiences.isEmpty
                    ? "the bearer token is not valid"
                    : "the bearer token is not valid for this service's audience (\(audiences.joined(separator: ", ")))")
        }
        let attributes: ResourceAttributes
        let what: String
        switch permission {
        case .document(let verb):
            attributes = ResourceAttributes(verb: verb.rawValue, resource: resource.rawValue, namespace: namespace, name: name)
            what = "\(verb.rawValue) \(resource.singular) \"\(name)\""
        case .siteToken(let site):
            attributes = ResourceAttributes(
                verb: "create", group: Self.apiGroup, resource: "sites", subresource: "token", namespace: namespace,
                name: site)
            what = "create sites/token \"\(site.printable)\" (API group \(Self.apiGroup))"
        }
        guard try await api.reviewAccess(user: user, attributes) else {
            let reason = "User \"\(user.username)\" cannot \(what) in namespace \"\(namespace)\""
            return .denied(username: user.username, reason: reason)
        }
        return .allowed(username: user.username)
    }

    private func remember(_ decision: Decision, for token: BearerToken, _ permission: Permission) {
        let lifetime: Duration
        if case .allowed = decision { lifetime = lifetimes.allowed } else { lifetime = lifetimes.refused }
        let now = ContinuousClock.now
        let key = Self.cacheKey(token, permission)
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
