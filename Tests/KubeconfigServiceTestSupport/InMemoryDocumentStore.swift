import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import Synchronization

/// A `DocumentStore` in memory whose answers a test scripts: the next reads or writes can fail
/// (404, 5xx, ...), conflict, or let another writer in between a read and a write.
///
/// Versions count up from 1 with every write, as resourceVersions do (opaque to the loop).
public final class InMemoryDocumentStore: WatchableDocumentStore {
    /// What the store does at one call, in place of its normal behaviour.
    public enum Step: Sendable {
        /// The call fails with this error.
        case fail(ServiceError)
        /// Before this write is checked, another writer stores `text` (the write then conflicts).
        case concurrentWrite(String)
    }

    /// Every call the loop made, in order.
    public enum Call: Sendable, Equatable {
        case read
        case write(text: String, ifVersion: String, annotations: [String: String?] = [:])
    }

    private struct State {
        var object: StoredDocument?
        var reads: [Step] = []
        var writes: [Step] = []
        var calls: [Call] = []
        var nextVersion = 1
        /// Every change, for watches to replay from a version; versions up to `expiredThrough`
        /// are too old to watch from (410).
        var history: [DocumentEvent] = []
        var expiredThrough = 0
        var watchers: [Int: AsyncStream<DocumentEvent>.Continuation] = [:]
        var nextWatcher = 0
        /// What the next watches do instead of watching: fail with these errors, in order.
        var watchFailures: [ServiceError] = []
        var lists = 0
        var watches: [String] = []
        var capacity: Int?
        var endAtOnce = false
    }

    public let origin: String
    private let state: Mutex<State>

    /// A store holding `text` (nil: the object has no such key), or no object at all.
    public init(text: String?, objectExists: Bool = true, origin: String = "key \"kubeconfig\" of configmap onap/test") {
        self.origin = origin
        self.state = Mutex(State(object: objectExists ? StoredDocument(text: text, version: "1") : nil, nextVersion: 2))
    }

    /// The next reads take these steps, in order, before reading normally again.
    public func scriptReads(_ steps: Step...) { state.withLock { $0.reads += steps } }

    /// The next writes take these steps, in order, before writing normally again.
    public func scriptWrites(_ steps: Step...) { state.withLock { $0.writes += steps } }

    /// What is stored now.
    public var stored: StoredDocument? { state.withLock { $0.object } }

    public var calls: [Call] { state.withLock { $0.calls } }

    public var writes: [Call] { calls.filter { if case .write = $0 { return true } else { return false } } }

    public func read() async throws(ServiceError) -> StoredDocument {
        let result: Result<StoredDocument, ServiceError> = state.withLock { state in
            state.calls.append(.read)
            if !state.reads.isEmpty, case .fail(let error) = state.reads.removeFirst() { return .failure(error) }
            guard var object = state.object else { return .failure(Self.missing) }
            object.capacity = state.capacity
            return .success(object)
        }
        return try result.get()
    }

    public func write(
        _ text: String, annotations: [String: String?], ifVersion version: String
    ) async throws(ServiceError) -> String {
        let result: Result<String, ServiceError> = state.withLock { state in
            state.calls.append(.write(text: text, ifVersion: version, annotations: annotations))
            if !state.writes.isEmpty {
                switch state.writes.removeFirst() {
                case .fail(let error): return .failure(error)
                case .concurrentWrite(let other):
                    Self.store(other, annotations: [:], in: &state)
                }
            }
            guard let object = state.object else { return .failure(Self.missing) }
            guard object.version == version else {
                return .failure(
                    ServiceError(
                        code: .apiConflict,
                        message: "Operation cannot be fulfilled on configmaps \"test\": the object has been modified; "
                            + "please apply your changes to the latest version and try again"))
            }
            return .success(Self.store(text, annotations: annotations, in: &state))
        }
        return try result.get()
    }

    @discardableResult
    private static func store(_ text: String, annotations: [String: String?], in state: inout State) -> String {
        let version = String(state.nextVersion)
        state.nextVersion += 1
        var merged = state.object?.annotations ?? [:]
        for (key, value) in annotations { merged[key] = value }
        state.object = StoredDocument(text: text, annotations: merged, version: version)
        record(.stored(state.object!), in: &state)
        return version
    }

    private static func record(_ event: DocumentEvent, in state: inout State) {
        state.history.append(event)
        for watcher in state.watchers.values { watcher.yield(event) }
    }

    // MARK: - Another writer, and the watch's faults

    /// Another writer stores `text` (and annotations) unconditionally, as `kubectl edit` would;
    /// returns the new version.
    @discardableResult
    public func externalWrite(_ text: String, annotations: [String: String?] = [:]) -> String {
        state.withLock { Self.store(text, annotations: annotations, in: &$0) }
    }

    /// Deletes the object (watches see DELETED).
    public func deleteObject() {
        state.withLock { state in
            let version = String(state.nextVersion)
            state.nextVersion += 1
            state.object = nil
            Self.record(.deleted(version: version), in: &state)
        }
    }

    /// Reads report that the document may take at most `bytes` (as `ObjectDocumentStore` does for
    /// the API server's limit).
    public func limit(to bytes: Int) { state.withLock { $0.capacity = bytes } }

    /// Forgets the history before the current version: watching from an older one gets 410.
    public func expireHistory() {
        state.withLock { $0.expiredThrough = $0.nextVersion - 2 }
    }

    /// Ends every open watch cleanly, as a server-side timeout does.
    public func endWatches() {
        let watchers = state.withLock { state in
            defer { state.watchers = [:] }
            return state.watchers.values
        }
        for watcher in watchers { watcher.finish() }
    }

    /// Every watch ends as soon as it has replayed what it missed (a server or proxy that cuts
    /// streams at once).
    public func endWatchesAtOnce(_ on: Bool = true) { state.withLock { $0.endAtOnce = on } }

    /// The next watches fail with these errors, in order (a 403, say).
    public func scriptWatches(failing errors: ServiceError...) { state.withLock { $0.watchFailures += errors } }

    /// Lists made, and the versions watches started from.
    public var lists: Int { state.withLock { $0.lists } }
    public var watches: [String] { state.withLock { $0.watches } }
    public var openWatches: Int { state.withLock { $0.watchers.count } }

    private static let missing = ServiceError(code: .configMapNotFound, message: "configmap onap/test not found")

    // MARK: - WatchableDocumentStore

    public func list() async throws(ServiceError) -> DocumentListing {
        state.withLock { state in
            state.lists += 1
            return DocumentListing(document: state.object, version: String(state.nextVersion - 1))
        }
    }

    public func watch(
        from version: String, timeoutSeconds: Int, receive: @escaping @Sendable (DocumentEvent) async -> Void
    ) async throws(ServiceError) {
        let (stream, continuation) = AsyncStream<DocumentEvent>.makeStream()
        let start: Result<Int, ServiceError> = state.withLock { state in
            state.watches.append(version)
            if !state.watchFailures.isEmpty { return .failure(state.watchFailures.removeFirst()) }
            guard let from = Int(version), from > state.expiredThrough else {
                return .failure(ServiceError(code: .apiExpired, message: "too old resource version: \(version)"))
            }
            for event in state.history where Int(event.version)! > from { continuation.yield(event) }
            if state.endAtOnce { continuation.finish() }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = continuation
            return .success(id)
        }
        let id = try start.get()
        defer { _ = state.withLock { $0.watchers.removeValue(forKey: id) } }
        for await event in stream {
            await receive(event)
        }
    }
}
