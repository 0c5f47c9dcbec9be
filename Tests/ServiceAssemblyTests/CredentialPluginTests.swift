import Foundation
import KubeconfigBase
import Testing

@testable import ServiceAssembly

/// The exec credential plugin's decisions without a socket: the API version client-go asks for,
/// the output it reads, the refusals it shows, and where a token may be sent.
@Suite struct CredentialPluginTests {
    @Test func theVersionIsTheOneKubernetesExecInfoAsksFor() throws {
        #expect(try CredentialPlugin.apiVersion(execInfo: nil) == "client.authentication.k8s.io/v1")
        let beta = #"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{}}"#
        #expect(try CredentialPlugin.apiVersion(execInfo: beta) == "client.authentication.k8s.io/v1beta1")
        #expect(throws: ServiceClientError.self) {
            try CredentialPlugin.apiVersion(execInfo: #"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#)
        }
        #expect(throws: ServiceClientError.self) { try CredentialPlugin.apiVersion(execInfo: "not json") }
    }

    @Test func theServicesAnswerIsPrintedInTheAskedVersionWithNothingElse() throws {
        let answer =
            #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t.o.k","expirationTimestamp":"2026-12-07T17:00:00Z"}}"#
        let printed = try CredentialPlugin.credential(
            status: 200, body: Array(answer.utf8), apiVersion: "client.authentication.k8s.io/v1beta1", site: "edge-1")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(printed)) as? [String: Any])
        #expect(object["apiVersion"] as? String == "client.authentication.k8s.io/v1beta1")
        #expect(object["kind"] as? String == "ExecCredential")
        #expect(object["status"] as? [String: String] == ["token": "t.o.k", "expirationTimestamp": "2026-12-07T17:00:00Z"])
    }

    @Test func aRefusalIsOneLineWithTheServicesReason() {
        let body = #"{"error":{"code":"Forbidden","message":"forbidden: User \"x\" cannot create sites/token"}}"#
        do {
            _ = try CredentialPlugin.credential(status: 403, body: Array(body.utf8), apiVersion: "v", site: "edge-1")
            Issue.record("a 403 printed a credential")
        } catch {
            #expect(error.description.hasPrefix("the service refused a token for site edge-1: 403, Forbidden: forbidden"))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test(arguments: [
        ("https://kc.example.org", "https://kc.example.org/sites/edge-1/token"),
        ("https://kc.example.org/", "https://kc.example.org/sites/edge-1/token"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/sites/edge-1/token"),
        ("http://localhost:8080", "http://localhost:8080/sites/edge-1/token"),
        ("http://[::1]:8080", "http://[::1]:8080/sites/edge-1/token"),
    ])
    func aTokenGoesOverHTTPSOrToLoopback(_ service: String, _ url: String) throws {
        let plugin = CredentialPlugin(site: "edge-1", service: service, token: BearerToken("t"), certificateAuthority: nil)
        #expect(try plugin.tokenURL() == url)
    }

    @Test(arguments: [
        "http://kc.example.org", "http://127.0.0.1.example.org", "http://localhost.evil:80", "http://127.0.0.1evil", "ftp://x",
        "http://127.0.0.1:x@evil.example", "http://localhost@evil.example:80", "https://user@kc.example.org",
        "http://127.0.0.1\\@evil.example", "http://[::1]x:80", "http://127.0.0.1:80x", "http://127.0.0.1:", "http://",
        "https://kc.example.org?x=/", "https://kc.example.org#", "http://127.0.0.1 .evil",
    ])
    func aTokenIsNeverSentInTheClearOverANetwork(_ service: String) {
        let plugin = CredentialPlugin(site: "edge-1", service: service, token: BearerToken("t"), certificateAuthority: nil)
        #expect(throws: ServiceClientError.self) { try plugin.tokenURL() }
    }
}
