/// The ConfigMap calls the service makes, in the cluster it runs in.
///
/// A protocol so that the core is tested against in-memory fakes; `InClusterConnection` is the
/// real one.
public protocol ConfigMapAPI: Sendable {
    /// `GET` one ConfigMap.
    func configMap(namespace: String, name: String) async throws(ServiceError) -> ConfigMap

    /// Sets one data key with a JSON merge patch that is conditional on `resourceVersion`: a
    /// stale version is answered with an `.apiConflict` error instead of losing a write.
    func patchConfigMapData(
        namespace: String, name: String, key: String, value: String, resourceVersion: String
    ) async throws(ServiceError) -> ConfigMap
}

/// TokenReview and SubjectAccessReview, as a delegating authoriser uses them.
public protocol AccessReviewAPI: Sendable {
    /// Who `token` belongs to; nil when the API server does not accept it.
    func reviewToken(_ token: BearerToken) async throws(ServiceError) -> AuthenticatedUser?

    /// Whether `user` may do `attributes.verb` on the one object `attributes` names.
    func reviewAccess(user: AuthenticatedUser, _ attributes: ResourceAttributes) async throws(ServiceError) -> Bool
}

/// What a SubjectAccessReview asks about: one verb on one named object.
public struct ResourceAttributes: Sendable, Hashable {
    public var verb: String
    public var group: String
    public var resource: String
    public var namespace: String
    public var name: String

    public init(verb: String, group: String = "", resource: String, namespace: String, name: String) {
        self.verb = verb
        self.group = group
        self.resource = resource
        self.namespace = namespace
        self.name = name
    }
}
