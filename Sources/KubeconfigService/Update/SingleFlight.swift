import KubeconfigBase

/// Runs one piece of work per key at a time; callers that arrive while it runs share its result
/// instead of starting another (Go's `singleflight.Group`).
///
/// Concurrent `POST /sites/central` calls share one publication this way.
public actor SingleFlight<Key: Hashable & Sendable, Value: Sendable> {
    private var inFlight: [Key: Task<Result<Value, ServiceError>, Never>] = [:]

    public init() {}

    /// Runs `work` for `key`, or waits for the run already under way for it.
    ///
    /// `commit` makes the run's outcome visible (records it where others read it). It runs once
    /// per run, on this actor, in the same step that ends the run: a caller who could have seen
    /// the outcome arrives after the run has ended and starts a new one, never joins a run that
    /// is already over.
    public func run(
        _ key: Key, _ work: @escaping @Sendable () async throws(ServiceError) -> Value,
        commit: @escaping @Sendable (Result<Value, ServiceError>) -> Void = { _ in }
    ) async throws(ServiceError) -> Value {
        let task: Task<Result<Value, ServiceError>, Never>
        if let running = inFlight[key] {
            task = running
        } else {
            task = Task {
                let result: Result<Value, ServiceError>
                do throws(ServiceError) {
                    result = .success(try await work())
                } catch {
                    result = .failure(error)
                }
                self.end(key, result, commit)
                return result
            }
            inFlight[key] = task
        }
        return try await task.value.get()
    }

    private func end(_ key: Key, _ result: Result<Value, ServiceError>, _ commit: (Result<Value, ServiceError>) -> Void) {
        inFlight[key] = nil
        commit(result)
    }
}
