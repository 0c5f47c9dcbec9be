import KubernetesAPI

/// One change of the shared document, run by `DocumentUpdater`: publishing our site,
/// registering or removing a remote site, renewing a token, repairing drift.
///
/// The edit is applied to a freshly read document on every round of the update loop, so it must
/// depend only on the document it is given (and what it captured), never on a previous round.
public struct DocumentEdit: Sendable {
    /// What the edit does, for logs: `publish site central`.
    public var summary: String
    public var apply: @Sendable (inout KubeconfigDocument) throws(ServiceError) -> Void

    public init(_ summary: String, apply: @escaping @Sendable (inout KubeconfigDocument) throws(ServiceError) -> Void) {
        self.summary = summary
        self.apply = apply
    }

    /// Puts one site's cluster, user and context in the document.
    public static func publish(_ site: SiteEntries) -> DocumentEdit {
        DocumentEdit("publish site \(site.location)") { document in document.merge(site) }
    }
}
