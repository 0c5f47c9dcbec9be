import KubeconfigBase

/// The ConfigMap and Secret calls the service makes, in the cluster it runs in.
///
/// A protocol so that the core is tested against in-memory fakes; `InClusterConnection` is the
/// real one.
public protocol DataObjectAPI: Sendable {
    /// `GET` one ConfigMap or Secret.
    func dataObject(_ resource: DataObjectResource, namespace: String, name: String) async throws(ServiceError) -> DataObject

    /// Applies `patch` as a JSON merge patch that is conditional on its `resourceVersion`: a stale
    /// version is answered with an `.apiConflict` error instead of losing a write.
    func patchDataObject(
        _ resource: DataObjectResource, namespace: String, name: String, _ patch: DataObjectPatch
    ) async throws(ServiceError) -> DataObject
}

/// TokenReview and SubjectAccessReview, as a delegating authoriser uses them.
public protocol AccessReviewAPI: Sendable {
    /// Who `token` belongs to, for one of `audiences` (empty: the API server's own); nil when
    /// the API server does not accept it.
    func reviewToken(_ token: BearerToken, audiences: [String]) async throws(ServiceError) -> AuthenticatedUser?

    /// Whether `user` may do `attributes.verb` on the one object `attributes` names.
    func reviewAccess(user: AuthenticatedUser, _ attributes: ResourceAttributes) async throws(ServiceError) -> Bool
}

extension AccessReviewAPI {
    /// Who `token` belongs to, for the API server's own audience.
    public func reviewToken(_ token: BearerToken) async throws(ServiceError) -> AuthenticatedUser? {
        try await reviewToken(token, audiences: [])
    }
}

/// The TokenRequest API: tokens issued for a named service account.
public protocol TokenRequestAPI: Sendable {
    /// `POST .../serviceaccounts/{name}/token` asking for `expirationSeconds` (at least 600) and
    /// `audiences` (empty: the API server's own).
    func requestToken(
        namespace: String, serviceAccount: String, expirationSeconds: Int, audiences: [String]
    ) async throws(ServiceError) -> IssuedToken
}

/// What a SubjectAccessReview asks about: one verb on one named object.
public struct ResourceAttributes: Sendable, Hashable {
    public var verb: String
    public var group: String
    public var resource: String
    /// `token` of `sites/token`; empty for the object itself.
    public var subresource: String
    public var namespace: String
    public var name: String

    public init(
        verb: String, group: String = "", resource: String, subresource: String = "", namespace: String, name: String
    ) {
        self.verb = verb
        self.group = group
        self.resource = resource
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
    }
}
