/// How long to wait before trying again: a step that starts at `initial` and doubles with each
/// failure in a row, up to `maximum`. The project's one backoff: API calls, the publication
/// schedule, the watch, site renewals and probes all take their waits from it.
public struct Backoff: Sendable, Equatable {
    /// The step after the first failure.
    public var initial: Duration
    /// The longest step.
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// The step after `failures` failures in a row (1 for the first): `initial` doubled
    /// `failures - 1` times, at most `maximum`.
    public func step(afterFailures failures: Int) -> Duration {
        let doublings = min(max(failures - 1, 0), 30)
        return min(initial * (1 << doublings), maximum)
    }

    /// The step with "equal jitter": half of it fixed, half random (`jitter` in 0...1), so that
    /// replicas retrying the same failure spread out but never wait less than half a step.
    public func wait(afterFailures failures: Int, jitter: Double) -> Duration {
        let step = step(afterFailures: failures)
        return step / 2 + (step / 2) * min(max(jitter, 0), 1)
    }
}
