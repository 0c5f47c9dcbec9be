import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import TestFixtures
import Testing

@testable import KubeconfigService

/// The sinks as plain values: label selectors and labels, what each document version wants
/// (`SinkDerivation`), what a pass writes (`SinkReconciliation`); then passes of a `SecretSink`
/// against Secrets in memory.
@Suite struct SinkTests {
    static let ca = SiteFixtures.base64(SiteFixtures.caPEM)
    static let document = "configmap onap/multisite-kubeconfig-configmap"

    /// central (token), site-a (token, labelled env=prod), site-m (managed: a token record, in
    /// namespace apps), site-c (client certificate), site-x (exec).
    static func published(
        tokenOfA: String = "tok-a", labels: [String: [String: String]] = ["site-a": ["env": "prod"]]
    )
        throws -> PublishedDocument
    {
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - {name: central, cluster: {server: 'https://10.96.0.1:443', certificate-authority-data: \(ca)}}
            - {name: site-a, cluster: {server: 'https://a.example:6443', certificate-authority-data: \(ca), tls-server-name: api.a}}
            - {name: site-m, cluster: {server: 'https://m.example:6443', certificate-authority-data: \(ca)}}
            - {name: site-c, cluster: {server: 'https://c.example:6443', certificate-authority-data: \(ca)}}
            - {name: site-x, cluster: {server: 'https://x.example:6443'}}
            users:
            - {name: user00, user: {token: central-token}}
            - {name: site-a, user: {token: \(tokenOfA)}}
            - {name: site-m, user: {token: tok-m}}
            - {name: site-c, user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}}
            - {name: site-x, user: {exec: {command: login, apiVersion: client.authentication.k8s.io/v1}}}
            contexts:
            - {name: central, context: {cluster: central, user: user00}}
            - {name: site-a, context: {cluster: site-a, user: site-a, namespace: apps}}
            - {name: site-m, context: {cluster: site-m, user: site-m, namespace: apps}}
            - {name: site-c, context: {cluster: site-c, user: site-c}}
            - {name: site-x, context: {cluster: site-x, user: site-x}}
            current-context: central
            """
        var published = PublishedDocument(
            document: try KubeconfigDocument(parsing: text, origin: "test"), resourceVersion: "7")
        var annotations = [TokenRecord.annotationKey(location: "site-m"): "{}"]
        SiteLabels(labels).write(into: &annotations)
        published.annotations = annotations
        return published
    }

    static func derivation(_ kind: SinkKind, selector: String = "") throws -> SinkDerivation {
        SinkDerivation(
            sink: SinkConfiguration(kind: kind, namespace: "gitops", selector: try LabelSelector(parsing: selector)),
            document: document, location: "central", centralLabels: ["tier": "central"])
    }

    static func secret(_ plan: SitePlan?) -> SinkSecret? {
        guard case .write(let secret)? = plan else { return nil }
        return secret
    }

    // MARK: - Selectors and labels

    @Test func aSelectorReadsEqualitySetsAndExistenceAsKubernetesDoes() throws {
        let selector = try LabelSelector(parsing: "env in (prod, staging), tier!=db,!legacy,region")
        #expect(selector.matches(["env": "prod", "region": "eu"]))
        #expect(selector.matches(["env": "staging", "tier": "web", "region": ""]))
        #expect(!selector.matches(["env": "dev", "region": "eu"]))
        #expect(!selector.matches(["env": "prod", "tier": "db", "region": "eu"]))
        #expect(!selector.matches(["env": "prod", "legacy": "", "region": "eu"]))
        #expect(!selector.matches(["env": "prod"]))
        #expect(try LabelSelector(parsing: "env==prod").matches(["env": "prod"]))
        #expect(try LabelSelector(parsing: "env notin (dev)").matches([:]))
        #expect(try LabelSelector(parsing: "").matches([:]))
        #expect(try LabelSelector(parsing: "env=").matches(["env": ""]))
        for bad in ["=prod", "env in prod", "a,,b", "bad key=x", "env=a b"] {
            #expect(throws: ServiceError.self, "\(bad)") { try LabelSelector(parsing: bad) }
        }
    }

    @Test func siteLabelsAreCheckedAsKubernetesLabelsAndTheSinksOwnKeysAreRefused() throws {
        try SiteLabels.check(
            ["env": "prod", "example.org/team": "a_b.c", "empty": "", SinkDerivation.clusterWideLabel: "true"], field: "labels")
        for labels in [["bad key": "x"], ["env": "-x"], ["env": String(repeating: "a", count: 64)], ["a/b/c": "x"]] {
            #expect(throws: ServiceError.self) { try SiteLabels.check(labels, field: "labels") }
        }
        for key in ["app.kubernetes.io/managed-by", "argocd.argoproj.io/secret-type", "reconcile.fluxcd.io/watch"] {
            #expect(throws: ServiceError.self) { try SiteLabels.check([key: "x"], field: "labels") }
        }
    }

    @Test func aRegistrationCarriesItsLabelsAndTheDocumentKeepsThemWhileTheSiteIsThere() throws {
        let body: [String: Any] = [
            "server": "https://a.example:6443", "certificateAuthorityData": Self.ca, "token": "t",
            "labels": ["env": "prod"],
        ]
        let site = try SiteRegistration(name: "site-a", json: Array(try JSONSerialization.data(withJSONObject: body)))
        #expect(site.labels == ["env": "prod"])
        var refused = body
        refused["labels"] = ["env": 1]
        #expect(throws: ServiceError.self) {
            try SiteRegistration(name: "site-a", json: Array(try JSONSerialization.data(withJSONObject: refused)))
        }
        var content = DocumentContent(kubeconfig: KubeconfigDocument(), annotations: [:])
        try content.kubeconfig.register(site, fallback: "central")
        content.registerLabels(site.labels, site: "site-a")
        #expect(SiteLabels(annotations: content.annotations)["site-a"] == ["env": "prod"])
        content.removeLabels(site: "site-a")
        #expect(content.annotations[SiteLabels.annotationKey] == nil)
    }

    // MARK: - What a document version wants

    @Test func argoCDGetsNameServerAndConfigAsItsDeclarativeSetupDefinesThem() throws {
        let plans = try Self.derivation(.argocd).plans(for: try Self.published())
        let a = try #require(Self.secret(plans["site-a"]))
        #expect(a.name == "cluster-site-a")
        #expect(a.data["name"] == "site-a" && a.data["server"] == "https://a.example:6443")
        #expect(
            a.data["config"]
                == #"{"bearerToken":"tok-a","tlsClientConfig":{"caData":"\#(Self.ca)","insecure":false,"serverName":"api.a"}}"#)
        #expect(a.data["namespaces"] == nil, "a static site's rights are not known: cluster-wide")
        #expect(a.labels["argocd.argoproj.io/secret-type"] == "cluster" && a.labels["env"] == "prod")
        #expect(a.labels["app.kubernetes.io/managed-by"] == "kubeconfig-service")
        #expect(a.annotations["kubeconfig-service.onap.org/document"] == Self.document)
        let m = try #require(Self.secret(plans["site-m"]))
        #expect(m.data["namespaces"] == "apps" && m.data["clusterResources"] == "false")
        let c = try #require(Self.secret(plans["site-c"]))
        #expect(
            c.data["config"]
                == #"{"tlsClientConfig":{"caData":"\#(Self.ca)","certData":"Y2VydA==","insecure":false,"keyData":"a2V5"}}"#)
        #expect(Self.secret(plans["central"])?.labels["tier"] == "central")
        guard case .skipped(let why)? = plans["site-x"] else {
            Issue.record("an exec site is skipped")
            return
        }
        #expect(why.contains("exec"))
    }

    @Test func aManagedSiteLabelledClusterWideIsNotLimitedToItsNamespace() throws {
        let published = try Self.published(labels: ["site-m": [SinkDerivation.clusterWideLabel: "true"]])
        let m = try #require(Self.secret(try Self.derivation(.argocd).plans(for: published)["site-m"]))
        #expect(m.data["namespaces"] == nil && m.data["clusterResources"] == nil)
    }

    @Test func theKubeconfigSecretHoldsTheSiteAloneAsGetKubeconfigRendersIt() throws {
        let published = try Self.published()
        let plans = try Self.derivation(.kubeconfig).plans(for: published)
        let a = try #require(Self.secret(plans["site-a"]))
        #expect(a.name == "site-a-kubeconfig")
        #expect(a.data == ["value": String(decoding: try #require(published.site(named: "site-a")).yaml, as: UTF8.self)])
        #expect(a.labels["reconcile.fluxcd.io/watch"] == "Enabled")
        guard case .skipped(let why)? = plans["site-x"] else {
            Issue.record("an exec site is skipped")
            return
        }
        #expect(why.contains("Flux"))
    }

    @Test func theSelectorChoosesSitesByTheirLabelsAndTheSameDocumentAlwaysWantsTheSameBytes() throws {
        let derivation = try Self.derivation(.argocd, selector: "env=prod")
        let plans = derivation.plans(for: try Self.published())
        #expect(plans.keys.sorted() == ["site-a"])
        #expect(plans == derivation.plans(for: try Self.published()))
    }

    // MARK: - What a pass writes

    static func stored(_ secret: SinkSecret, version: String = "1", uid: String = "u") -> SecretObject {
        var object = secret.object(namespace: "gitops")
        object.metadata.resourceVersion = version
        object.metadata.uid = uid
        return object
    }

    @Test func aPassCreatesWhatIsMissingReplacesWhatDiffersAndDeletesWhatNoSiteWants() throws {
        let plans = try Self.derivation(.argocd).plans(for: try Self.published())
        let a = try #require(Self.secret(plans["site-a"]))
        let m = try #require(Self.secret(plans["site-m"]))
        var stale = Self.stored(m, version: "5")
        stale.data?["config"] = "old"
        var gone = Self.stored(a, version: "9", uid: "u-gone")
        gone.metadata.name = "cluster-removed"
        gone.metadata.annotations?["kubeconfig-service.onap.org/site"] = "removed"
        let observed = ["cluster-site-a": Self.stored(a), "cluster-site-m": stale, "cluster-removed": gone]
        let decision = SinkReconciliation(
            plans: plans, observed: observed, kind: .argocd, namespace: "gitops", document: Self.document, version: "7")
        #expect(decision.current == ["site-a"])
        #expect(decision.foreign.isEmpty)
        #expect(
            decision.actions == [
                .create(try #require(Self.secret(plans["central"]))), .create(try #require(Self.secret(plans["site-c"]))),
                .replace(m, resourceVersion: "5"),
                .delete(name: "cluster-removed", site: "removed", uid: "u-gone", resourceVersion: "9"),
            ])
    }

    @Test func aSiteSkippedForNowKeepsItsLastSecret() throws {
        // Another writer gave site-a a user this format cannot carry: its Secret stays (Argo CD
        // would otherwise drop the cluster's Applications); a removed site's still goes.
        var plans = try Self.derivation(.argocd).plans(for: try Self.published())
        let a = try #require(Self.secret(plans["site-a"]))
        plans["site-a"] = .skipped("its user runs an exec credential plugin")
        var gone = Self.stored(a, version: "9", uid: "u-gone")
        gone.metadata.name = "cluster-removed"
        let observed = ["cluster-site-a": Self.stored(a, version: "6", uid: "u-a"), "cluster-removed": gone]
        let decision = SinkReconciliation(
            plans: plans, observed: observed, kind: .argocd, namespace: "gitops", document: Self.document, version: "7")
        let deleted = decision.actions.compactMap { action -> String? in
            if case .delete(let name, _, _, _) = action { name } else { nil }
        }
        #expect(deleted == ["cluster-removed"])
    }

    @Test func anObjectThatIsNotOursIsNeverChangedOrDeletedAndTheSiteSaysWhy() throws {
        let plans = try Self.derivation(.argocd, selector: "env=prod").plans(for: try Self.published())
        let unlabelled = SecretObject(
            metadata: .init(name: "cluster-site-a", resourceVersion: "3", labels: ["team": "x"]), data: [:])
        var otherDocument = Self.stored(try #require(Self.secret(plans["site-a"])))
        otherDocument.metadata.name = "cluster-elsewhere"
        otherDocument.metadata.annotations?["kubeconfig-service.onap.org/document"] = "configmap other/doc"
        let decision = SinkReconciliation(
            plans: plans, observed: ["cluster-site-a": unlabelled, "cluster-elsewhere": otherDocument], kind: .argocd,
            namespace: "gitops", document: Self.document, version: "7")
        #expect(decision.actions.isEmpty)
        #expect(decision.foreign["site-a"]?.contains("gitops/cluster-site-a") == true)
    }

    @Test func aReplicaThatHasNotSeenTheLatestVersionLeavesObjectsWrittenFromItAlone() throws {
        let plans = try Self.derivation(.argocd).plans(for: try Self.published())
        var newer = Self.stored(try #require(Self.secret(plans["site-a"])), version: "20")
        newer.data?["config"] = "from version 9"
        newer.metadata.annotations?["kubeconfig-service.onap.org/document-version"] = "9"
        var added = newer
        added.metadata.name = "cluster-added-in-9"
        let decision = SinkReconciliation(
            plans: plans, observed: ["cluster-site-a": newer, "cluster-added-in-9": added], kind: .argocd,
            namespace: "gitops", document: Self.document, version: "7")
        #expect(decision.ahead == ["site-a"])
        #expect(!decision.actions.contains { if case .replace = $0 { true } else if case .delete = $0 { true } else { false } })
        let caughtUp = SinkReconciliation(
            plans: plans, observed: ["cluster-site-a": newer], kind: .argocd, namespace: "gitops", document: Self.document,
            version: "10")
        #expect(caughtUp.actions.contains { if case .replace = $0 { true } else { false } })
    }

    /// The document's size limit holds about 340 sites.
    static func manySites(_ count: Int, renewing renewed: Int? = nil) throws -> PublishedDocument {
        var clusters = "", users = "", contexts = ""
        for index in 0..<count {
            clusters +=
                "- {name: site-\(index), cluster: {server: 'https://s\(index).example:6443', certificate-authority-data: \(ca)}}\n"
            users += "- {name: site-\(index), user: {token: \(index == renewed ? "renewed" : "tok-\(index)")}}\n"
            contexts += "- {name: site-\(index), context: {cluster: site-\(index), user: site-\(index)}}\n"
        }
        let text = "apiVersion: v1\nkind: Config\nclusters:\n\(clusters)users:\n\(users)contexts:\n\(contexts)"
        return PublishedDocument(
            document: try KubeconfigDocument(parsing: text, origin: "test"), resourceVersion: renewed == nil ? "1" : "2")
    }

    @Test func renewingOneOfThreeHundredAndFortySitesWritesOneObject() throws {
        let count = 340
        let derivation = try Self.derivation(.kubeconfig)
        let before = derivation.plans(for: try Self.manySites(count))
        let observed = Dictionary(
            uniqueKeysWithValues: before.values.compactMap(Self.secret).map { ($0.name, Self.stored($0)) })
        let after = derivation.plans(for: try Self.manySites(count, renewing: 17))
        let decision = SinkReconciliation(
            plans: after, observed: observed, kind: .kubeconfig, namespace: "gitops", document: Self.document,
            version: "2")
        #expect(decision.current.count == count - 1)
        #expect(decision.actions.count == 1)
        guard case .replace(let secret, _)? = decision.actions.first else {
            Issue.record("one replacement")
            return
        }
        #expect(secret.name == "site-17-kubeconfig")
        #expect(secret.data["value"]?.contains("token: renewed") == true)
    }

    // MARK: - Passes against Secrets in memory

    static func sink(_ api: InMemorySecrets, state: PublicationState, selector: String = "") throws -> SecretSink {
        SecretSink(
            derivation: try derivation(.argocd, selector: selector), api: api, state: state,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Runs `body` while `sink` follows its namespace (listed once; the fake's watch is silent).
    static func following(_ sink: SecretSink, _ body: () async throws -> Void) async throws {
        let follower = Task { await sink.follow() }
        defer { follower.cancel() }
        _ = await eventually { sink.status.state != .starting }
        try await body()
    }

    @Test func aPassWritesOnceAndASecondPassWritesNothing() async throws {
        let api = InMemorySecrets()
        let state = PublicationState()
        state.stored(try Self.published())
        let sink = try Self.sink(api, state: state)
        try await Self.following(sink) {
            #expect(await sink.pass() == .done)
            // The central site is not written: no token was issued for an account of its own (the
            // pod's token would hand the sink's rights to the Secret's readers).
            #expect(api.names == ["cluster-site-a", "cluster-site-c", "cluster-site-m"])
            let writes = api.writes
            #expect(await sink.pass() == .done)
            #expect(api.writes == writes)
            #expect(sink.status(ofSite: "site-a")?.syncedAt != nil)
            #expect(sink.status(ofSite: "site-x")?.skipped != nil)
            // A renewal of one site: one write.
            state.stored(try Self.published(tokenOfA: "renewed"))
            #expect(await sink.pass() == .done)
            #expect(api.writes == writes + 1)
        }
    }

    @Test func aConflictReReadsAndTheNextPassConvergesWithoutFlapping() async throws {
        let api = InMemorySecrets()
        let state = PublicationState()
        state.stored(try Self.published())
        let sink = try Self.sink(api, state: state, selector: "env=prod")
        try await Self.following(sink) {
            #expect(await sink.pass() == .done)
            // Another replica writes the renewed token first: this pass's replace conflicts.
            let renewed = try Self.published(tokenOfA: "renewed")
            let theirs = try #require(Self.secret(try Self.derivation(.argocd).plans(for: renewed)["site-a"]))
            var object = theirs.object(namespace: "gitops")
            object.metadata.resourceVersion = api.object("cluster-site-a")?.metadata.resourceVersion
            api.put(object)
            state.stored(renewed)
            let version = api.object("cluster-site-a")?.metadata.resourceVersion
            #expect(await sink.pass() == .again)
            #expect(await sink.pass() == .done)
            #expect(
                api.object("cluster-site-a")?.metadata.resourceVersion == version,
                "the replica's object already says it: nothing written")
        }
    }

    @Test func aForbiddenNamespaceIsEverySitesErrorAndAForeignObjectIsLeftAlone() async throws {
        let api = InMemorySecrets()
        let state = PublicationState()
        state.stored(try Self.published())
        api.fail(.list, ServiceError(code: .apiForbidden, message: "forbidden: secrets is forbidden"))
        let sink = try Self.sink(api, state: state, selector: "env=prod")
        let foreign = api.put(SecretObject(metadata: .init(name: "cluster-site-a", labels: ["team": "x"]), data: ["k": "dg=="]))
        let follower = Task { await sink.follow() }
        defer { follower.cancel() }
        #expect(await eventually { sink.status.state == .failing })
        #expect(await sink.pass() == .failed)
        #expect(sink.status(ofSite: "site-a")?.error?.code == "APIServerForbidden")
        #expect(await eventually { sink.status.state == .watching })
        #expect(await sink.pass() == .again, "the create conflicts, and the object found is not ours")
        #expect(await sink.pass() == .failed)
        #expect(sink.status(ofSite: "site-a")?.error?.code == "SinkObjectNotOurs")
        #expect(api.object("cluster-site-a") == foreign)
        // Gone: the name is free.
        api.remove("cluster-site-a")
        #expect(await sink.pass() == .done)
        #expect(api.object("cluster-site-a")?.metadata.labels?["env"] == "prod")
    }
}
