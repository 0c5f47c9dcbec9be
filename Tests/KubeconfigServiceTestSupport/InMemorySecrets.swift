import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import Synchronization

/// One namespace's Secrets in memory, as the sinks call them (`SecretSinkAPI`): resourceVersions
/// and uids, conditional replace and delete, AlreadyExists; failures scripted per call kind.
/// Its watch sends nothing and ends when cancelled: tests drive passes themselves.
public final class InMemorySecrets: SecretSinkAPI {
    public enum Call: String, Sendable { case get, list, create, replace, delete }

    private struct State {
        var objects: [String: SecretObject] = [:]
        var version = 100
        var uid = 0
        var failures: [Call: [ServiceError]] = [:]
        var calls: [(Call, String)] = []
    }

    private let state = Mutex(State())

    public init() {}

    /// Every call, oldest first: its kind and the object's name (the selector for a list).
    public var calls: [(Call, String)] { state.withLock { $0.calls } }
    /// Writes (create, replace, delete) so far.
    public var writes: Int { state.withLock { $0.calls.filter { [.create, .replace, .delete].contains($0.0) }.count } }

    public func object(_ name: String) -> SecretObject? { state.withLock { $0.objects[name] } }
    public var names: [String] { state.withLock { $0.objects.keys.sorted() } }

    /// Someone else writes `object` (a new version, and a uid when it is new).
    @discardableResult
    public func put(_ object: SecretObject) -> SecretObject {
        state.withLock { Self.store(object, in: &$0) }
    }

    public func remove(_ name: String) { state.withLock { _ = $0.objects.removeValue(forKey: name) } }

    /// The next calls of `kind` fail with `errors`, one each.
    public func fail(_ kind: Call, _ errors: ServiceError...) { state.withLock { $0.failures[kind, default: []] += errors } }

    private static func store(_ object: SecretObject, in state: inout State) -> SecretObject {
        var stored = object
        state.version += 1
        stored.metadata.resourceVersion = String(state.version)
        if let existing = state.objects[object.metadata.name] {
            stored.metadata.uid = existing.metadata.uid
        } else {
            state.uid += 1
            stored.metadata.uid = "uid-\(state.uid)"
        }
        state.objects[object.metadata.name] = stored
        return stored
    }

    private func begin(_ call: Call, _ name: String) throws(ServiceError) {
        let failure = state.withLock { state -> ServiceError? in
            state.calls.append((call, name))
            guard var queued = state.failures[call], !queued.isEmpty else { return nil }
            let first = queued.removeFirst()
            state.failures[call] = queued
            return first
        }
        if let failure { throw failure }
    }

    private static func notFound(_ name: String) -> ServiceError {
        ServiceError(code: .apiNotFound, message: "secrets \"\(name)\" not found")
    }

    public func secret(namespace: String, name: String) async throws(ServiceError) -> SecretObject {
        try begin(.get, name)
        guard let found = state.withLock({ $0.objects[name] }) else { throw Self.notFound(name) }
        return found
    }

    public func listSecrets(namespace: String, labelSelector: String) async throws(ServiceError) -> SecretList {
        try begin(.list, labelSelector)
        let selector = try LabelSelector(parsing: labelSelector)
        return state.withLock { state in
            SecretList(
                items: state.objects.values.filter { selector.matches($0.metadata.labels ?? [:]) },
                resourceVersion: String(state.version))
        }
    }

    public func watchSecrets(
        namespace: String, labelSelector: String, resourceVersion: String, timeoutSeconds: Int,
        receive: @escaping @Sendable (ObjectWatchEvent<SecretObject>) async -> Void
    ) async throws(ServiceError) {
        try? await Task.sleep(for: .seconds(3600))
    }

    public func createSecret(_ secret: SecretObject, namespace: String) async throws(ServiceError) -> SecretObject {
        try begin(.create, secret.metadata.name)
        return try state.withLock { state throws(ServiceError) in
            guard state.objects[secret.metadata.name] == nil else {
                throw ServiceError(code: .apiConflict, message: "secrets \"\(secret.metadata.name)\" already exists")
            }
            var new = secret
            new.metadata.resourceVersion = nil
            return Self.store(new, in: &state)
        }
    }

    public func replaceSecret(_ secret: SecretObject, namespace: String) async throws(ServiceError) -> SecretObject {
        try begin(.replace, secret.metadata.name)
        return try state.withLock { state throws(ServiceError) in
            guard let existing = state.objects[secret.metadata.name] else { throw Self.notFound(secret.metadata.name) }
            guard existing.metadata.resourceVersion == secret.metadata.resourceVersion else {
                throw ServiceError(code: .apiConflict, message: "the object has been modified")
            }
            return Self.store(secret, in: &state)
        }
    }

    public func deleteSecret(
        namespace: String, name: String, uid: String, resourceVersion: String
    ) async throws(ServiceError) {
        try begin(.delete, name)
        try state.withLock { state throws(ServiceError) in
            guard let existing = state.objects[name] else { throw Self.notFound(name) }
            guard existing.metadata.uid == uid, existing.metadata.resourceVersion == resourceVersion else {
                throw ServiceError(code: .apiConflict, message: "Precondition failed")
            }
            state.objects[name] = nil
        }
    }
}
