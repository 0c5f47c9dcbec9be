import KubernetesAPI
import Synchronization

/// `ConfigMapAPI` and `AccessReviewAPI` answering from tables a test fills in, recording calls.
public final class ScriptedKubernetesAPI: ConfigMapAPI, AccessReviewAPI {
    private struct State {
        var configMaps: [String: ConfigMap] = [:]
        var users: [String: AuthenticatedUser] = [:]
        var allowed: Set<String> = []
        var failures: [ServiceError] = []
        var calls: [String] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Stores a ConfigMap at resourceVersion `version`.
    public func put(namespace: String, name: String, data: [String: String]?, version: String = "1") {
        let configMap = ConfigMap(
            metadata: .init(name: name, namespace: namespace, resourceVersion: version), data: data)
        state.withLock { $0.configMaps["\(namespace)/\(name)"] = configMap }
    }

    /// `token` belongs to `username`, who may do `verbs` (`get`, `patch`) on what is reviewed.
    public func identify(_ token: String, as username: String, allowed verbs: [String]) {
        state.withLock { state in
            state.users[token] = AuthenticatedUser(username: username, uid: nil, groups: ["system:authenticated"])
            for verb in verbs { state.allowed.insert("\(username) \(verb)") }
        }
    }

    /// The next calls fail with these errors, in order.
    public func fail(_ errors: ServiceError...) { state.withLock { $0.failures += errors } }

    /// The calls made, as `GET onap/x`, `PATCH onap/x@7`, `TokenReview`, `SubjectAccessReview get`.
    public var calls: [String] { state.withLock { $0.calls } }

    private func record(_ call: String) throws(ServiceError) {
        let failure: ServiceError? = state.withLock { state in
            state.calls.append(call)
            return state.failures.isEmpty ? nil : state.failures.removeFirst()
        }
        if let failure { throw failure }
    }

    public func configMap(namespace: String, name: String) async throws(ServiceError) -> ConfigMap {
        try record("GET \(namespace)/\(name)")
        guard let configMap = state.withLock({ $0.configMaps["\(namespace)/\(name)"] }) else {
            throw ServiceError(code: .apiNotFound, message: "configmaps \"\(name)\" not found")
        }
        return configMap
    }

    public func patchConfigMapData(
        namespace: String, name: String, key: String, value: String, resourceVersion: String
    ) async throws(ServiceError) -> ConfigMap {
        try record("PATCH \(namespace)/\(name)@\(resourceVersion)")
        let result: Result<ConfigMap, ServiceError> = state.withLock { state in
            guard var configMap = state.configMaps["\(namespace)/\(name)"] else {
                return .failure(ServiceError(code: .apiNotFound, message: "configmaps \"\(name)\" not found"))
            }
            guard configMap.metadata.resourceVersion == resourceVersion else {
                return .failure(
                    ServiceError(
                        code: .apiConflict,
                        message: "Operation cannot be fulfilled on configmaps \"\(name)\": the object has been modified"))
            }
            configMap.data = (configMap.data ?? [:]).merging([key: value]) { $1 }
            configMap.metadata.resourceVersion = String((Int(resourceVersion) ?? 0) + 1)
            state.configMaps["\(namespace)/\(name)"] = configMap
            return .success(configMap)
        }
        return try result.get()
    }

    public func reviewToken(_ token: BearerToken) async throws(ServiceError) -> AuthenticatedUser? {
        try record("TokenReview")
        return state.withLock { $0.users[token.value] }
    }

    public func reviewAccess(user: AuthenticatedUser, _ attributes: ResourceAttributes) async throws(ServiceError) -> Bool {
        try record("SubjectAccessReview \(attributes.verb) \(attributes.resource)/\(attributes.name)")
        return state.withLock { $0.allowed.contains("\(user.username) \(attributes.verb)") }
    }
}
