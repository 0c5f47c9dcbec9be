import FoundationEssentials
import KubeconfigBase

/// A Secret as the sinks read and write it whole: metadata with labels and uid, its type and
/// `data` (base64 values, as the API sends them).
public struct SecretObject: Codable, Sendable, Equatable {
    public struct Metadata: Codable, Sendable, Equatable {
        public var name: String
        public var namespace: String?
        /// Set by the API server; a delete is conditional on it.
        public var uid: String?
        /// Set by the API server; a replacement carrying it is conditional on it.
        public var resourceVersion: String?
        public var labels: [String: String]?
        public var annotations: [String: String]?

        public init(
            name: String, namespace: String? = nil, uid: String? = nil, resourceVersion: String? = nil,
            labels: [String: String]? = nil, annotations: [String: String]? = nil
        ) {
            self.name = name
            self.namespace = namespace
            self.uid = uid
            self.resourceVersion = resourceVersion
            self.labels = labels
            self.annotations = annotations
        }
    }

    public var apiVersion: String? = "v1"
    public var kind: String? = "Secret"
    public var metadata: Metadata
    public var type: String?
    /// Values in base64.
    public var data: [String: String]?

    public init(metadata: Metadata, type: String? = "Opaque", data: [String: String]?) {
        self.metadata = metadata
        self.type = type
        self.data = data
    }
}

/// The Secrets a list with a label selector found, and the resourceVersion to watch from after it.
public struct SecretList: Sendable, Equatable {
    public var items: [SecretObject]
    public var resourceVersion: String

    public init(items: [SecretObject], resourceVersion: String) {
        self.items = items
        self.resourceVersion = resourceVersion
    }
}

/// One event of a watch of objects of type `Object`. An `ERROR` event is not a case: the watch
/// fails with its Status as a `ServiceError` (410 is `.apiExpired`).
public enum ObjectWatchEvent<Object: Sendable & Equatable>: Sendable, Equatable {
    case added(Object)
    case modified(Object)
    /// The object's last state.
    case deleted(Object)
    /// Nothing changed up to this resourceVersion: where to resume from.
    case bookmark(String)
}

/// The Secret calls the sinks make in one namespace: list and watch by label selector, get,
/// create, replace on the version read, delete on the uid and version read.
///
/// RBAC: `get`, `list`, `watch`, `create`, `update` and `delete` on `secrets` in that namespace
/// (`create` cannot be limited to names; a list by label selector cannot either).
public protocol SecretSinkAPI: Sendable {
    /// `GET` one Secret (`.apiNotFound` when missing).
    func secret(namespace: String, name: String) async throws(ServiceError) -> SecretObject

    /// The Secrets matching `labelSelector`, and the list's resourceVersion.
    func listSecrets(namespace: String, labelSelector: String) async throws(ServiceError) -> SecretList

    /// Watches the Secrets matching `labelSelector` from `resourceVersion` until the server ends
    /// the stream (this returns) or it fails (this throws, as `DataObjectWatchAPI` describes).
    func watchSecrets(
        namespace: String, labelSelector: String, resourceVersion: String, timeoutSeconds: Int,
        receive: @escaping @Sendable (ObjectWatchEvent<SecretObject>) async -> Void
    ) async throws(ServiceError)

    /// `POST`s `secret` (`.apiConflict` when one of that name exists).
    func createSecret(_ secret: SecretObject, namespace: String) async throws(ServiceError) -> SecretObject

    /// `PUT`s `secret`, conditional on its `metadata.resourceVersion` (`.apiConflict` when stale).
    func replaceSecret(_ secret: SecretObject, namespace: String) async throws(ServiceError) -> SecretObject

    /// `DELETE`s the Secret `name` only while it has `uid` and `resourceVersion` (`.apiConflict`
    /// otherwise; `.apiNotFound` when it is gone).
    func deleteSecret(namespace: String, name: String, uid: String, resourceVersion: String) async throws(ServiceError)
}
