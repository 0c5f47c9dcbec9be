import KubernetesAPI

/// Where the shared kubeconfig document is kept: one value of one Kubernetes object.
///
/// Writes are conditional on the version a read returned, so that no writer loses another's
/// change. Beside the document, the object's annotations hold what every replica must agree on
/// (the issued token's expiry), written in the same conditional write.
public protocol DocumentStore: Sendable {
    /// How operators and error messages name the document: `key "kubeconfig" of configmap onap/x`.
    var origin: String { get }

    /// The document as stored now.
    ///
    /// - Throws: `ServiceError`; a missing object is an error (it belongs to the Helm release and
    ///   is never created here), not an empty document.
    func read() async throws(ServiceError) -> StoredDocument

    /// Stores `text`, and sets (or, nil, removes) `annotations`, if the object is still at
    /// `version`; returns the new version.
    ///
    /// - Throws: `ServiceError` with code `.apiConflict` when someone wrote in between.
    func write(
        _ text: String, annotations: [String: String?], ifVersion version: String
    ) async throws(ServiceError)
        -> String
}

/// The document text, the object's annotations, and the version of the object that holds them.
public struct StoredDocument: Sendable, Equatable {
    /// The text under the key; nil when the object has no such key.
    public var text: String?
    /// The object's annotations (all of them: an edit reads and sets only its own).
    public var annotations: [String: String]
    /// The object's `resourceVersion`: the condition of the next write.
    public var version: String

    public init(text: String?, annotations: [String: String] = [:], version: String) {
        self.text = text
        self.annotations = annotations
        self.version = version
    }
}
