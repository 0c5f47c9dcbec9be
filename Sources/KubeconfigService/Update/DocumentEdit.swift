import KubeconfigBase

/// One change of the shared document, run by `DocumentUpdater`: publishing our site,
/// registering or removing a remote site, renewing a token, repairing drift. It returns what it
/// decided (`Output`: the token it chose, the site as it wrote it), which the update hands back
/// from the round that stored the document.
///
/// The edit is applied to a freshly read document on every round of the update loop, so it must
/// depend only on the content it is given (and what it captured), never on a previous round's
/// document.
///
/// **Network calls inside a round.** A round holds every edit queued behind it, so an edit calls
/// out only to the home cluster's API server, which the round waits on anyway to write: the
/// publish edit may mint the central token there when the document shows it due. A remote site
/// is never called inside a round: a managed site's token is minted before its edit is queued,
/// and the edit only offers what was minted while it is valid (`mayRequest: false`), so a site
/// that hangs delays no one else's write.
public struct DocumentEdit<Output: Sendable>: Sendable {
    /// What the edit does, for logs: `publish site central`.
    public var summary: String
    public var apply: @Sendable (inout DocumentContent) async throws(ServiceError) -> Output

    public init(
        _ summary: String, content apply: @escaping @Sendable (inout DocumentContent) async throws(ServiceError) -> Output
    ) {
        self.summary = summary
        self.apply = apply
    }

    /// An edit of the kubeconfig alone.
    public init(_ summary: String, apply: @escaping @Sendable (inout KubeconfigDocument) throws(ServiceError) -> Output) {
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
