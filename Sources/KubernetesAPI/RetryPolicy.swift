import KubeconfigBase

/// How calls to the API server are retried: the project's `Backoff` with equal jitter, within a
/// budget, a server's `Retry-After` winning over a shorter step.
public struct RetryPolicy: Sendable {
    /// Total time a call may take, retries and waits included.
    public var budget: Duration
    /// The waits between attempts. The longest is kept short: a caller who joins a publication
    /// waiting here waits this long at most once the API server is back (a larger `Retry-After`
    /// from the server still wins, within the budget).
    public var backoff: Backoff

    public init(
        budget: Duration = .seconds(30), initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(2)
    ) {
        self.budget = budget
        self.backoff = Backoff(initial: initialBackoff, maximum: maxBackoff)
    }

    /// One attempt, no retry: for the request path of callers who are waiting.
    public static let none = RetryPolicy(budget: .zero)

    /// The wait before retry number `attempt` (1 for the first retry), `jitter` in 0...1.
    public func backoff(attempt: Int, retryAfterSeconds: Int? = nil, jitter: Double) -> Duration {
        let waited = backoff.wait(afterFailures: attempt, jitter: jitter)
        if let retryAfterSeconds, retryAfterSeconds > 0 {
            return max(waited, .seconds(retryAfterSeconds))
        }
        return waited
    }
}
