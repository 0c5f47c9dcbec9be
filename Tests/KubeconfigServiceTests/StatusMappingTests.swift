import KubeconfigBase
import KubernetesAPI
import Testing

@testable import KubeconfigService
@testable import KubernetesAPI

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
            retryAfterHeader: nil, redaction: .none)
        #expect(error.code == .apiForbidden)
        #expect(error.message == "forbidden: configmaps \"x\" is forbidden: User \"u\" cannot patch")
        #expect(!error.isRetryable)
        #expect(error.httpStatus.code == 502)
    }

    @Test func unauthorizedSaysSo() {
        let error = KubernetesClient.statusError(
            code: 401, body: status(401, reason: "Unauthorized", message: "Unauthorized"), retryAfterHeader: nil, redaction: .none
        )
        #expect(error.code == .apiUnauthorized)
        #expect(error.message.hasPrefix("unauthorized: "))
    }

    @Test func tooManyRequestsIsRetryableWithItsDelay() {
        let fromDetails = KubernetesClient.statusError(
            code: 429, body: status(429, reason: "TooManyRequests", message: "slow down", retryAfter: 2), retryAfterHeader: nil,
            redaction: .none)
        #expect(fromDetails.isRetryable)
        #expect(fromDetails.retryAfterSeconds == 2)
        let fromHeader = KubernetesClient.statusError(code: 429, body: [], retryAfterHeader: "5", redaction: .none)
        #expect(fromHeader.retryAfterSeconds == 5)
        #expect(fromHeader.httpStatus.code == 503)
    }

    @Test(arguments: [
        (500, true, 502), (502, true, 502), (503, true, 503), (504, true, 504), (400, false, 502), (422, false, 502),
    ])
    func serverStatusesAreClassified(code: Int, retryable: Bool, httpStatus: Int) {
        let error = KubernetesClient.statusError(
            code: code, body: Array("not json".utf8), retryAfterHeader: nil, redaction: .none)
        #expect(error.isRetryable == retryable)
        #expect(error.httpStatus.code == httpStatus)
        #expect(error.message.contains("\(code)"))
    }

    @Test func refusalToOverwriteIsAConflict() {
        #expect(ServiceError(code: .documentNotKubeconfig, message: "").httpStatus.code == 409)
        #expect(ServiceError(code: .configMapNotFound, message: "").httpStatus.code == 502)
        #expect(ServiceError(code: .payloadTooLarge, message: "").httpStatus.code == 413)
    }
}
