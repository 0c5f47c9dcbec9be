import KubeconfigBase

/// The API server of the cluster the pod runs in, called with the pod's own service account.
///
/// Every call re-reads the token and CA (kubelet rotates them) and takes the pooled client for
/// that CA, so a rotation needs no restart.
public struct InClusterConnection: DataObjectAPI, DataObjectWatchAPI, AccessReviewAPI, TokenRequestAPI {
    public let discovery: InClusterDiscovery
    public let clients: KubernetesClientProvider
    /// Retries of object calls and token requests. Reviews are tried once: a caller is waiting.
    public var retry: RetryPolicy

    public init(discovery: InClusterDiscovery, clients: KubernetesClientProvider, retry: RetryPolicy = RetryPolicy()) {
        self.discovery = discovery
        self.clients = clients
        self.retry = retry
    }

    func connect() async throws(ServiceError) -> (client: KubernetesClient, token: BearerToken) {
        let credentials = try discovery.readCredentials()
        return (try await clients.client(for: credentials), credentials.token)
    }

    public func dataObject(
        _ resource: DataObjectResource, namespace: String, name: String
    ) async throws(ServiceError) -> DataObject {
        let (client, token) = try await connect()
        return try await client.dataObject(resource, namespace: namespace, name: name, token: token, retry: retry)
    }

    public func patchDataObject(
        _ resource: DataObjectResource, namespace: String, name: String, _ patch: DataObjectPatch
    ) async throws(ServiceError) -> DataObject {
        let (client, token) = try await connect()
        return try await client.patchDataObject(resource, namespace: namespace, name: name, patch, token: token, retry: retry)
    }

    public func listDataObjects(
        _ resource: DataObjectResource, namespace: String, name: String
    ) async throws(ServiceError) -> DataObjectList {
        let (client, token) = try await connect()
        return try await client.listDataObjects(resource, namespace: namespace, name: name, token: token, retry: retry)
    }

    /// Not retried: the watcher starts again itself, with backoff, from where it got to.
    public func watchDataObjects(
        _ resource: DataObjectResource, namespace: String, name: String, resourceVersion: String, timeoutSeconds: Int,
        receive: @escaping @Sendable (DataObjectWatchEvent) async -> Void
    ) async throws(ServiceError) {
        let (client, token) = try await connect()
        try await client.watchDataObjects(
            resource, namespace: namespace, name: name, resourceVersion: resourceVersion, timeoutSeconds: timeoutSeconds,
            token: token, receive: receive)
    }

    public func reviewToken(_ reviewed: BearerToken, audiences: [String]) async throws(ServiceError) -> AuthenticatedUser? {
        let (client, token) = try await connect()
        return try await client.reviewToken(reviewed, audiences: audiences, token: token)
    }

    public func reviewAccess(user: AuthenticatedUser, _ attributes: ResourceAttributes) async throws(ServiceError) -> Bool {
        let (client, token) = try await connect()
        return try await client.reviewAccess(user: user, attributes, token: token)
    }

    public func requestToken(
        namespace: String, serviceAccount: String, expirationSeconds: Int, audiences: [String]
    ) async throws(ServiceError) -> IssuedToken {
        let (client, token) = try await connect()
        return try await client.requestToken(
            namespace: namespace, serviceAccount: serviceAccount, expirationSeconds: expirationSeconds,
            audiences: audiences, token: token, retry: retry)
    }
}
