/// How calls to the API server are retried: exponential backoff with jitter, within a budget.
public struct RetryPolicy: Sendable {
    /// Total time a call may take, retries and waits included.
    public var budget: Duration
    /// Wait before the first retry; doubles each time.
    public var initialBackoff: Duration
    /// Longest single wait (a larger `Retry-After` from the server still wins, within the budget).
    /// Kept short: a caller who joins a publication waiting here waits this long at most once
    /// the API server is back.
    public var maxBackoff: Duration

    public init(
        budget: Duration = .seconds(30), initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(2)
    ) {
        self.budget = budget
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// One attempt, no retry: for the request path of callers who are waiting.
    public static let none = RetryPolicy(budget: .zero)

    /// The wait before retry number `attempt` (1 for the first retry).
    ///
    /// "Equal jitter": half the exponential step is fixed, half is random (`jitter` in 0...1),
    /// so retries from several replicas spread out but never collapse to zero.
    public func backoff(attempt: Int, retryAfterSeconds: Int? = nil, jitter: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let step = min(initialBackoff * (1 << exponent), maxBackoff)
        let waited = step / 2 + (step / 2) * min(max(jitter, 0), 1)
        if let retryAfterSeconds, retryAfterSeconds > 0 {
            return max(waited, .seconds(retryAfterSeconds))
        }
        return waited
    }
}
