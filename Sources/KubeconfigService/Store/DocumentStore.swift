import KubeconfigBase
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
    /// Bytes the document may take without the object going over its size limit (what the
    /// object's other keys leave of it); nil when the store sets no limit.
    public var capacity: Int?

    public init(text: String?, annotations: [String: String] = [:], version: String, capacity: Int? = nil) {
        self.text = text
        self.annotations = annotations
        self.version = version
        self.capacity = capacity
    }
}

/// A store whose object can be watched, as client-go's reflector does: list once, then follow
/// every change from the list's version.
public protocol WatchableDocumentStore: DocumentStore {
    /// The document now (nil when the object does not exist) and the version to watch from.
    func list() async throws(ServiceError) -> DocumentListing

    /// Hands every change after `version` to `receive`, in order, until the server ends the
    /// stream (returns) or it fails (throws; `.apiExpired`: list again).
    func watch(
        from version: String, timeoutSeconds: Int, receive: @escaping @Sendable (DocumentEvent) async -> Void
    ) async throws(ServiceError)
}

/// What a list found: the document, when its object exists, and where a watch starts.
public struct DocumentListing: Sendable, Equatable {
    public var document: StoredDocument?
    public var version: String
    /// Set when the object exists but its value could not be read (`document` is nil then).
    public var unreadable: ServiceError?

    public init(document: StoredDocument?, version: String, unreadable: ServiceError? = nil) {
        self.document = document
        self.version = version
        self.unreadable = unreadable
    }
}

/// One change of the watched object.
public enum DocumentEvent: Sendable, Equatable {
    /// The object was created or changed: the document as it now is.
    case stored(StoredDocument)
    /// The object's value could not be read (a Secret's value that is not base64 of UTF-8 text).
    case unreadable(version: String, ServiceError)
    /// The object was deleted.
    case deleted(version: String)
    /// Nothing changed up to `version`.
    case bookmark(version: String)

    /// Where a watch resumes after this event.
    public var version: String {
        switch self {
        case .stored(let document): document.version
        case .unreadable(let version, _), .deleted(let version), .bookmark(let version): version
        }
    }
}
