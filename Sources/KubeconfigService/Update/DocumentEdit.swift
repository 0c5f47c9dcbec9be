import KubeconfigBase

/// One change of the shared document, run by `DocumentUpdater`: publishing our site,
/// registering or removing a remote site, renewing a token, repairing drift.
///
/// The edit is applied to a freshly read document on every round of the update loop, so it must
/// depend only on the content it is given (and what it captured), never on a previous round's
/// document. It may call out (a TokenRequest) before it decides.
public struct DocumentEdit: Sendable {
    /// What the edit does, for logs: `publish site central`.
    public var summary: String
    public var apply: @Sendable (inout DocumentContent) async throws(ServiceError) -> Void

    public init(
        _ summary: String, content apply: @escaping @Sendable (inout DocumentContent) async throws(ServiceError) -> Void
    ) {
        self.summary = summary
        self.apply = apply
    }

    /// An edit of the kubeconfig alone.
    public init(_ summary: String, apply: @escaping @Sendable (inout KubeconfigDocument) throws(ServiceError) -> Void) {
        self.init(summary) { (content: inout DocumentContent) throws(ServiceError) in try apply(&content.kubeconfig) }
    }
}

/// What an edit reads and changes: the kubeconfig, and the annotations of the object holding it.
public struct DocumentContent: Sendable, Equatable {
    public var kubeconfig: KubeconfigDocument
    /// Every annotation of the object; only those an edit changes are written.
    public var annotations: [String: String]

    public init(kubeconfig: KubeconfigDocument, annotations: [String: String] = [:]) {
        self.kubeconfig = kubeconfig
        self.annotations = annotations
    }

    /// The annotation changes from `before` to this: new values, and nil for removed keys.
    func annotationChanges(since before: DocumentContent) -> [String: String?] {
        var changes: [String: String?] = [:]
        for (key, value) in annotations where before.annotations[key] != value { changes[key] = .some(value) }
        for key in before.annotations.keys where annotations[key] == nil { changes[key] = .some(nil) }
        return changes
    }
}
