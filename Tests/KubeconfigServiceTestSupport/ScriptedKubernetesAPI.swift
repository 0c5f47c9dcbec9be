import Foundation
import KubeconfigBase
import KubernetesAPI
import Synchronization

/// The Kubernetes API answering from tables a test fills in, recording calls: ConfigMaps and
/// Secrets, TokenReview and SubjectAccessReview, TokenRequest.
public final class ScriptedKubernetesAPI: DataObjectAPI, AccessReviewAPI, TokenRequestAPI {
    private struct State {
        var objects: [String: DataObject] = [:]
        var users: [String: AuthenticatedUser] = [:]
        /// Audiences a token was issued for; absent: the API server's own.
        var audiences: [String: [String]] = [:]
        var allowed: Set<String> = []
        var failures: [ServiceError] = []
        var calls: [String] = []
        var issued = 0
        /// What TokenRequest grants, in seconds (the API server's cap); nil: what is asked.
        var grantedLifetime: Int?
        /// What every TokenRequest fails with, while set.
        var tokenRequestFailure: ServiceError?
    }

    private let state = Mutex(State())
    private let now: @Sendable () -> Date

    /// - Parameter now: the API server's clock, which issued tokens' expiry follows.
    public init(now: @escaping @Sendable () -> Date = { Date() }) {
        self.now = now
    }

    /// Stores a ConfigMap (or Secret, whose `data` is then base64) at resourceVersion `version`.
    public func put(
        _ resource: DataObjectResource = .configMaps, namespace: String, name: String, data: [String: String]?,
        annotations: [String: String]? = nil, version: String = "1"
    ) {
        let object = DataObject(
            metadata: .init(name: name, namespace: namespace, resourceVersion: version, annotations: annotations),
            data: data)
        state.withLock { $0.objects[Self.key(resource, namespace, name)] = object }
    }

    /// The object stored now.
    public func object(_ resource: DataObjectResource = .configMaps, namespace: String, name: String) -> DataObject? {
        state.withLock { $0.objects[Self.key(resource, namespace, name)] }
    }

    /// Every TokenRequest fails with `error` from now on (nil: they succeed again).
    public func refuseTokenRequests(_ error: ServiceError?) { state.withLock { $0.tokenRequestFailure = error } }

    /// TokenRequests grant at most `seconds` from now on.
    public func capTokenLifetime(_ seconds: Int) { state.withLock { $0.grantedLifetime = seconds } }

    private static func key(_ resource: DataObjectResource, _ namespace: String, _ name: String) -> String {
        resource == .configMaps ? "\(namespace)/\(name)" : "\(resource.rawValue):\(namespace)/\(name)"
    }

    /// `token` belongs to `username`, who may do `verbs` (`get`, `patch`) on the document's object,
    /// or what names an object of the service's own (`create sites/token/edge-1`); it was issued
    /// for `audiences` (nil: the API server's own).
    public func identify(_ token: String, as username: String, allowed verbs: [String], audiences: [String]? = nil) {
        state.withLock { state in
            state.users[token] = AuthenticatedUser(username: username, uid: nil, groups: ["system:authenticated"])
            state.audiences[token] = audiences
            for verb in verbs { state.allowed.insert("\(username) \(verb)") }
        }
    }

    /// `username` may no longer do `verb` (a RoleBinding removed).
    public func disallow(_ username: String, _ verb: String) {
        state.withLock { _ = $0.allowed.remove("\(username) \(verb)") }
    }

    /// The API server's own audience, which tokens without audiences of their own have.
    public static let apiAudience = "https://kubernetes.default.svc.cluster.local"

    /// The next calls fail with these errors, in order.
    public func fail(_ errors: ServiceError...) { state.withLock { $0.failures += errors } }

    /// The calls made, as `GET onap/x`, `PATCH onap/x@7`, `GET secrets:onap/x`, `TokenReview`,
    /// `SubjectAccessReview get ...`, `TokenRequest onap/name`.
    public var calls: [String] { state.withLock { $0.calls } }

    private func record(_ call: String) throws(ServiceError) {
        let failure: ServiceError? = state.withLock { state in
            state.calls.append(call)
            return state.failures.isEmpty ? nil : state.failures.removeFirst()
        }
        if let failure { throw failure }
    }

    public func dataObject(
        _ resource: DataObjectResource, namespace: String, name: String
    ) async throws(ServiceError) -> DataObject {
        try record("GET \(Self.key(resource, namespace, name))")
        guard let object = state.withLock({ $0.objects[Self.key(resource, namespace, name)] }) else {
            throw ServiceError(code: .apiNotFound, message: "\(resource.rawValue) \"\(name)\" not found")
        }
        return object
    }

    public func patchDataObject(
        _ resource: DataObjectResource, namespace: String, name: String, _ patch: DataObjectPatch
    ) async throws(ServiceError) -> DataObject {
        let key = Self.key(resource, namespace, name)
        try record("PATCH \(key)@\(patch.resourceVersion)")
        let result: Result<DataObject, ServiceError> = state.withLock { state in
            guard var object = state.objects[key] else {
                return .failure(ServiceError(code: .apiNotFound, message: "\(resource.rawValue) \"\(name)\" not found"))
            }
            guard object.metadata.resourceVersion == patch.resourceVersion else {
                return .failure(
                    ServiceError(
                        code: .apiConflict,
                        message: "Operation cannot be fulfilled on \(resource.rawValue) \"\(name)\": the object has been modified"
                    ))
            }
            var data = object.data ?? [:]
            for (key, value) in patch.data { data[key] = value }
            object.data = data
            var annotations = object.metadata.annotations ?? [:]
            for (annotation, value) in patch.annotations { annotations[annotation] = value }
            object.metadata.annotations = annotations.isEmpty ? nil : annotations
            object.metadata.resourceVersion = String((Int(patch.resourceVersion) ?? 0) + 1)
            state.objects[key] = object
            return .success(object)
        }
        return try result.get()
    }

    /// Issues `token-N` (N counting from 1) for the account, expiring after what was asked or the cap.
    public func requestToken(
        namespace: String, serviceAccount: String, expirationSeconds: Int, audiences: [String]
    ) async throws(ServiceError) -> IssuedToken {
        try record("TokenRequest \(namespace)/\(serviceAccount)")
        if let failure = state.withLock({ $0.tokenRequestFailure }) { throw failure }
        let (number, lifetime) = state.withLock { state in
            state.issued += 1
            return (state.issued, min(expirationSeconds, state.grantedLifetime ?? expirationSeconds))
        }
        let token = "token-\(number)"
        state.withLock { state in
            state.users[token] = AuthenticatedUser(username: "system:serviceaccount:\(namespace):\(serviceAccount)")
        }
        return IssuedToken(token: BearerToken(token), expiresAt: now().addingTimeInterval(TimeInterval(lifetime)))
    }

    /// `token` stops authenticating.
    public func revoke(_ token: String) { state.withLock { _ = $0.users.removeValue(forKey: token) } }

    public func reviewToken(_ token: BearerToken, audiences: [String]) async throws(ServiceError) -> AuthenticatedUser? {
        try record("TokenReview")
        return state.withLock { state in
            // A TokenReview for audiences authenticates only tokens issued for one of them.
            let issuedFor = state.audiences[token.value] ?? [Self.apiAudience]
            let wanted = audiences.isEmpty ? [Self.apiAudience] : audiences
            guard !Set(wanted).isDisjoint(with: issuedFor) else { return nil }
            return state.users[token.value]
        }
    }

    public func reviewAccess(user: AuthenticatedUser, _ attributes: ResourceAttributes) async throws(ServiceError) -> Bool {
        try record("SubjectAccessReview \(attributes.verb) \(attributes.resource)/\(attributes.name)")
        // The service's own resources are allowed by object (`create sites/token/edge-1`), the
        // document's object by verb alone.
        guard attributes.group.isEmpty else {
            let object = "\(attributes.resource)/\(attributes.subresource)/\(attributes.name)"
            return state.withLock { $0.allowed.contains("\(user.username) \(attributes.verb) \(object)") }
        }
        return state.withLock { $0.allowed.contains("\(user.username) \(attributes.verb)") }
    }
}
