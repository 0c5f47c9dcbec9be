import KubeconfigService
import KubernetesAPI
import Synchronization

/// A `DocumentStore` in memory whose answers a test scripts: the next reads or writes can fail
/// (404, 5xx, ...), conflict, or let another writer in between a read and a write.
///
/// Versions count up from 1 with every write, as resourceVersions do (opaque to the loop).
public final class InMemoryDocumentStore: DocumentStore {
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
            guard let object = state.object else { return .failure(Self.missing) }
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
        return version
    }

    private static let missing = ServiceError(code: .configMapNotFound, message: "configmap onap/test not found")
}
