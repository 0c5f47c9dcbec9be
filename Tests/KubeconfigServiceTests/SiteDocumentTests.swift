import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import TestFixtures
import Testing

@testable import KubeconfigService

/// Registering, replacing, removing and describing sites in a document, as plain values.
@Suite struct SiteDocumentTests {
    static func site(_ name: String, token: String = "t-\(UUID().uuidString.prefix(8))", user: String? = nil) -> SiteRegistration
    {
        SiteFixtures.registration(name, token: token, user: user)
    }

    /// A document with the central site and a hand-written entry carrying fields we do not know.
    static func document() throws -> KubeconfigDocument {
        var document = try KubeconfigDocument(
            parsing: """
                apiVersion: v1
                kind: Config
                clusters:
                - name: legacy
                  cluster: {server: 'https://legacy:6443', proxy-url: 'http://proxy:3128'}
                users:
                - name: legacy-user
                  user: {exec: {command: legacy-login, apiVersion: client.authentication.k8s.io/v1}}
                contexts:
                - name: legacy
                  context: {cluster: legacy, user: legacy-user}
                """, origin: "test")
        document.merge(Fixtures.central)
        return document
    }

    @Test func registeringAddsTheThreeEntriesAndKeepsEverythingElse() throws {
        var document = try Self.document()
        let before = document
        let created = try document.register(Self.site("site-a", token: "tok-a"), fallback: "central")
        #expect(created)
        #expect(document.contextNames == ["legacy", "central", "site-a"])
        #expect(document.token(ofUser: "site-a") == "tok-a")
        #expect(document.entry(in: "clusters", named: "legacy") == before.entry(in: "clusters", named: "legacy"))
        #expect(document.entry(in: "users", named: "legacy-user") == before.entry(in: "users", named: "legacy-user"))
        #expect(document.token(ofUser: Fixtures.central.user) == Fixtures.central.token.value)
        let cluster = document.entry(in: "clusters", named: "site-a")?["cluster"]
        #expect(cluster?["server"]?.stringValue == "https://site-a.example:6443")
        #expect(cluster?["certificate-authority-data"]?.stringValue == SiteFixtures.base64(SiteFixtures.caPEM))
        #expect(document.root["current-context"]?.stringValue == "central")
    }

    @Test func registeringAgainReplacesTheBodiesAndSameContentChangesNothing() throws {
        var document = try Self.document()
        try document.register(Self.site("site-a", token: "tok-a"), fallback: "central")
        let once = document
        let again = try document.register(Self.site("site-a", token: "tok-a"), fallback: "central")
        #expect(again == false)
        #expect(document == once)
        var replacement = Self.site("site-a")
        replacement.credential = .clientCertificate(
            try ClientIdentity(certificate: SiteFixtures.clientCertificatePEM, key: SiteFixtures.clientKeyPEM))
        replacement.namespace = "apps"
        try document.register(replacement, fallback: "central")
        let user = document.entry(in: "users", named: "site-a")?["user"]
        #expect(user?["token"] == nil, "the old token must not stay beside the certificate")
        #expect(user?["client-key-data"]?.stringValue == SiteFixtures.base64(SiteFixtures.clientKeyPEM))
        #expect(document.contexts.first { $0.name == "site-a" }?.namespace == "apps")
        #expect(document.contextNames.filter { $0 == "site-a" }.count == 1)
    }

    @Test func aUserOrClusterOfAnotherContextIsNotTakenOver() throws {
        var document = try Self.document()
        for (name, user) in [("site-a", "user00"), ("site-b", "legacy-user")] {
            var copy = document
            do {
                try copy.register(Self.site(name, user: user), fallback: "central")
                Issue.record("\(name) took over user \(user)")
            } catch {
                #expect(error.code == .siteConflict)
            }
        }
        // A context `legacy2` using cluster `site-c`: registering site-c would change legacy2 too.
        document.root.set(
            "contexts",
            .sequence(
                (document.root["contexts"].flatMap { if case .sequence(let s) = $0 { s } else { nil } } ?? []) + [
                    .mapping([
                        "name": .string("legacy2"), "context": .mapping(["cluster": .string("site-c"), "user": .string("x")]),
                    ])
                ]))
        let before = document
        do {
            try document.register(Self.site("site-c"), fallback: "central")
            Issue.record("registered over another context's cluster")
        } catch {
            #expect(error.code == .siteConflict)
            #expect(error.message.contains("legacy2"))
        }
        #expect(document == before)
    }

    @Test func removingDropsTheContextAndWhatOnlyItUsed() throws {
        var document = try Self.document()
        try document.register(Self.site("site-a"), fallback: "central")
        try document.register(Self.site("site-b", user: "shared"), fallback: "central")
        // A hand-made context sharing site-b's user.
        try document.register(Self.site("site-c", user: "other"), fallback: "central")
        var contexts = document.root["contexts"]!
        if case .sequence(var entries) = contexts {
            let index = entries.firstIndex { $0["name"]?.stringValue == "site-c" }!
            entries[index].set("context", .mapping(["cluster": .string("site-c"), "user": .string("shared")]))
            contexts = .sequence(entries)
        }
        document.root.set("contexts", contexts)
        document.root.set("current-context", .string("site-b"))

        let removedB = document.removeSite(named: "site-b", fallback: "central")
        #expect(removedB)
        #expect(!document.contextNames.contains("site-b"))
        #expect(document.entry(in: "clusters", named: "site-b") == nil)
        #expect(document.entry(in: "users", named: "shared") != nil, "site-c still uses it")
        #expect(document.root["current-context"]?.stringValue == "central")
        let removedA = document.removeSite(named: "site-a", fallback: "central")
        #expect(removedA)
        #expect(document.entry(in: "users", named: "site-a") == nil)
        let after = document
        let removedAgain = document.removeSite(named: "site-a", fallback: "central")
        #expect(!removedAgain)
        #expect(document == after)
        #expect(document.contextNames == ["legacy", "central", "site-c"])
    }

    @Test func summariesNameEveryContextWithItsCredentialKindAndExpiries() throws {
        var document = try Self.document()
        // A JWT-shaped token whose payload says exp 2000000000.
        let payload = Data(#"{"sub":"system:serviceaccount:apps:deployer","exp":2000000000}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "")
        try document.register(Self.site("site-a", token: "eyJhbGciOiJSUzI1NiJ9.\(payload).sig"), fallback: "central")
        var certificate = Self.site("site-b")
        certificate.credential = .clientCertificate(
            try ClientIdentity(certificate: SiteFixtures.clientCertificatePEM, key: SiteFixtures.clientKeyPEM))
        certificate.namespace = "apps"
        try document.register(certificate, fallback: "central")
        let summaries = Dictionary(uniqueKeysWithValues: document.siteSummaries(location: "central").map { ($0.name, $0) })
        #expect(summaries.keys.sorted() == ["central", "legacy", "site-a", "site-b"])
        #expect(summaries["central"]?.ours == true)
        #expect(summaries["legacy"]?.credential == "exec")
        #expect(summaries["legacy"]?.certificateAuthorityExpiresAt == nil)
        #expect(summaries["site-a"]?.credential == "token")
        #expect(summaries["site-a"]?.tokenExpiresAt == Date(timeIntervalSince1970: 2_000_000_000))
        #expect(summaries["site-a"]?.certificateAuthorityExpiresAt == SiteFixtures.notAfter)
        #expect(summaries["site-b"]?.credential == "client-certificate")
        #expect(summaries["site-b"]?.clientCertificateExpiresAt == SiteFixtures.notAfter)
        #expect(summaries["site-b"]?.namespace == "apps")
        #expect(summaries["site-b"]?.ours == false)
        let json = String(decoding: JSONBody.encode(Array(summaries.values)), as: UTF8.self)
        #expect(!json.contains("sig") && !json.contains(SiteFixtures.base64(SiteFixtures.clientKeyPEM)))
    }

    @Test func endpointsCarryTheSitesOwnCAAndCredential() throws {
        var document = try Self.document()
        try document.register(Self.site("site-a", token: "tok-a"), fallback: "central")
        let endpoint = try #require(try document.endpoint(ofSite: "site-a")?.get())
        #expect(endpoint.server == "https://site-a.example:6443")
        #expect(endpoint.certificateAuthority == SiteFixtures.caPEM)
        #expect(endpoint.credential == .token(BearerToken("tok-a")))
        // No CA data: never probed with other roots.
        guard case .failure(let error)? = document.endpoint(ofSite: "legacy") else {
            Issue.record("legacy has no certificate-authority-data")
            return
        }
        #expect(error.code == .siteNotProbed)
        #expect(document.endpoint(ofSite: "absent") == nil)
    }
}

/// A byte order mark inside a document would be dropped from a value by the YAML reader.
@Suite struct ByteOrderMarkTests {
    @Test func aMarkAfterTheStartIsRefusedAsIsOrEscapedAndOneAtTheStartIsNot() throws {
        for text in [
            "users:\n- name: u\n  user: {token: \u{FEFF}abc}\n", "users:\n- name: u\n  user: {token: \"\\uFEFFabc\"}\n",
            "users:\n- name: u\n  user: {token: \"\\U0000feffabc\"}\n",
        ] {
            #expect(throws: ServiceError.self, "\(text)") { try KubeconfigDocument(parsing: text, origin: "test") }
            #expect(throws: ServiceError.self) { try SiteRegistration(name: "site-a", kubeconfig: text) }
        }
        #expect(!KubeconfigDocument.holdsByteOrderMark("\u{FEFF}apiVersion: v1\nkind: Config\n"))
        #expect(!KubeconfigDocument.holdsByteOrderMark(""))
        #expect(!KubeconfigDocument.holdsByteOrderMark("token: abc\u{00EF}\u{00BB}"))
    }
}

/// A site's kubeconfig whose user runs the exec credential plugin (`credentials=exec`).
@Suite struct SiteExecKubeconfigTests {
    @Test func aSitesExecKubeconfigRunsThePluginAndHoldsNoSecret() throws {
        var document = try SiteDocumentTests.document()
        _ = try document.register(SiteDocumentTests.site("site-a", token: "tok-secret", user: "site-a-user"), fallback: "central")
        let plugin = KubeconfigDocument.CredentialPlugin(serviceURL: "https://kc.example.org")
        let exec = try #require(document.site(named: "site-a", credentialPlugin: plugin))
        #expect(!exec.yaml().contains("tok-secret"))
        #expect(exec.contexts.map(\.name) == ["site-a"])
        let user = try #require(exec.entry(in: "users", named: "site-a-user")?["user"])
        #expect(user["exec"]?["command"]?.stringValue == "kubeconfig-service")
        #expect(user["exec"]?["interactiveMode"]?.stringValue == "Never")
        guard case .sequence(let arguments)? = user["exec"]?["args"] else {
            Issue.record("no args")
            return
        }
        #expect(
            arguments.compactMap(\.stringValue) == ["credential", "--site", "site-a", "--service", "https://kc.example.org"])
        // The server and CA are the site's: kubectl reaches the site itself, only the token comes from the plugin.
        #expect(exec.entry(in: "clusters", named: "site-a") == document.entry(in: "clusters", named: "site-a"))
        #expect(document.site(named: "nowhere", credentialPlugin: plugin) == nil)
    }

    @Test func theCallersFilesAreAddedToThePluginsArgumentsAndNothingElseChanges() throws {
        var document = try SiteDocumentTests.document()
        _ = try document.register(SiteDocumentTests.site("site-a", user: "site-a-user"), fallback: "central")
        let plugin = KubeconfigDocument.CredentialPlugin(serviceURL: "https://kc.example.org")
        let exec = try #require(document.site(named: "site-a", credentialPlugin: plugin))
        let completed = try #require(
            exec.addingCredentialPluginArguments(["--service-token-file", "/home/me/kc.token"]))
        guard case .sequence(let arguments)? = completed.entry(in: "users", named: "site-a-user")?["user"]?["exec"]?["args"]
        else {
            Issue.record("no args")
            return
        }
        #expect(
            arguments.compactMap(\.stringValue) == [
                "credential", "--site", "site-a", "--service", "https://kc.example.org", "--service-token-file",
                "/home/me/kc.token",
            ])
        #expect(completed.entry(in: "clusters", named: "site-a") == exec.entry(in: "clusters", named: "site-a"))
        #expect(completed.entry(in: "contexts", named: "site-a") == exec.entry(in: "contexts", named: "site-a"))
        // A kubeconfig whose users run no plugin of ours (another exec, a token) is not one to complete.
        #expect(try SiteDocumentTests.document().addingCredentialPluginArguments(["--x"]) == nil)
        #expect(document.site(named: "site-a")?.addingCredentialPluginArguments(["--x"]) == nil)
    }
}
