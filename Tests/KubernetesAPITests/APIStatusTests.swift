import Foundation
import KubeconfigBase
import Testing

@testable import KubernetesAPI

/// What an error answer may quote: only a Status's message, redacted, on one line, bounded.
@Suite struct APIStatusTests {
    static let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib290c3RyYXAifQ.c2lnbmF0dXJlLWJ5dGVz"
    static let redaction = CredentialRedaction([BearerToken(token)])

    static func status(message: String, reason: String = "Forbidden", code: Int = 403) -> [UInt8] {
        let object: [String: Any] = [
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code,
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
    }

    @Test func aStatusMessageIsQuotedWithoutTheCredential() {
        let echoed = Data("Bearer \(Self.token)".utf8).base64EncodedString()
        let status = APIStatus(httpCode: 403, body: Self.status(message: "denied; you sent \(echoed)"), redaction: Self.redaction)
        #expect(status.message == "denied; you sent <redacted>")
        #expect(status.reason == "Forbidden")
        #expect(status.text == "denied; you sent <redacted>")
    }

    @Test(arguments: [
        "Bearer \(token) is not welcome\n",
        #"{"error":"forbidden","token":"\#(token)"}"#,
        #"{"message":"\#(token)","reason":"Forbidden"}"#,
        "<html><body>403 Forbidden: \(token)</body></html>",
        #"{"kind":"NotAStatus","message":"\#(token)"}"#,
        "[1,2,3]",
    ])
    func aBodyThatIsNotAStatusIsOnlyDescribed(body: String) {
        let status = APIStatus(httpCode: 403, body: Array(body.utf8), redaction: .none)
        #expect(status.message == nil)
        #expect(status.text == "HTTP 403 with a body that is not a Kubernetes Status (\(body.utf8.count) bytes)")
    }

    @Test func anEmptyBodyAndAStatusWithoutAMessageSaySo() {
        #expect(APIStatus(httpCode: 500, body: [], redaction: .none).text == "HTTP 500 with an empty body")
        let bare = Array(#"{"kind":"Status","apiVersion":"v1","code":503}"#.utf8)
        #expect(
            APIStatus(httpCode: 503, body: bare, redaction: .none).text == "HTTP 503 with a Kubernetes Status without a message")
    }

    @Test func aLongMessageIsCutAfterTheCredentialIsRemoved() {
        // The token straddles the cut: cutting first would keep its first 20 characters.
        let message = String(repeating: "x", count: APIStatus.messageLimit - 20) + Self.token + String(repeating: "y", count: 500)
        let quoted = APIStatus(httpCode: 403, body: Self.status(message: message), redaction: Self.redaction).message ?? ""
        #expect(!quoted.contains(Self.token.prefix(20)))
        #expect(quoted.hasSuffix("..."))
        #expect(quoted.unicodeScalars.count == APIStatus.messageLimit + 3)
    }

    @Test func aMessageTooLongToRedactSafelyIsNotQuoted() {
        let message = String(repeating: "a", count: APIStatus.readLimit + 1)
        let status = APIStatus(httpCode: 500, body: Self.status(message: message, code: 500), redaction: Self.redaction)
        #expect(status.message == nil)
        #expect(status.text.hasPrefix("HTTP 500 with a Kubernetes Status whose message is too long to quote"))
    }

    @Test func aMessageStaysOnOneLine() {
        let message = "line one\nfake log line\r\n\u{1B}[31mred\u{202E}reversed\u{2028}end"
        let quoted = APIStatus(httpCode: 403, body: Self.status(message: message), redaction: .none).message ?? ""
        #expect(quoted == "line one fake log line   [31mred reversed end")
    }

    @Test func aReasonIsKeptOnlyWhenItIsOneWordAndNoCredential() {
        #expect(APIStatus(httpCode: 403, body: Self.status(message: "m", reason: "Forbidden!"), redaction: .none).reason == nil)
        let credentialAsReason = APIStatus(
            httpCode: 403, reason: "Abcdefghijkl", message: "m", redaction: CredentialRedaction([BearerToken("Abcdefghijkl")]))
        #expect(credentialAsReason.reason == nil)
        #expect(APIStatus(httpCode: 410, reason: "Expired", message: "m", redaction: .none).reason == "Expired")
    }

    @Test func theClientsErrorsQuoteTheRedactedMessageOrDescribeTheBody() {
        let echoed = Self.token.utf8.map { String(format: "%%%02X", $0) }.joined()
        let forbidden = KubernetesClient.statusError(
            code: 403, body: Self.status(message: "no; got \(echoed)"), retryAfterHeader: nil, redaction: Self.redaction)
        #expect(forbidden.code == .apiForbidden && forbidden.message == "forbidden: no; got <redacted>")
        let teapot = KubernetesClient.statusError(
            code: 418, body: Array("I'm a teapot: \(Self.token)".utf8), retryAfterHeader: nil, redaction: Self.redaction)
        #expect(teapot.code == .apiRejected)
        #expect(teapot.message == "HTTP 418 with a body that is not a Kubernetes Status (\(14 + Self.token.utf8.count) bytes)")
    }

    @Test func aWatchErrorEventsMessageIsRedactedToo() {
        let error = KubernetesClient.watchError(
            code: 500, reason: "InternalError", message: "saw \(Self.token)", redaction: Self.redaction)
        #expect(error.code == .apiServerError && error.message == "saw <redacted>")
    }
}
