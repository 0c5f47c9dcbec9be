import KubernetesAPI

/// Where the shared kubeconfig document is kept: one value of one Kubernetes object.
///
/// The ConfigMap is the first implementation; a Secret is the next. Writes are conditional on
/// the version a read returned, so that no writer loses another's change.
public protocol DocumentStore: Sendable {
    /// How operators and error messages name the document: `key "kubeconfig" of configmap onap/x`.
    var origin: String { get }

    /// The document as stored now.
    ///
    /// - Throws: `ServiceError`; a missing object is an error (it belongs to the Helm release and
    ///   is never created here), not an empty document.
    func read() async throws(ServiceError) -> StoredDocument

    /// Stores `text` if the object is still at `version`; returns the new version.
    ///
    /// - Throws: `ServiceError` with code `.apiConflict` when someone wrote in between.
    func write(_ text: String, ifVersion version: String) async throws(ServiceError) -> String
}

/// The document text and the version of the object that holds it.
public struct StoredDocument: Sendable, Equatable {
    /// The text under the key; nil when the object has no such key.
    public var text: String?
    /// The object's `resourceVersion`: the condition of the next write.
    public var version: String

    public init(text: String?, version: String) {
        self.text = text
        self.version = version
    }
}
