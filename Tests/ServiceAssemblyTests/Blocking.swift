import Dispatch

/// Runs `work`, which blocks its thread (a flush, a child process), on a Dispatch thread rather
/// than on one of the few threads Swift concurrency shares between every suite's tasks: blocked
/// there, it would hold up other tests' timers and wake-ups.
func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
