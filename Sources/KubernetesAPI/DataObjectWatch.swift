import KubeconfigBase
/// The objects a list with a `metadata.name` field selector found (none or one), and the
/// resourceVersion to watch from after it.
public struct DataObjectList: Sendable, Equatable {
    public var items: [DataObject]
    /// The list's `metadata.resourceVersion`: a watch from it misses no change after the list.
    public var resourceVersion: String

    public init(items: [DataObject], resourceVersion: String) {
        self.items = items
        self.resourceVersion = resourceVersion
    }
}

/// One event of a watch, as `meta/v1 WatchEvent` carries it. An `ERROR` event is not a case:
/// the watch fails with its Status as a `ServiceError` (410 is `.apiExpired`).
public enum DataObjectWatchEvent: Sendable, Equatable {
    case added(DataObject)
    case modified(DataObject)
    /// The object's last state, with the deletion's resourceVersion.
    case deleted(DataObject)
    /// Nothing changed up to `resourceVersion`: where to resume from.
    case bookmark(resourceVersion: String)

    /// The resourceVersion after this event: where a new watch resumes.
    public var resourceVersion: String {
        switch self {
        case .added(let object), .modified(let object), .deleted(let object): object.metadata.resourceVersion
        case .bookmark(let version): version
        }
    }

    /// The `type` on the wire, for logs and metrics.
    public var type: String {
        switch self {
        case .added: "ADDED"
        case .modified: "MODIFIED"
        case .deleted: "DELETED"
        case .bookmark: "BOOKMARK"
        }
    }
}

/// List and watch of one ConfigMap or Secret by name, as client-go's reflector does with a
/// `metadata.name` field selector: RBAC then needs `list` and `watch` on that name only.
public protocol DataObjectWatchAPI: Sendable {
    /// The object named `name` (when it exists), and the list's resourceVersion.
    func listDataObjects(
        _ resource: DataObjectResource, namespace: String, name: String
    ) async throws(ServiceError)
        -> DataObjectList

    /// Watches the object named `name` from `resourceVersion`, handing each event to `receive`
    /// in order, until the server ends the stream (after about `timeoutSeconds`; this returns)
    /// or it fails (this throws: `.apiExpired` when `resourceVersion` is too old to resume from,
    /// the API's Status for an `ERROR` event or a refused watch, a transport error when the
    /// connection drops or stays silent past the timeout).
    func watchDataObjects(
        _ resource: DataObjectResource, namespace: String, name: String, resourceVersion: String, timeoutSeconds: Int,
        receive: @escaping @Sendable (DataObjectWatchEvent) async -> Void
    ) async throws(ServiceError)
}

extension ServiceError.Code {
    /// 410 Gone: the resourceVersion to watch from is older than the server keeps (list again).
    public static let apiExpired = ServiceError.Code(rawValue: "APIServerResourceExpired")
}
