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

@Suite struct BearerTokenTests {
    @Test func printingATokenShowsOnlyItsFingerprint() {
        let token = BearerToken("eyJhbGciOiJSUzI1NiJ9.secret-part")
        for text in ["\(token)", String(describing: token), String(reflecting: token), "\([token])"] {
            #expect(!text.contains("secret-part"))
        }
        #expect(token.fingerprint.count == 12)
        // sha256("abc"), from FIPS 180-2.
        #expect(BearerToken("abc").digest.hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(BearerToken("abc").fingerprint == "ba7816bf8f01")
    }

    @Test func errorsBuiltFromAPIStatusNeverCarryTheToken() {
        let token = BearerToken("super-secret")
        let error = ServiceError(code: .apiForbidden, message: "forbidden for \(token)")
        #expect(!error.description.contains("super-secret"))
    }
}
