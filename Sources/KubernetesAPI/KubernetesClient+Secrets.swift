import FoundationEssentials
import KubeconfigBase
import NIOHTTP1

extension KubernetesClient {
    // MARK: - Secrets, whole (the sinks)

    static func secretsPath(namespace: String) -> String {
        "/api/v1/namespaces/\(pathSegment(namespace))/secrets"
    }

    static func secretsListPath(namespace: String, labelSelector: String) -> String {
        secretsPath(namespace: namespace) + "?labelSelector=" + queryValue(labelSelector)
    }

    static func secretsWatchPath(
        namespace: String, labelSelector: String, resourceVersion: String, timeoutSeconds: Int
    ) -> String {
        secretsListPath(namespace: namespace, labelSelector: labelSelector)
            + "&watch=true&allowWatchBookmarks=true&resourceVersion=" + queryValue(resourceVersion)
            + "&timeoutSeconds=\(timeoutSeconds)"
    }

    /// `GET` one Secret.
    public func secret(
        namespace: String, name: String, token: BearerToken, retry: RetryPolicy
    ) async throws(ServiceError)
        -> SecretObject
    {
        let body = try await send(.GET, Self.objectPath(.secrets, namespace: namespace, name: name), token: token, retry: retry)
        return try Self.decode(SecretObject.self, from: body, what: "secret \(namespace)/\(name)")
    }

    /// `GET` the Secrets of `namespace` that match `labelSelector`.
    public func listSecrets(
        namespace: String, labelSelector: String, token: BearerToken, retry: RetryPolicy
    ) async throws(ServiceError) -> SecretList {
        struct List: Decodable {
            struct Metadata: Decodable { var resourceVersion: String? }
            var metadata: Metadata
            var items: [SecretObject]?
        }
        let what = "list of secrets in \(namespace) labelled \(labelSelector)"
        let path = Self.secretsListPath(namespace: namespace, labelSelector: labelSelector)
        let list = try Self.decode(List.self, from: try await send(.GET, path, token: token, retry: retry), what: what)
        guard let version = list.metadata.resourceVersion, !version.isEmpty else {
            throw ServiceError(code: .apiProtocol, message: "the API server sent a \(what) without a resourceVersion")
        }
        return SecretList(items: list.items ?? [], resourceVersion: version)
    }

    /// Watches the Secrets of `namespace` that match `labelSelector` (see `SecretSinkAPI`).
    public func watchSecrets(
        namespace: String, labelSelector: String, resourceVersion: String, timeoutSeconds: Int, token: BearerToken,
        receive: @escaping @Sendable (ObjectWatchEvent<SecretObject>) async -> Void
    ) async throws(ServiceError) {
        let path = Self.secretsWatchPath(
            namespace: namespace, labelSelector: labelSelector, resourceVersion: resourceVersion,
            timeoutSeconds: timeoutSeconds)
        try await watch(
            path: path, timeoutSeconds: timeoutSeconds, token: token,
            decode: { bytes, redaction throws(ServiceError) in
                try Self.objectWatchEvent(SecretObject.self, from: bytes, redaction: redaction)
            },
            receive: receive)
    }

    /// `POST` a new Secret.
    public func createSecret(
        _ secret: SecretObject, namespace: String, token: BearerToken, retry: RetryPolicy
    ) async throws(ServiceError) -> SecretObject {
        let body = try await send(
            .POST, Self.secretsPath(namespace: namespace), token: token, body: Self.encode(secret), retry: retry)
        return try Self.decode(SecretObject.self, from: body, what: "secret \(namespace)/\(secret.metadata.name)")
    }

    /// `PUT` a Secret, conditional on the `metadata.resourceVersion` it carries.
    public func replaceSecret(
        _ secret: SecretObject, namespace: String, token: BearerToken, retry: RetryPolicy
    ) async throws(ServiceError) -> SecretObject {
        let name = secret.metadata.name
        let body = try await send(
            .PUT, Self.objectPath(.secrets, namespace: namespace, name: name), token: token, body: Self.encode(secret),
            retry: retry)
        return try Self.decode(SecretObject.self, from: body, what: "secret \(namespace)/\(name)")
    }

    /// `DELETE` a Secret with uid and resourceVersion preconditions.
    public func deleteSecret(
        namespace: String, name: String, uid: String, resourceVersion: String, token: BearerToken, retry: RetryPolicy
    ) async throws(ServiceError) {
        struct Options: Encodable {
            struct Preconditions: Encodable {
                var uid: String
                var resourceVersion: String
            }
            var apiVersion = "v1"
            var kind = "DeleteOptions"
            var preconditions: Preconditions
        }
        let options = Options(preconditions: .init(uid: uid, resourceVersion: resourceVersion))
        _ = try await send(
            .DELETE, Self.objectPath(.secrets, namespace: namespace, name: name), token: token,
            body: Array((try? JSONEncoder().encode(options)) ?? Data()), retry: retry)
    }

    static func encode(_ secret: SecretObject) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(secret)) ?? Data())
    }
}
