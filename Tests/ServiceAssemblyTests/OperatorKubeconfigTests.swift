import Foundation
import KubeconfigBase
import ServiceAssembly
import TestFixtures
import Testing

/// The operator's kubeconfig as `site add` reads it: as kubectl merges and resolves it, and each
/// context it cannot use refused with the fix.
@Suite struct OperatorKubeconfigTests {
    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("operator-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
    }

    var caData: String { Data(CertificateFixtures.siteCA.utf8).base64EncodedString() }

    func write(_ name: String, _ text: String) throws -> String {
        let path = folder.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func config(cluster: String, user: String, context: String = "name: c\n  context: {cluster: k, user: u}") -> String {
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: k
          cluster:
        \(cluster.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        users:
        - name: u
          user:
        \(user.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        contexts:
        - \(context)
        """
    }

    func refusal(_ text: String, context: String = "c") throws -> String? {
        let path = try write("config", text)
        do {
            _ = try OperatorKubeconfig(path: path, environment: [:]).context(context)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aTokenContextGivesItsServerCANamespaceAndToken() throws {
        let path = try write(
            "config",
            config(
                cluster: "server: https://api.example:6443\ncertificate-authority-data: \(caData)\ntls-server-name: api",
                user: "token: secret-value", context: "name: c\n  context: {cluster: k, user: u, namespace: apps}"))
        let context = try OperatorKubeconfig(path: path, environment: [:]).context("c")
        #expect(context.server == "https://api.example:6443")
        #expect(context.certificateAuthority == Array(CertificateFixtures.siteCA.utf8))
        #expect(context.tlsServerName == "api" && context.namespace == "apps")
        guard case .token(let token) = context.credential else {
            Issue.record("not a token")
            return
        }
        #expect(token.value == "secret-value")
    }

    @Test func filePathsAreRelativeToTheFileThatNamesThem() throws {
        _ = try write("sub/ca.crt", CertificateFixtures.siteCA)
        _ = try write("sub/token", "from-a-file\n")
        let path = try write(
            "sub/config",
            config(cluster: "server: https://api.example\ncertificate-authority: ca.crt", user: "tokenFile: token"))
        let context = try OperatorKubeconfig(path: path, environment: [:]).context("c")
        #expect(context.certificateAuthority == Array(CertificateFixtures.siteCA.utf8))
        guard case .token(let token) = context.credential else {
            Issue.record("not a token")
            return
        }
        #expect(token.value == "from-a-file")
    }

    @Test func kubeconfigFilesAreMergedAsKubectlDoesTheFirstToNameAnEntryWins() throws {
        let first = try write(
            "first",
            config(cluster: "server: https://first.example\ncertificate-authority-data: \(caData)", user: "token: first"))
        let second = try write(
            "second",
            config(
                cluster: "server: https://second.example\ncertificate-authority-data: \(caData)", user: "token: second",
                context: "name: other\n  context: {cluster: k, user: u}"))
        let missing = folder.appendingPathComponent("missing").path
        let merged = try OperatorKubeconfig(path: nil, environment: ["KUBECONFIG": "\(missing):\(first):\(second)"])
        #expect(try merged.context("other").server == "https://first.example")
        #expect(try merged.context("c").server == "https://first.example")
        // Without --kubeconfig or $KUBECONFIG: ~/.kube/config.
        #expect(throws: ServiceClientError.self) {
            try OperatorKubeconfig(path: nil, environment: ["HOME": folder.path])
        }
    }

    @Test func whatTheServiceCannotUseIsRefusedWithTheFix() throws {
        let ca = "certificate-authority-data: \(caData)"
        let cases: [(cluster: String, user: String, expected: String)] = [
            ("server: https://a\ninsecure-skip-tls-verify: true", "token: t", "insecure-skip-tls-verify"),
            ("server: https://a", "token: t", "names no certificate authority"),
            ("server: http://a\n\(ca)", "token: t", "is not an https URL"),
            ("server: https://a\n\(ca)\nproxy-url: http://proxy:3128", "token: t", "proxy-url"),
            ("server: https://a\n\(ca)", "username: u\npassword: p", "username and password"),
            ("server: https://a\n\(ca)", "auth-provider: {name: oidc}", "exec credential plugin your provider ships"),
            ("server: https://a\n\(ca)", "token: t\nas: someone", "impersonates"),
            ("server: https://a\n\(ca)", "client-certificate-data: \(caData)", "half of a client certificate"),
            ("server: https://a\n\(ca)", "{}", "holds no credential"),
        ]
        for (cluster, user, expected) in cases {
            let message = try refusal(config(cluster: cluster, user: user))
            #expect(message?.contains(expected) == true, "\(expected): \(message ?? "accepted")")
            #expect(message?.contains("secret") != true)
        }
        let unknown = try refusal(config(cluster: "server: https://a\n\(ca)", user: "token: t"), context: "nope")
        #expect(unknown?.contains("no context nope in ") == true && unknown?.contains("(its contexts: c)") == true)
    }
}
