import Testing

@testable import KubeconfigService

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

@Suite struct StatusMappingTests {
    func status(_ code: Int, reason: String, message: String, retryAfter: Int? = nil) -> [UInt8] {
        let details = retryAfter.map { ",\"details\":{\"retryAfterSeconds\":\($0)}" } ?? ""
        return Array(
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"\(message)\",\"reason\":\"\(reason)\",\"code\":\(code)\(details)}"
                .utf8)
    }

    @Test func forbiddenSaysSoWithTheAPIMessage() {
        let error = KubernetesClient.statusError(
            code: 403,
            body: status(403, reason: "Forbidden", message: "configmaps \\\"x\\\" is forbidden: User \\\"u\\\" cannot patch"),
            retryAfterHeader: nil)
        #expect(error.code == .apiForbidden)
        #expect(error.message == "forbidden: configmaps \"x\" is forbidden: User \"u\" cannot patch")
        #expect(!error.isRetryable)
        #expect(error.httpStatus == 502)
    }

    @Test func unauthorizedSaysSo() {
        let error = KubernetesClient.statusError(
            code: 401, body: status(401, reason: "Unauthorized", message: "Unauthorized"), retryAfterHeader: nil)
        #expect(error.code == .apiUnauthorized)
        #expect(error.message.hasPrefix("unauthorized: "))
    }

    @Test func tooManyRequestsIsRetryableWithItsDelay() {
        let fromDetails = KubernetesClient.statusError(
            code: 429, body: status(429, reason: "TooManyRequests", message: "slow down", retryAfter: 2), retryAfterHeader: nil)
        #expect(fromDetails.isRetryable)
        #expect(fromDetails.retryAfterSeconds == 2)
        let fromHeader = KubernetesClient.statusError(code: 429, body: [], retryAfterHeader: "5")
        #expect(fromHeader.retryAfterSeconds == 5)
        #expect(fromHeader.httpStatus == 503)
    }

    @Test(arguments: [
        (500, true, 502), (502, true, 502), (503, true, 503), (504, true, 504), (400, false, 502), (422, false, 502),
    ])
    func serverStatusesAreClassified(code: Int, retryable: Bool, httpStatus: Int) {
        let error = KubernetesClient.statusError(code: code, body: Array("not json".utf8), retryAfterHeader: nil)
        #expect(error.isRetryable == retryable)
        #expect(error.httpStatus == httpStatus)
        #expect(error.message.contains("\(code)"))
    }

    @Test func refusalToOverwriteIsAConflict() {
        #expect(ServiceError(code: .documentNotKubeconfig, message: "").httpStatus == 409)
        #expect(ServiceError(code: .configMapNotFound, message: "").httpStatus == 502)
        #expect(ServiceError(code: .payloadTooLarge, message: "").httpStatus == 413)
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
