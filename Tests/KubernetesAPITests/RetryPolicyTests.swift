import Testing

@testable import KubernetesAPI

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(budget: .seconds(30), initialBackoff: .milliseconds(200), maxBackoff: .seconds(4))

    @Test func backoffDoublesAndIsCapped() {
        #expect(policy.backoff(attempt: 1, jitter: 1) == .milliseconds(200))
        #expect(policy.backoff(attempt: 2, jitter: 1) == .milliseconds(400))
        #expect(policy.backoff(attempt: 3, jitter: 1) == .milliseconds(800))
        #expect(policy.backoff(attempt: 10, jitter: 1) == .seconds(4))
        #expect(policy.backoff(attempt: 100, jitter: 1) == .seconds(4))
    }

    @Test func jitterKeepsAtLeastHalfTheStep() {
        #expect(policy.backoff(attempt: 3, jitter: 0) == .milliseconds(400))
        #expect(policy.backoff(attempt: 3, jitter: 0.5) == .milliseconds(600))
    }

    @Test func retryAfterFromTheServerWins() {
        #expect(policy.backoff(attempt: 1, retryAfterSeconds: 3, jitter: 0) == .seconds(3))
        #expect(policy.backoff(attempt: 10, retryAfterSeconds: 1, jitter: 1) == .seconds(4))
    }
}
