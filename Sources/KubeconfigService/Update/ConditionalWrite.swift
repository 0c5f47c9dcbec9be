import KubeconfigBase
import KubernetesAPI

/// The one loop behind every conditional write of an object (the shared document, the
/// credentials Secret): a round reads the object, decides, and writes conditional on the version
/// it read. A round that ends in a conflict (someone wrote in between) runs again from a fresh
/// read, up to `attempts` times, so a concurrent writer's change is kept, never overwritten.
/// Other errors end the loop at once: retrying calls is the API client's business.
struct ConditionalWrite: Sendable {
    /// What is written, for the error when it keeps changing: `configmap onap/kubeconfig`.
    var object: String
    /// Rounds before a writer that keeps conflicting makes the write fail.
    var attempts: Int

    init(_ object: String, attempts: Int) {
        self.object = object
        self.attempts = max(1, attempts)
    }

    /// Runs `round` until it ends without a conflict; `conflicted` hears of each conflict.
    func run<Output>(
        conflicted: (ServiceError) -> Void = { _ in }, _ round: () async throws(ServiceError) -> Output
    ) async throws(ServiceError) -> Output {
        var lastConflict: ServiceError?
        for _ in 0..<attempts {
            do throws(ServiceError) {
                return try await round()
            } catch  where error.code == .apiConflict {
                conflicted(error)
                lastConflict = error
            }
        }
        throw ServiceError(
            code: .conflict,
            message: "\(object) kept changing during \(attempts) read-edit-write rounds: "
                + "\(lastConflict?.message ?? "conflict")")
    }
}
