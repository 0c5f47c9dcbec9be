import Foundation
import KubeconfigBase
import Testing

@testable import KubernetesAPI

/// What the client sends and reads, without a server: the merge patch, a TokenRequest's answer.
@Suite struct KubernetesClientMessagesTests {
    @Test func aMergePatchCarriesTheVersionTheDataAndRemovesANilAnnotation() {
        let patch = DataObjectPatch(
            resourceVersion: "7", data: ["kubeconfig": "kind: Config\n"], annotations: ["ours": "v", "old": nil])
        #expect(
            String(decoding: KubernetesClient.mergePatch(patch), as: UTF8.self)
                == #"{"data":{"kubeconfig":"kind: Config\n"},"metadata":{"annotations":{"old":null,"ours":"v"},"resourceVersion":"7"}}"#
        )
        let withoutAnnotations = DataObjectPatch(resourceVersion: "7", data: [:])
        #expect(
            String(decoding: KubernetesClient.mergePatch(withoutAnnotations), as: UTF8.self)
                == #"{"data":{},"metadata":{"resourceVersion":"7"}}"#)
    }

    @Test func aTokenRequestAnswerGivesTheTokenAndTheGrantedExpiry() throws {
        let answer = #"{"kind":"TokenRequest","status":{"token":"issued","expirationTimestamp":"2027-01-15T08:16:40Z"}}"#
        let issued = try KubernetesClient.issuedToken(from: Array(answer.utf8), what: "TokenRequest", redaction: .none)
        #expect(issued == IssuedToken(token: BearerToken("issued"), expiresAt: Date(timeIntervalSince1970: 1_800_001_000)))
        let fractional = #"{"status":{"token":"issued","expirationTimestamp":"2027-01-15T08:16:40.250Z"}}"#
        #expect(
            try KubernetesClient.issuedToken(from: Array(fractional.utf8), what: "TokenRequest", redaction: .none).expiresAt
                == Date(timeIntervalSince1970: 1_800_001_000.25))
    }

    @Test func anUnreadableExpiryIsQuotedWithoutTheCredentialThatAsked() {
        let bootstrap = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib290c3RyYXAifQ.c2lnbmF0dXJl"
        let answer = #"{"status":{"token":"issued","expirationTimestamp":"\#(bootstrap)"}}"#
        #expect {
            try KubernetesClient.issuedToken(
                from: Array(answer.utf8), what: "TokenRequest", redaction: CredentialRedaction([BearerToken(bootstrap)]))
        } throws: { error in
            (error as? ServiceError)?.message == #"the API server answered the TokenRequest with an unreadable "#
                + #"expirationTimestamp ("<redacted>")"#
        }
    }

    @Test func aTimestampMayCarryAnOffsetOrMicroseconds() throws {
        #expect(KubernetesClient.parseTimestamp("2027-01-15T10:16:40+02:00") == Date(timeIntervalSince1970: 1_800_001_000))
        #expect(KubernetesClient.parseTimestamp("2027-01-15T08:16:40-00:30") == Date(timeIntervalSince1970: 1_800_002_800))
        let micro = try #require(KubernetesClient.parseTimestamp("2027-01-15T08:16:40.123456Z"))
        #expect(abs(micro.timeIntervalSince1970 - 1_800_001_000.123456) < 0.000_001)
        for text in ["2027-01-15T08:16:40", "2027-01-15 08:16:40Z", "2027-01-15", "soon", ""] {
            #expect(KubernetesClient.parseTimestamp(text) == nil, "\(text)")
        }
    }

    @Test func anAnswerWithoutATokenOrWithAnUnreadableExpiryIsAnErrorThatQuotesNoToken() {
        let answers = [
            (#"{"status":{"expirationTimestamp":"2027-01-15T08:16:40Z"}}"#, "without a token"),
            (#"{"status":{"token":"","expirationTimestamp":"2027-01-15T08:16:40Z"}}"#, "without a token"),
            (#"{"status":{"token":"secret-value","expirationTimestamp":"soon"}}"#, "unreadable expirationTimestamp (\"soon\")"),
            (#"{"status":{"token":"secret-value"}}"#, "unreadable expirationTimestamp (none)"),
            (#"{"status":{"token":"secret-value","expirationTimestamp":7}}"#, "unreadable JSON"),
        ]
        for (answer, reason) in answers {
            #expect {
                try KubernetesClient.issuedToken(
                    from: Array(answer.utf8), what: "TokenRequest for serviceaccount onap/x", redaction: .none)
            } throws: { error in
                let error = error as? ServiceError
                return error?.code == .apiProtocol && error?.message.contains(reason) == true
                    && error?.message.contains("serviceaccount onap/x") == true
                    && error?.message.contains("secret-value") == false
            }
        }
    }
}
