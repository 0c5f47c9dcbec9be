import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import Testing

@testable import KubeconfigService

/// The mistakes newcomers make sending a registration: each refusal names the fix.
@Suite struct RegistrationMistakesTests {
    static let kubeconfig = SiteRegistrationTests.kubeconfig()

    func jsonRefusal(_ text: String) -> String? {
        do {
            _ = try SiteRegistration(name: "site-a", json: Array(text.utf8))
            return nil
        } catch {
            #expect(error.code == .invalidSite)
            return error.message
        }
    }

    func yamlRefusal(_ text: String) -> String? {
        do {
            _ = try SiteRegistration(name: "site-a", kubeconfig: text)
            return nil
        } catch {
            #expect(error.code == .invalidSite)
            return error.message
        }
    }

    @Test func aKubeconfigSentAsJSONIsToldToBeSentAsYAML() throws {
        let message = try #require(jsonRefusal(Self.kubeconfig))
        #expect(message.contains("looks like a kubeconfig"))
        #expect(message.contains("Content-Type: application/yaml"))
    }

    @Test func aJSONRegistrationSentAsYAMLIsToldToBeSentAsJSON() throws {
        let body = String(decoding: SiteRegistrationTests.json(SiteRegistrationTests.valid), as: UTF8.self)
        let message = try #require(yamlRefusal(body))
        #expect(message.contains("a YAML body must be a kubeconfig"))
        #expect(message.contains("Content-Type: application/json"))
        // Not the message it gave before: a field "not supported in a registered site".
        #expect(!message.contains("not supported"))
    }

    @Test func malformedJSONIsRefusedWithItsLineAndColumn() throws {
        let body = "{\n  \"server\": \"https://a.example:6443\"\n  \"token\": \"t\"\n}"
        let message = try #require(jsonRefusal(body))
        #expect(message == "body: is not valid JSON: line 3, column 3: expected ',' or '}', found '\"'")
    }

    @Test func valueThatIsJSONButNotAnObjectIsSaidToBeOne() throws {
        #expect(jsonRefusal("[1, 2]") == "body: must be a JSON object")
    }

    @Test(arguments: [#"{"server": "\uD800"}"#, #"{"server": 1e400}"#])
    func anObjectTheDecoderCannotReadIsNotSaidToBeNoObject(_ body: String) throws {
        let message = try #require(jsonRefusal(body))
        #expect(message.hasPrefix("body: holds a value that cannot be read"))
    }

    @Test(
        arguments: [
            (
                "    server: https://127.0.0.1:41234\n    certificate-authority-data: DATA+OMITTED", nil,
                "cluster.certificate-authority-data: is DATA+OMITTED"
            ),
            (nil, "    token: REDACTED", "user.token: is REDACTED"),
            (
                nil, "    client-certificate-data: DATA+OMITTED\n    client-key-data: DATA+OMITTED",
                "user.client-certificate-data: is DATA+OMITTED"
            ),
        ] as [(String?, String?, String)])
    func aKubeconfigViewedWithoutRawIsToldToUseRaw(cluster: String?, user: String?, expected: String) throws {
        let message = try #require(yamlRefusal(SiteRegistrationTests.kubeconfig(cluster: cluster, user: user)))
        #expect(message.hasPrefix(expected))
        #expect(message.contains("kubectl config view --minify --raw"))
    }

    @Test func aKubeconfigWhoseLineBreaksWereStrippedHintsAtDataBinary() throws {
        // What `curl -d @file` sends: the file with its CR and LF removed.
        let stripped = Self.kubeconfig.filter { !$0.isNewline }
        let message = try #require(yamlRefusal(stripped))
        #expect(message.contains("curl --data-binary @FILE"))
        // The same mistake's hint is not given to a body with line breaks.
        let broken = Self.kubeconfig.replacingOccurrences(of: "kind: Config", with: "kind: [Config")
        let other = try #require(yamlRefusal(broken))
        #expect(!other.contains("--data-binary"))
    }
}
