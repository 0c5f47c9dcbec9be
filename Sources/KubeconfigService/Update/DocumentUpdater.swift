import CoreMetrics
import KubernetesAPI
import Logging

/// The one read → edit → conditional-write loop every change of the shared document goes through.
///
/// A round reads the document, refuses it when it is not a kubeconfig (nothing is written then),
/// applies the edit, and writes only when that changed something, conditional on the version it
/// read. A conflict starts the next round from a fresh read, so a concurrent writer's entries
/// are kept; after `conflictAttempts` rounds it gives up. Other failures end the loop at once:
/// retrying calls is the store's business.
public struct DocumentUpdater: Sendable {
    public let store: any DocumentStore
    /// Rounds before a writer that keeps conflicting makes the update fail.
    public let conflictAttempts: Int
    private let logger: Logger
    private let conflicts: Counter

    public init(store: any DocumentStore, conflictAttempts: Int = 10, logger: Logger) {
        self.store = store
        self.conflictAttempts = max(1, conflictAttempts)
        self.logger = logger
        self.conflicts = Counter(label: "kubeconfig_publication_conflicts_total")
    }

    /// Runs `edit` until it is stored, or found to change nothing.
    public func update(_ edit: DocumentEdit) async throws(ServiceError) -> DocumentUpdate {
        var lastConflict: ServiceError?
        for _ in 0..<conflictAttempts {
            let stored = try await store.read()
            let before = DocumentContent(
                kubeconfig: try KubeconfigDocument(parsing: stored.text ?? "", origin: store.origin),
                annotations: stored.annotations)
            var after = before
            try await edit.apply(&after)
            if after == before, stored.text != nil {
                return DocumentUpdate(
                    document: PublishedDocument(document: before.kubeconfig, resourceVersion: stored.version),
                    changed: false)
            }
            var rendered = PublishedDocument(document: after.kubeconfig, resourceVersion: stored.version)
            do throws(ServiceError) {
                rendered.resourceVersion = try await store.write(
                    String(decoding: rendered.yaml, as: UTF8.self), annotations: after.annotationChanges(since: before),
                    ifVersion: stored.version)
                return DocumentUpdate(document: rendered, changed: true)
            } catch  where error.code == .apiConflict {
                logger.debug(
                    "the document changed under us; editing again from a fresh read",
                    metadata: ["edit": "\(edit.summary)", "origin": "\(store.origin)"])
                conflicts.increment()
                lastConflict = error
            }
        }
        throw ServiceError(
            code: .conflict,
            message: "\(store.origin) kept changing during \(conflictAttempts) read-edit-write rounds: "
                + "\(lastConflict?.message ?? "conflict")")
    }
}

/// What an update stored, or found already stored.
public struct DocumentUpdate: Sendable {
    /// The document as it now is in the store, rendered for serving, with its version.
    public var document: PublishedDocument
    /// Whether this update wrote it.
    public var changed: Bool
}
