import KubeconfigBase
import Logging
import Synchronization

/// What the publish edit last put in the document.
struct IntendedEntries: Sendable {
    var entries: SiteEntries
    var annotationKey: String
    var annotation: String?

    /// Whether `content` holds these entries (and annotation) as a publication would leave them.
    func held(in content: DocumentContent) -> Bool {
        var merged = content.kubeconfig
        merged.merge(entries)
        return merged == content.kubeconfig && content.annotations[annotationKey] == annotation
    }
}

/// What a watched version of the document means for this site.
enum Observation: Sendable, Equatable {
    /// Already served: our own write's echo, or a version older than the one served.
    case known
    /// Served now; our entries are as we left them.
    case served
    /// Served now (when it could be parsed); our entries are missing or altered: publish again.
    case needsRepair
    /// Not a kubeconfig: the last good document is still served.
    case unreadable(ServiceError)
}

extension SitePublisher {
    /// A version of the document seen by the watch, written by anyone (ourselves included):
    /// serve it, rendered once, unless it is already served or older; say whether our entries
    /// need publishing again.
    func observe(_ stored: StoredDocument, origin: String) -> Observation {
        if let served = state.published, !Self.isNewer(stored.version, than: served.resourceVersion) {
            return .known
        }
        let content: DocumentContent
        do throws(ServiceError) {
            content = DocumentContent(
                kubeconfig: try KubeconfigDocument(parsing: stored.text ?? "", origin: origin),
                annotations: stored.annotations)
        } catch {
            return .unreadable(error)
        }
        var document = PublishedDocument(document: content.kubeconfig, resourceVersion: stored.version)
        document.annotations = stored.annotations
        state.stored(document)
        // One look at the state: a publication that committed since the check above stored a
        // newer version than this one (the list a watch began with, say), which is no drift.
        let snapshot = state.snapshot
        if let served = snapshot.published, Self.isNewer(served.resourceVersion, than: stored.version) {
            return .known
        }
        guard snapshot.lastSuccess != nil, let intended = intended.withLock({ $0 }) else {
            // Nothing published yet: the schedule is publishing, and will find this version.
            return .served
        }
        return intended.held(in: content) ? .served : .needsRepair
    }

    /// Whether `version` comes after `served`: both numbers (as etcd's are) and larger, or, when
    /// either is not a number, different.
    static func isNewer(_ version: String, than served: String) -> Bool {
        guard let new = UInt64(version), let old = UInt64(served) else { return version != served }
        return new > old
    }
}
