import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Testing
import Yams

@testable import KubeconfigService

@Suite struct KubeconfigDocumentTests {
    static let caPEM = Fixtures.caPEM
    static let site = Fixtures.central

    func merged(_ yaml: String, _ site: SiteEntries = Self.site) throws -> [String: Any] {
        var document = try KubeconfigDocument(parsing: yaml, origin: "test")
        document.merge(site)
        return try #require(try Yams.load(yaml: document.yaml()) as? [String: Any])
    }

    func entry(_ document: [String: Any], _ section: String, _ name: String) -> [String: Any]? {
        (document[section] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    @Test func anEmptyValueStartsANewDocument() throws {
        for empty in ["", "  \n", "# only a comment\n", "~\n"] {
            let document = try merged(empty)
            #expect(document["apiVersion"] as? String == "v1")
            #expect(document["kind"] as? String == "Config")
            #expect((document["preferences"] as? [String: Any])?.isEmpty == true)
            #expect(document["current-context"] as? String == "central")
            let cluster = try #require(entry(document, "clusters", "central")?["cluster"] as? [String: Any])
            #expect(cluster["server"] as? String == "https://10.96.0.1:443")
            #expect(cluster["certificate-authority-data"] as? String == Data(Self.caPEM).base64EncodedString())
            let user = try #require(entry(document, "users", "user00")?["user"] as? [String: Any])
            #expect(user["token"] as? String == "central-token")
            let context = try #require(entry(document, "contexts", "central")?["context"] as? [String: Any])
            #expect(context["cluster"] as? String == "central")
            #expect(context["user"] as? String == "user00")
        }
    }

    static let multiSite = """
        apiVersion: v1
        kind: Config
        preferences:
          colors: true
        extensions:
        - name: dcae
          extension: {owner: platform}
        clusters:
        - name: edge1
          cluster:
            server: https://edge1.example:6443
            tls-server-name: edge1.internal
            proxy-url: http://proxy:3128
            extensions:
            - name: site
              extension: {zone: a}
        - name: central
          cluster:
            server: https://old:443
            certificate-authority: /old/ca.crt
            insecure-skip-tls-verify: true
            tls-server-name: kubernetes.default.svc
        users:
        - name: edge1-admin
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: get-token
        - name: user00
          user:
            token: stale
            client-certificate-data: Zm9v
            as: impersonated
        contexts:
        - name: edge1
          context: {cluster: edge1, user: edge1-admin, namespace: dcae}
        - name: central
          context: {cluster: central, user: user00, namespace: onap}
        current-context: edge1
        """

    @Test func otherSitesAndUnknownFieldsAreKept() throws {
        let document = try merged(Self.multiSite)
        let edge = try #require(entry(document, "clusters", "edge1")?["cluster"] as? [String: Any])
        #expect(edge["tls-server-name"] as? String == "edge1.internal")
        #expect(edge["proxy-url"] as? String == "http://proxy:3128")
        #expect((edge["extensions"] as? [[String: Any]])?.first?["name"] as? String == "site")
        let exec = (entry(document, "users", "edge1-admin")?["user"] as? [String: Any])?["exec"] as? [String: Any]
        #expect(exec?["command"] as? String == "get-token")
        #expect((entry(document, "contexts", "edge1")?["context"] as? [String: Any])?["namespace"] as? String == "dcae")
        #expect((document["preferences"] as? [String: Any])?["colors"] as? Bool == true)
        #expect((document["extensions"] as? [[String: Any]])?.first?["name"] as? String == "dcae")
        #expect(document["current-context"] as? String == "edge1")
    }

    @Test func ourEntriesAreUpdatedInPlaceDroppingOnlyContradictions() throws {
        let document = try merged(Self.multiSite)
        let cluster = try #require(entry(document, "clusters", "central")?["cluster"] as? [String: Any])
        #expect(cluster["server"] as? String == "https://10.96.0.1:443")
        #expect(cluster["tls-server-name"] as? String == "kubernetes.default.svc")
        #expect(cluster["certificate-authority"] == nil)
        #expect(cluster["insecure-skip-tls-verify"] == nil)
        let user = try #require(entry(document, "users", "user00")?["user"] as? [String: Any])
        #expect(user["token"] as? String == "central-token")
        #expect(user["client-certificate-data"] == nil)
        #expect(user["as"] as? String == "impersonated")
        let context = try #require(entry(document, "contexts", "central")?["context"] as? [String: Any])
        #expect(context["namespace"] as? String == "onap")
        // Order of sites is kept: edge1 stays first.
        #expect((document["clusters"] as? [[String: Any]])?.map { $0["name"] as? String } == ["edge1", "central"])
    }

    @Test func currentContextNamingAMissingContextBecomesTheLocation() throws {
        let document = try merged("apiVersion: v1\nkind: Config\ncurrent-context: gone\n")
        #expect(document["current-context"] as? String == "central")
    }

    @Test func duplicateEntriesOfOurNamesCollapseToOne() throws {
        let yaml = """
            clusters:
            - {name: central, cluster: {server: https://a}}
            - {name: other, cluster: {server: https://o}}
            - {name: central, cluster: {server: https://b}}
            """
        let document = try merged(yaml)
        #expect((document["clusters"] as? [[String: Any]])?.map { $0["name"] as? String } == ["central", "other"])
    }

    @Test(arguments: [
        ("clusters: [unclosed", "not valid YAML"),
        ("just a string", "not a mapping"),
        ("- a\n- b\n", "not a mapping"),
        ("apiVersion: v1\nkind: Pod\n", "kind is not Config"),
        ("clusters: {name: x}\n", "clusters is not a list"),
        ("users:\n- just-a-name\n", "an entry of users is not a mapping"),
        ("a: 1\n---\nb: 2\n", "several YAML documents"),
        ("current-context: [a]\n", "current-context is not a string"),
    ])
    func somethingThatIsNotAKubeconfigIsRefused(yaml: String, reason: String) {
        #expect {
            try KubeconfigDocument(parsing: yaml, origin: "key \"kubeconfig\" of configmap onap/x")
        } throws: { error in
            guard let error = error as? ServiceError else { return false }
            return error.code == .documentNotKubeconfig && error.message.contains(reason)
                && error.message.contains("onap/x") && error.message.contains("refusing to overwrite")
        }
    }

    @Test func aliasBombsAreRefusedNotExpanded() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let previous = "*a\(level - 1)"
            yaml += "a\(level): &a\(level) [\(Array(repeating: previous, count: 10).joined(separator: ", "))]\n"
        }
        #expect {
            try KubeconfigDocument(parsing: yaml, origin: "test")
        } throws: { ($0 as? ServiceError)?.message.contains("500000 YAML nodes") == true }
    }

    @Test func certificateAuthorityDataIsAPlainBase64String() throws {
        var document = KubeconfigDocument()
        document.merge(Self.site)
        let yaml = document.yaml()
        #expect(!yaml.contains("!!"))
        #expect(yaml.contains("certificate-authority-data: \(Data(Self.caPEM).base64EncodedString())\n"))
    }

    @Test func valuesThatLookLikeOtherTypesStayStrings() throws {
        var site = Self.site
        site.token = BearerToken("12345")
        site.location = "true"
        site.user = "0x10"
        var document = KubeconfigDocument()
        document.merge(site)
        let reread = try #require(try Yams.load(yaml: document.yaml()) as? [String: Any])
        #expect(((reread["users"] as? [[String: Any]])?.first?["user"] as? [String: Any])?["token"] as? String == "12345")
        #expect(reread["current-context"] as? String == "true")
        #expect((reread["users"] as? [[String: Any]])?.first?["name"] as? String == "0x10")
    }

    @Test func quotedScalarsKeepTheirTypeThroughAMerge() throws {
        let document = try merged("preferences: {flag: 'yes', count: \"7\", real: 7}\n")
        let preferences = try #require(document["preferences"] as? [String: Any])
        #expect(preferences["flag"] as? String == "yes")
        #expect(preferences["count"] as? String == "7")
        #expect(preferences["real"] as? Int == 7)
    }

    @Test func mergingTwiceChangesNothing() throws {
        var once = KubeconfigDocument()
        once.merge(Self.site)
        var twice = try KubeconfigDocument(parsing: once.yaml(), origin: "test")
        let before = twice
        twice.merge(Self.site)
        #expect(twice == before)
    }

    @Test func aRotatedTokenIsAChange() throws {
        var document = KubeconfigDocument()
        document.merge(Self.site)
        let before = document
        var rotated = Self.site
        rotated.token = BearerToken("rotated")
        document.merge(rotated)
        #expect(document != before)
    }

    @Test func jsonFormTypesScalars() throws {
        let document = try KubeconfigDocument(
            parsing: "preferences: {a: 1, b: true, c: null, d: '1', e: 1.5, f: \"x\\ny\"}\n", origin: "test")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(document.json().utf8)) as? [String: Any])
        let preferences = try #require(json["preferences"] as? [String: Any])
        #expect(preferences["a"] as? Int == 1)
        #expect(preferences["b"] as? Bool == true)
        #expect(preferences["c"] is NSNull)
        #expect(preferences["d"] as? String == "1")
        #expect(preferences["e"] as? Double == 1.5)
        #expect(preferences["f"] as? String == "x\ny")
    }

    @Test func oneSiteIsExtractedWithItsOwnEntries() throws {
        var document = try KubeconfigDocument(parsing: Self.multiSite, origin: "test")
        document.merge(Self.site)
        let edge = try #require(document.site(named: "edge1"))
        let parsed = try #require(try Yams.load(yaml: edge.yaml()) as? [String: Any])
        #expect(parsed["current-context"] as? String == "edge1")
        #expect((parsed["clusters"] as? [[String: Any]])?.map { $0["name"] as? String } == ["edge1"])
        #expect((parsed["users"] as? [[String: Any]])?.map { $0["name"] as? String } == ["edge1-admin"])
        #expect((parsed["contexts"] as? [[String: Any]])?.map { $0["name"] as? String } == ["edge1"])
        #expect(!edge.yaml().contains("central-token"))
        #expect(document.site(named: "nowhere") == nil)
    }
}
