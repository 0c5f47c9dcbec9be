import KubeconfigBase
import Testing

@Suite struct BackoffTests {
    let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(4))

    @Test func theStepDoublesFromTheInitialOneAndIsCapped() {
        #expect(backoff.step(afterFailures: 1) == .milliseconds(200))
        #expect(backoff.step(afterFailures: 2) == .milliseconds(400))
        #expect(backoff.step(afterFailures: 5) == .milliseconds(3200))
        #expect(backoff.step(afterFailures: 6) == .seconds(4))
        #expect(backoff.step(afterFailures: 1_000) == .seconds(4))
    }

    @Test func noFailureYetCountsAsTheFirst() {
        #expect(backoff.step(afterFailures: 0) == .milliseconds(200))
        #expect(backoff.step(afterFailures: -3) == .milliseconds(200))
    }

    @Test func equalJitterKeepsHalfTheStepAndNeverExceedsIt() {
        #expect(backoff.wait(afterFailures: 3, jitter: 0) == .milliseconds(400))
        #expect(backoff.wait(afterFailures: 3, jitter: 0.5) == .milliseconds(600))
        #expect(backoff.wait(afterFailures: 3, jitter: 1) == .milliseconds(800))
        #expect(backoff.wait(afterFailures: 3, jitter: 7) == .milliseconds(800))
        #expect(backoff.wait(afterFailures: 3, jitter: -1) == .milliseconds(400))
    }

    @Test func aMaximumBelowTheInitialStepIsRaisedToIt() {
        let backoff = Backoff(initial: .seconds(2), maximum: .seconds(1))
        #expect(backoff.step(afterFailures: 4) == .seconds(2))
    }
}
