/// The API server of the cluster the pod runs in, called with the pod's own service account.
///
/// Every call re-reads the token and CA (kubelet rotates them) and takes the pooled client for
/// that CA, so a rotation needs no restart.
public struct InClusterConnection: ConfigMapAPI, AccessReviewAPI {
    public let discovery: InClusterDiscovery
    public let clients: KubernetesClientProvider
    /// Retries of ConfigMap calls. Reviews are tried once: a caller is waiting for them.
    public var retry: RetryPolicy

    public init(discovery: InClusterDiscovery, clients: KubernetesClientProvider, retry: RetryPolicy = RetryPolicy()) {
        self.discovery = discovery
        self.clients = clients
        self.retry = retry
    }

    private func connect() async throws(ServiceError) -> (client: KubernetesClient, token: BearerToken) {
        let credentials = try discovery.readCredentials()
        return (try await clients.client(for: credentials), credentials.token)
    }

    public func configMap(namespace: String, name: String) async throws(ServiceError) -> ConfigMap {
        let (client, token) = try await connect()
        return try await client.configMap(namespace: namespace, name: name, token: token, retry: retry)
    }

    public func patchConfigMapData(
        namespace: String, name: String, key: String, value: String, resourceVersion: String
    ) async throws(ServiceError) -> ConfigMap {
        let (client, token) = try await connect()
        return try await client.patchConfigMapData(
            namespace: namespace, name: name, key: key, value: value, resourceVersion: resourceVersion, token: token,
            retry: retry)
    }

    public func reviewToken(_ reviewed: BearerToken) async throws(ServiceError) -> AuthenticatedUser? {
        let (client, token) = try await connect()
        return try await client.reviewToken(reviewed, token: token)
    }

    public func reviewAccess(user: AuthenticatedUser, _ attributes: ResourceAttributes) async throws(ServiceError) -> Bool {
        let (client, token) = try await connect()
        return try await client.reviewAccess(user: user, attributes, token: token)
    }
}
