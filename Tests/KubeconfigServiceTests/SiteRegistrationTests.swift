import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import TestFixtures
import Testing

@testable import KubeconfigService

/// Reading `PUT /sites/{name}` bodies: what is accepted, and each refusal naming its field.
@Suite struct SiteRegistrationTests {
    static let ca = SiteFixtures.base64(SiteFixtures.caPEM)

    static func json(_ fields: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: fields)) ?? Data())
    }

    static var valid: [String: Any] {
        [
            "server": "https://api.site-a.example:6443", "certificateAuthorityData": ca, "token": "abc.def-ghi_jkl",
        ]
    }

    func refusal(_ body: [UInt8], name: String = "site-a") -> ServiceError? {
        do {
            _ = try SiteRegistration(name: name, json: body)
            return nil
        } catch {
            return error
        }
    }

    @Test func aTokenSiteIsReadWithItsDefaults() throws {
        let site = try SiteRegistration(name: "site-a", json: Self.json(Self.valid))
        #expect(site.name == "site-a")
        #expect(site.user == "site-a")
        #expect(site.server == "https://api.site-a.example:6443")
        #expect(site.certificateAuthority == SiteFixtures.caPEM)
        #expect(site.credential == .token(BearerToken("abc.def-ghi_jkl")))
        #expect(site.namespace == nil && site.tlsServerName == nil)
    }

    @Test func aManagedSitesContextIsInItsDeployersNamespaceUnlessOneIsGiven() throws {
        var fields: [String: Any] = [
            "server": "https://api.site-a.example:6443", "certificateAuthorityData": Self.ca, "bootstrapToken": "b",
            "tokenRequest": ["serviceAccount": "deployer", "namespace": "apps"],
        ]
        #expect(try SiteRegistration(name: "site-a", json: Self.json(fields)).namespace == "apps")
        fields["namespace"] = "other"
        #expect(try SiteRegistration(name: "site-a", json: Self.json(fields)).namespace == "other")
        // A pasted token names no account: no namespace is made up.
        #expect(try SiteRegistration(name: "site-a", json: Self.json(Self.valid)).namespace == nil)
    }

    @Test func aFieldGivenTwiceIsRefusedAtAnyDepth() throws {
        let ca = Self.ca
        for body in [
            #"{"server": "https://a.example:6443", "server": "https://b.example:6443", "certificateAuthorityData": "\#(ca)", "token": "t"}"#,
            #"{"server": "https://a.example:6443", "certificateAuthorityData": "\#(ca)", "bootstrapToken": "t", "tokenRequest": {"serviceAccount": "a", "serviceAccount": "b"}}"#,
        ] {
            let error = refusal(Array(body.utf8))
            #expect(error?.code == .invalidSite && error?.message.contains("is given more than once") == true, "\(body)")
        }
        // The same names in different objects, in arrays or as values are not repeats.
        #expect(JSONDuplicateKeys.first(in: Array(#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}], "c": "a"}"#.utf8)) == nil)
        #expect(JSONDuplicateKeys.first(in: Array(#"{"a": "x\",\"a", "a": 1}"#.utf8)) == "a")
        #expect(JSONDuplicateKeys.first(in: Array(#"[{"k": 1, "j": {"k": 2}, "k": 3}]"#.utf8)) == "k")
    }

    @Test func aKubeconfigWithTwoEntriesOfOneNameIsRefused() throws {
        let ca = Self.ca
        for section in ["clusters", "users"] {
            let clusters =
                section == "clusters"
                ? #"[{"name": "c", "cluster": {"server": "https://a.example:6443", "certificate-authority-data": "\#(ca)"}}, {"name": "c", "cluster": {"server": "https://b.example:6443", "certificate-authority-data": "\#(ca)"}}]"#
                : #"[{"name": "c", "cluster": {"server": "https://a.example:6443", "certificate-authority-data": "\#(ca)"}}]"#
            let users =
                section == "users"
                ? #"[{"name": "u", "user": {"token": "one"}}, {"name": "u", "user": {"token": "two"}}]"#
                : #"[{"name": "u", "user": {"token": "one"}}]"#
            let text = """
                {"apiVersion": "v1", "kind": "Config", "clusters": \(clusters), "users": \(users),
                 "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}
                """
            #expect {
                try SiteRegistration(name: "site-a", kubeconfig: text)
            } throws: { error in
                let error = error as? ServiceError
                return error?.code == .invalidSite && error?.message.hasPrefix("\(section): holds two entries named") == true
            }
        }
    }

    @Test func optionalFieldsAndAClientCertificateAreRead() throws {
        let site = try SiteRegistration(
            name: "edge.site-b",
            json: Self.json([
                "server": "https://[fd00::1]:443/k8s/clusters/c-1", "certificateAuthorityData": Self.ca,
                "clientCertificateData": SiteFixtures.base64(SiteFixtures.clientCertificatePEM),
                "clientKeyData": SiteFixtures.base64(SiteFixtures.clientKeyPEM), "tlsServerName": "api.internal",
                "namespace": "deployments", "user": "deployer@edge",
            ]))
        #expect(site.user == "deployer@edge")
        #expect(site.namespace == "deployments")
        #expect(site.tlsServerName == "api.internal")
        guard case .clientCertificate(let identity) = site.credential else {
            Issue.record("expected a client certificate")
            return
        }
        #expect(identity.certificate == SiteFixtures.clientCertificatePEM)
    }

    @Test(arguments: [
        ("Site-A", "name"), ("-a", "name"), ("a_b", "name"), (String(repeating: "a", count: 254), "name"),
    ])
    func aNameThatIsNotADNSSubdomainIsRefused(name: String, field: String) {
        let error = refusal(Self.json(Self.valid), name: name)
        #expect(error?.code == .invalidSite)
        #expect(error?.message.hasPrefix("\(field):") == true)
    }

    @Test(arguments: [
        "http://api.example:6443", "https://", "https://:6443", "https://user@host:6443", "https://host:0",
        "https://host:65536", "https://host:port", "https://host/a?b", "https://ho st", "ftp://host", "api.example:6443",
        "https://[::1", "https://[zz::1]:6443", "https://-", "https://..", "https://[:]", "https://h:+443",
        "https://a..b", "https://-a.example",
    ])
    func aServerThatIsNotAnHTTPSURLWithAHostIsRefused(server: String) {
        var fields = Self.valid
        fields["server"] = server
        let error = refusal(Self.json(fields))
        #expect(error?.code == .invalidSite, "\(server)")
        #expect(error?.message.hasPrefix("server:") == true, "\(server)")
    }

    @Test func serversWithAPortAPathOrIPv6AreAccepted() throws {
        for server in ["https://10.0.0.1", "https://[::1]:6443", "https://rancher.example/k8s/clusters/c-x", "HTTPS://H:1"] {
            var fields = Self.valid
            fields["server"] = server
            #expect(refusal(Self.json(fields)) == nil, "\(server)")
        }
    }

    @Test func aCAThatHoldsNoCertificateIsRefused() {
        for data in ["not base64!", SiteFixtures.base64(Array("hello".utf8)), SiteFixtures.base64(SiteFixtures.clientKeyPEM), ""]
        {
            var fields = Self.valid
            fields["certificateAuthorityData"] = data
            let error = refusal(Self.json(fields))
            #expect(error?.code == .invalidSite)
            #expect(error?.message.hasPrefix("certificateAuthorityData:") == true, "\(error?.message ?? "")")
        }
    }

    @Test(arguments: ["", "abc def", "abc\n", "abc\u{7}", "tökén", " abc"])
    func aTokenThatIsEmptyOrHasWhitespaceOrControlsIsRefused(token: String) {
        var fields = Self.valid
        fields["token"] = token
        let error = refusal(Self.json(fields))
        #expect(error?.code == .invalidSite)
        #expect(error?.message.hasPrefix("token:") == true)
        // The offending value is never echoed.
        if !token.isEmpty { #expect(error?.message.contains(token) == false) }
    }

    @Test func aClientKeyThatIsNotTheCertificatesIsRefused() {
        var fields = Self.valid
        fields["token"] = nil
        fields["clientCertificateData"] = SiteFixtures.base64(SiteFixtures.clientCertificatePEM)
        fields["clientKeyData"] = SiteFixtures.base64(SiteFixtures.otherKeyPEM)
        let error = refusal(Self.json(fields))
        #expect(error?.code == .invalidSite)
        #expect(error?.message == "clientKeyData: is not the private key of the client certificate")
        fields["clientKeyData"] = SiteFixtures.base64(Array("junk".utf8))
        #expect(refusal(Self.json(fields))?.message.hasPrefix("clientKeyData:") == true)
        fields["clientCertificateData"] = Self.ca
        fields["clientKeyData"] = SiteFixtures.base64(SiteFixtures.clientKeyPEM)
        #expect(refusal(Self.json(fields))?.message.hasPrefix("clientKeyData:") == true)
    }

    @Test func exactlyOneCredentialIsRequired() {
        var none = Self.valid
        none["token"] = nil
        #expect(refusal(Self.json(none))?.message.hasPrefix("token: is required") == true)
        var both = Self.valid
        both["clientCertificateData"] = SiteFixtures.base64(SiteFixtures.clientCertificatePEM)
        both["clientKeyData"] = SiteFixtures.base64(SiteFixtures.clientKeyPEM)
        #expect(refusal(Self.json(both))?.message.hasPrefix("token:") == true)
        var half = none
        half["clientKeyData"] = SiteFixtures.base64(SiteFixtures.clientKeyPEM)
        #expect(refusal(Self.json(half))?.message.hasPrefix("clientCertificateData:") == true)
    }

    @Test func unknownFieldsWrongTypesAndNonObjectsAreRefused() {
        var unknown = Self.valid
        unknown["insecureSkipTLSVerify"] = true
        #expect(refusal(Self.json(unknown))?.message.hasPrefix("insecureSkipTLSVerify: unknown field") == true)
        var number = Self.valid
        number["namespace"] = 5
        #expect(refusal(Self.json(number))?.message == "namespace: must be a string, not a number")
        for body in ["[]", "\"x\"", "{", "", "{\"server\": {\"a\": 1}}"] {
            let error = refusal(Array(body.utf8))
            #expect(error?.code == .invalidSite, "\(body)")
        }
        var namespace = Self.valid
        namespace["namespace"] = "Not_A_Label"
        #expect(refusal(Self.json(namespace))?.message.hasPrefix("namespace:") == true)
        var user = Self.valid
        user["user"] = "a b"
        #expect(refusal(Self.json(user))?.message.hasPrefix("user:") == true)
    }

    // MARK: - Kubeconfig import

    static func kubeconfig(cluster: String? = nil, user: String? = nil, context: String? = nil, extra: String = "") -> String {
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: kind-remote
          cluster:
        \(cluster ?? "    server: https://127.0.0.1:41234\n    certificate-authority-data: \(ca)")
        users:
        - name: kind-remote-admin
          user:
        \(user ?? "    token: remote-token")
        contexts:
        - name: kind-remote
          context:
        \(context ?? "    cluster: kind-remote\n    user: kind-remote-admin\n    namespace: apps")
        current-context: kind-remote
        \(extra)
        """
    }

    func importRefusal(_ text: String) -> ServiceError? {
        do {
            _ = try SiteRegistration(name: "site-a", kubeconfig: text)
            return nil
        } catch {
            return error
        }
    }

    @Test func aMinifiedKubeconfigIsImportedUnderTheSiteName() throws {
        let site = try SiteRegistration(name: "site-a", kubeconfig: Self.kubeconfig())
        #expect(site.name == "site-a" && site.user == "site-a")
        #expect(site.server == "https://127.0.0.1:41234")
        #expect(site.namespace == "apps")
        #expect(site.credential == .token(BearerToken("remote-token")))
        let certificate = try SiteRegistration(
            name: "site-a",
            kubeconfig: Self.kubeconfig(
                user: """
                        client-certificate-data: \(SiteFixtures.base64(SiteFixtures.clientCertificatePEM))
                        client-key-data: \(SiteFixtures.base64(SiteFixtures.clientKeyPEM))
                    """))
        guard case .clientCertificate = certificate.credential else {
            Issue.record("expected a client certificate")
            return
        }
    }

    @Test func whatAKubeconfigCannotBringIsRefusedByField() {
        let cases: [(String, String)] = [
            (
                Self.kubeconfig(cluster: "    server: https://h:1\n    certificate-authority: /etc/ca.crt"),
                "cluster.certificate-authority:"
            ),
            (
                Self.kubeconfig(
                    cluster:
                        "    server: https://h:1\n    certificate-authority-data: \(Self.ca)\n    insecure-skip-tls-verify: true"),
                "cluster.insecure-skip-tls-verify:"
            ),
            (
                Self.kubeconfig(
                    cluster: "    server: https://h:1\n    certificate-authority-data: \(Self.ca)\n    proxy-url: http://p:3128"),
                "cluster.proxy-url:"
            ),
            (Self.kubeconfig(cluster: "    server: https://h:1"), "cluster.certificate-authority-data:"),
            (Self.kubeconfig(cluster: "    server: http://h:1\n    certificate-authority-data: \(Self.ca)"), "cluster.server:"),
            (Self.kubeconfig(user: "    exec: {command: aws}"), "user.exec:"),
            (Self.kubeconfig(user: "    tokenFile: /var/run/token"), "user.tokenFile:"),
            (Self.kubeconfig(user: "    token: ''"), "user.token:"),
            (Self.kubeconfig(user: "    token: 'a b'"), "user.token:"),
            (
                Self.kubeconfig(
                    user:
                        "    client-certificate-data: \(SiteFixtures.base64(SiteFixtures.clientCertificatePEM))\n    client-key-data: \(SiteFixtures.base64(SiteFixtures.otherKeyPEM))"
                ), "user.client-key-data:"
            ),
            (Self.kubeconfig(context: "    cluster: nowhere\n    user: kind-remote-admin"), "context.cluster:"),
            (Self.kubeconfig(context: "    cluster: kind-remote\n    user: nobody"), "context.user:"),
            (
                Self.kubeconfig(
                    context:
                        "    cluster: kind-remote\n    user: kind-remote-admin\n- name: second\n  context: {cluster: kind-remote, user: kind-remote-admin}"
                ),
                "contexts:"
            ),
            ("contexts: []", "contexts:"),
            ("a: [", "body:"),
            ("- 1\n- 2", "body:"),
            ("kind: Config\nfoo: bar\ncontexts: []", "foo:"),
        ]
        for (text, field) in cases {
            let error = importRefusal(text)
            #expect(error?.code == .invalidSite, "\(field)")
            #expect(error?.message.hasPrefix(field) == true, "\(field): \(error?.message ?? "accepted")")
            #expect(error?.message.contains("refusing to overwrite") == false)
        }
    }
}
