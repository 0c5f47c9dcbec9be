import KubeconfigBase
import KubeconfigService
import Synchronization

/// A store that lets another writer run to completion just before its first write: a race
/// lost on purpose.
public final class InterleavingStore: DocumentStore {
    let base: any DocumentStore
    let before: Mutex<(@Sendable () async -> Void)?>

    public init(_ base: any DocumentStore, before: @escaping @Sendable () async -> Void) {
        self.base = base
        self.before = Mutex(before)
    }

    public var origin: String { base.origin }

    public func read() async throws(ServiceError) -> StoredDocument { try await base.read() }

    public func write(
        _ text: String, annotations: [String: String?], ifVersion version: String
    ) async throws(ServiceError) -> String {
        let other = before.withLock { value in
            let taken = value
            value = nil
            return taken
        }
        await other?()
        return try await base.write(text, annotations: annotations, ifVersion: version)
    }
}
