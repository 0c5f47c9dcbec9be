import KubeconfigBase

extension InClusterConnection: SecretSinkAPI {
    public func secret(namespace: String, name: String) async throws(ServiceError) -> SecretObject {
        let (client, token) = try await connect()
        return try await client.secret(namespace: namespace, name: name, token: token, retry: retry)
    }

    public func listSecrets(namespace: String, labelSelector: String) async throws(ServiceError) -> SecretList {
        let (client, token) = try await connect()
        return try await client.listSecrets(namespace: namespace, labelSelector: labelSelector, token: token, retry: retry)
    }

    /// Not retried: the sink starts again itself, with backoff, from where it got to.
    public func watchSecrets(
        namespace: String, labelSelector: String, resourceVersion: String, timeoutSeconds: Int,
        receive: @escaping @Sendable (ObjectWatchEvent<SecretObject>) async -> Void
    ) async throws(ServiceError) {
        let (client, token) = try await connect()
        try await client.watchSecrets(
            namespace: namespace, labelSelector: labelSelector, resourceVersion: resourceVersion,
            timeoutSeconds: timeoutSeconds, token: token, receive: receive)
    }

    public func createSecret(_ secret: SecretObject, namespace: String) async throws(ServiceError) -> SecretObject {
        let (client, token) = try await connect()
        return try await client.createSecret(secret, namespace: namespace, token: token, retry: retry)
    }

    public func replaceSecret(_ secret: SecretObject, namespace: String) async throws(ServiceError) -> SecretObject {
        let (client, token) = try await connect()
        return try await client.replaceSecret(secret, namespace: namespace, token: token, retry: retry)
    }

    public func deleteSecret(
        namespace: String, name: String, uid: String, resourceVersion: String
    ) async throws(ServiceError) {
        let (client, token) = try await connect()
        try await client.deleteSecret(
            namespace: namespace, name: name, uid: uid, resourceVersion: resourceVersion, token: token, retry: retry)
    }
}
