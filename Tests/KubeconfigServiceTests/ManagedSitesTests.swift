import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Synchronization
import TestFixtures
import Testing

@testable import KubeconfigService

/// Managed sites: registrations that carry a bootstrap credential, and their tokens' renewal,
/// against remote sites scripted in memory.
@Suite struct ManagedSitesTests {
    /// Remote API servers by URL; each accepts only its bootstrap token.
    final class ScriptedRemotes: RemoteTokenRequestAPI {
        let sites: [String: (api: ScriptedKubernetesAPI, bootstrap: String)]
        let down = Mutex<Set<String>>([])

        init(_ sites: [String: (api: ScriptedKubernetesAPI, bootstrap: String)]) { self.sites = sites }

        func requestToken(
            at endpoint: ClusterEndpoint, namespace: String, serviceAccount: String, expirationSeconds: Int,
            audiences: [String]
        ) async throws(ServiceError) -> IssuedToken {
            guard let site = sites[endpoint.server], !down.withLock({ $0.contains(endpoint.server) }) else {
                throw ServiceError(code: .siteConnectionRefused, message: "\(endpoint.server) refused the connection")
            }
            if endpoint.credential == .token(BearerToken("expired")) {
                throw ServiceError(code: .apiUnauthorized, message: "unauthorized: Unauthorized")
            }
            guard endpoint.credential == .token(BearerToken(site.bootstrap)) else {
                throw ServiceError(code: .apiForbidden, message: "forbidden: not the bootstrap credential")
            }
            return try await site.api.requestToken(
                namespace: namespace, serviceAccount: serviceAccount, expirationSeconds: expirationSeconds,
                audiences: audiences)
        }
    }

    let central = ScriptedKubernetesAPI()
    let remoteA = ScriptedKubernetesAPI()
    let remoteB = ScriptedKubernetesAPI()
    let remotes: ScriptedRemotes
    let store: InMemoryDocumentStore
    let state = PublicationState()
    let renewer: SiteTokenRenewer
    let registry: SiteRegistry
    static let ca = SiteFixtures.base64(SiteFixtures.caPEM)

    init() {
        let logger = Logger(label: "test")
        remotes = ScriptedRemotes([
            "https://a.example:6443": (remoteA, "bootstrap-a"), "https://b.example:6443": (remoteB, "bootstrap-b"),
        ])
        central.put(.secrets, namespace: "onap", name: "site-credentials", data: nil)
        store = InMemoryDocumentStore(text: "")
        let updater = DocumentUpdater(store: store, logger: logger)
        renewer = SiteTokenRenewer(
            credentials: SiteCredentialStore(api: central, namespace: "onap", name: "site-credentials", logger: logger),
            remote: remotes, updater: updater, state: state, logger: logger)
        registry = SiteRegistry(location: "central", updater: updater, state: state, renewer: renewer)
    }

    static func body(_ site: String, bootstrap: String, expiration: Int = 3600) -> [UInt8] {
        Array(
            #"""
            {"server":"https://\#(site).example:6443","certificateAuthorityData":"\#(ca)","bootstrapToken":"\#(bootstrap)",
             "tokenRequest":{"serviceAccount":"deployer","namespace":"apps","expirationSeconds":\#(expiration)}}
            """#.utf8)
    }

    func document() throws -> (KubeconfigDocument, [String: String]) {
        let stored = try #require(store.stored)
        return (try KubeconfigDocument(parsing: stored.text ?? "", origin: "test"), stored.annotations)
    }

    func secretKeys() -> [String] {
        (central.object(.secrets, namespace: "onap", name: "site-credentials")?.data ?? [:]).keys.sorted()
    }

    /// The sites the Secret holds registrations of, one entry per registration.
    func secretSites() -> [String] {
        secretKeys().map { String($0.prefix { $0 != "_" }) }
    }

    /// The registration the document's record of `site` names.
    func namedRegistration(_ site: String) throws -> String? {
        try document().1[TokenRecord.annotationKey(location: site)].flatMap(TokenRecord.init)?.credential
    }

    // MARK: - Parsing

    @Test func aTokenRequestBlockIsReadWithItsDefaults() throws {
        let site = try SiteRegistration(
            name: "edge",
            json: Array(
                #"{"server":"https://e:1","certificateAuthorityData":"\#(Self.ca)","namespace":"apps","bootstrapToken":"b","tokenRequest":{"serviceAccount":"deployer"}}"#
                    .utf8))
        #expect(
            site.credential
                == .issued(TokenRequestSpec(serviceAccount: "deployer", namespace: "apps"), bootstrap: BearerToken("b")))
    }

    @Test func badTokenRequestsAreRefusedByField() {
        let cases: [(String, String)] = [
            (#""tokenRequest":{"serviceAccount":"deployer","namespace":"apps"}"#, "bootstrapToken:"),
            (#""bootstrapToken":"b""#, "tokenRequest:"),
            (
                #""bootstrapToken":"b","tokenRequest":{"serviceAccount":"deployer","namespace":"apps","expirationSeconds":10}"#,
                "tokenRequest.expirationSeconds:"
            ),
            (
                #""bootstrapToken":"b","tokenRequest":{"serviceAccount":"deployer","namespace":"apps","expirationSeconds":"1h"}"#,
                "tokenRequest.expirationSeconds:"
            ),
            (
                #""bootstrapToken":"b","tokenRequest":{"serviceAccount":"deployer","namespace":"apps","lifetime":600}"#,
                "tokenRequest.lifetime:"
            ),
            (
                #""bootstrapToken":"b","tokenRequest":{"serviceAccount":"deployer","namespace":"apps","audiences":[1]}"#,
                "tokenRequest.audiences:"
            ),
            (#""bootstrapToken":"b","tokenRequest":{"serviceAccount":"deployer"}"#, "tokenRequest.namespace:"),
            (#""bootstrapToken":"b c","tokenRequest":{"serviceAccount":"deployer","namespace":"apps"}"#, "bootstrapToken:"),
            (#""token":"t","bootstrapToken":"b","tokenRequest":{"serviceAccount":"deployer","namespace":"apps"}"#, "token:"),
            (#""bootstrapToken":"b","tokenRequest":"deployer""#, "tokenRequest:"),
        ]
        for (fields, field) in cases {
            let body = Array(#"{"server":"https://e:1","certificateAuthorityData":"\#(Self.ca)",\#(fields)}"#.utf8)
            do {
                _ = try SiteRegistration(name: "edge", json: body)
                Issue.record("accepted: \(field)")
            } catch {
                #expect(error.code == .invalidSite)
                #expect(error.message.hasPrefix(field), "\(field): \(error.message)")
                #expect(!error.message.contains("\"b\""))
            }
        }
        let long = String(repeating: "a", count: 58)
        do {
            _ = try SiteRegistration(name: long, json: Self.body("a", bootstrap: "b"))
            Issue.record("a 58-character managed site name was accepted")
        } catch {
            #expect(error.message.hasPrefix("name:"))
        }
    }

    // MARK: - Registration and renewal

    @Test func registrationIssuesTheTokenAndKeepsTheBootstrapCredentialOutOfTheDocument() async throws {
        let result = try await registry.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "bootstrap-a")))
        #expect(result.created)
        let (document, annotations) = try document()
        #expect(document.token(ofUser: "a") == "token-1")
        let record = try #require(annotations[TokenRecord.annotationKey(location: "a")].flatMap(TokenRecord.init))
        #expect(record.serviceAccount == "apps/deployer")
        #expect(record.fingerprint == BearerToken("token-1").fingerprint)
        let text = store.stored?.text ?? ""
        #expect(!text.contains("bootstrap-a"))
        #expect(!annotations.values.contains { $0.contains("bootstrap-a") })
        #expect(secretKeys() == ["a_\(try #require(record.credential))"], "one key, of the registration the record names")
        #expect(remoteA.calls == ["TokenRequest apps/deployer"])
        // A pass finds the fresh token and asks for nothing.
        await renewer.pass()
        #expect(remoteA.calls.count == 1)
    }

    @Test func aRefusedBootstrapCredentialWritesNothing() async throws {
        let before = store.stored
        do {
            _ = try await registry.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "wrong")))
            Issue.record("registered with a refused bootstrap credential")
        } catch {
            #expect(error.code == .tokenRequestForbidden)
            #expect(error.message.contains("site a refused its bootstrap credential"))
        }
        #expect(store.stored == before)
        #expect(secretKeys().isEmpty)
    }

    @Test func aBootstrapCredentialRejectedWith401IsSaidToBeInvalidOrExpiredNotToLackARight() async throws {
        let before = store.stored
        do {
            _ = try await registry.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "expired")))
            Issue.record("registered with an expired bootstrap credential")
        } catch {
            #expect(error.code == .bootstrapCredentialRejected)
            #expect(error.message.contains("site a rejected its bootstrap credential as invalid or expired"))
            #expect(error.message.contains("register the site again"))
            #expect(!error.message.contains("serviceaccounts/token"), "a 401 is no missing right")
        }
        #expect(store.stored == before)
        #expect(secretKeys().isEmpty)
    }

    @Test func aDueTokenIsRenewedAndAFailingSiteAffectsNoOther() async throws {
        remoteA.capTokenLifetime(1)
        remoteB.capTokenLifetime(1)
        _ = try await registry.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "bootstrap-a")))
        _ = try await registry.register(SiteRegistration(name: "b", json: Self.body("b", bootstrap: "bootstrap-b")))
        remotes.down.withLock { _ = $0.insert("https://b.example:6443") }
        // Which tokens the registrations left (on a slow machine a 1 s token may already have
        // been renewed once while the second site registered).
        let registered = try document().0
        let tokenA = try #require(registered.token(ofUser: "a"))
        let tokenB = try #require(registered.token(ofUser: "b"))
        try await Task.sleep(for: .milliseconds(900))
        await renewer.pass()
        let (document, _) = try document()
        #expect(document.token(ofUser: "a") != tokenA, "site a renewed")
        #expect(document.token(ofUser: "b") == tokenB, "site b keeps its token while down")
        let annotations = try self.document().1
        #expect(
            annotations[TokenRecord.annotationKey(location: "b")].flatMap(TokenRecord.init)?.fingerprint
                == BearerToken(tokenB).fingerprint)
        #expect(renewer.status(of: "b")?.renewalError?.code == .siteConnectionRefused)
        #expect(renewer.status(of: "a")?.renewalError == nil)
    }

    @Test func aTokenAProbeFoundRejectedIsRenewedAtOnce() async throws {
        _ = try await registry.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "bootstrap-a")))
        await renewer.pass()
        renewer.credentialRejected(site: "a", fingerprint: BearerToken("token-1").fingerprint)
        await renewer.pass()
        #expect(try document().0.token(ofUser: "a") == "token-2")
        // Once replaced, the rejection is forgotten: the next pass asks for nothing.
        await renewer.pass()
        #expect(remoteA.calls.count == 2)
    }

    @Test func aPastedTokenOrARemovalEndsManagement() async throws {
        _ = try await registry.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "bootstrap-a")))
        _ = try await registry.register(SiteRegistration(name: "b", json: Self.body("b", bootstrap: "bootstrap-b")))
        let pasted = Array(#"{"server":"https://a.example:6443","certificateAuthorityData":"\#(Self.ca)","token":"pasted"}"#.utf8)
        _ = try await registry.register(SiteRegistration(name: "a", json: pasted))
        #expect(secretSites() == ["b"])
        var (document, annotations) = try document()
        #expect(document.token(ofUser: "a") == "pasted")
        #expect(annotations[TokenRecord.annotationKey(location: "a")] == nil)
        _ = try await registry.remove("b")
        #expect(secretKeys().isEmpty)
        (document, annotations) = try self.document()
        #expect(annotations[TokenRecord.annotationKey(location: "b")] == nil)
        await renewer.pass()
        #expect(remoteA.calls.count == 1 && remoteB.calls.count == 1)
        #expect(try self.document().0.token(ofUser: "a") == "pasted")
    }

    @Test func withoutACredentialsSecretAManagedRegistrationIsRefused() async throws {
        let plain = SiteRegistry(
            location: "central", updater: DocumentUpdater(store: store, logger: Logger(label: "test")), state: state)
        let before = store.stored
        do {
            _ = try await plain.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "bootstrap-a")))
            Issue.record("registered a managed site without a credentials Secret")
        } catch {
            #expect(error.code == .invalidSite)
        }
        #expect(remoteA.calls.isEmpty)
        #expect(store.stored == before)
    }

    @Test func aRegistrationWhoseEditFailsLeavesNoCredential() async throws {
        // Site `user00`'s user entry belongs to another context: the edit fails after prepare.
        _ = try await registry.register(
            SiteRegistration(
                name: "other",
                json: Array(
                    #"{"server":"https://o:1","certificateAuthorityData":"\#(Self.ca)","token":"t","user":"shared"}"#.utf8)))
        var body = String(decoding: Self.body("a", bootstrap: "bootstrap-a"), as: UTF8.self)
        body = body.replacingOccurrences(of: #""bootstrapToken""#, with: #""user":"shared","bootstrapToken""#)
        do {
            _ = try await registry.register(SiteRegistration(name: "a", json: Array(body.utf8)))
            Issue.record("registered over another context's user")
        } catch {
            #expect(error.code == .siteConflict)
        }
        #expect(secretKeys().isEmpty, "the credential stored before the edit is removed")
        #expect(renewer.status(of: "a") == nil)
    }

    @Test func aHandEditedClusterEntryNeverReceivesTheBootstrapCredential() async throws {
        remoteA.capTokenLifetime(1)
        _ = try await registry.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "bootstrap-a")))
        // Someone who may edit the document points site a at another server (b's).
        var document = try document().0
        var cluster = try #require(document.entry(in: "clusters", named: "a"))
        var body = try #require(cluster["cluster"])
        body.set("server", .string("https://b.example:6443"))
        cluster.set("cluster", body)
        if case .sequence(var entries)? = document.root["clusters"] {
            entries[0] = cluster
            document.root.set("clusters", .sequence(entries))
        }
        let version = try #require(store.stored?.version)
        _ = try await store.write(document.yaml(), annotations: [:], ifVersion: version)
        try await Task.sleep(for: .milliseconds(900))
        let callsBefore = remoteA.calls.count
        await renewer.pass()
        #expect(remoteB.calls.isEmpty, "the bootstrap credential went to the server the document names")
        #expect(
            remoteA.calls.count == callsBefore, "nor is the token renewed at the registered server behind the entry's back")
        #expect(renewer.status(of: "a")?.renewalError?.code == .siteConflict)
    }

    @Test func twoReplicasRenewingOneSiteMintAtMostOneTokenEachAndWriteOnce() async throws {
        // 10 s lifetimes: due after 7.5 to 8 s, long after the registration and the other replica's
        // first pass, even on a machine busy enough to take seconds over them.
        remoteA.capTokenLifetime(10)
        _ = try await registry.register(SiteRegistration(name: "a", json: Self.body("a", bootstrap: "bootstrap-a")))
        let logger = Logger(label: "test")
        let other = SiteTokenRenewer(
            credentials: SiteCredentialStore(api: central, namespace: "onap", name: "site-credentials", logger: logger),
            remote: remotes, updater: DocumentUpdater(store: store, logger: logger), state: PublicationState(),
            logger: logger)
        await other.pass()
        #expect(remoteA.calls.count == 1, "the other replica adopts the registered token")
        // Versions count successful writes (a write that lost a race to the other replica is a
        // call, not a version).
        let versionBefore = Int(store.stored?.version ?? "") ?? 0
        try await Task.sleep(for: .milliseconds(8100))
        // Both due: each may mint, but only one token reaches the document; the other adopts it.
        async let first: Void = renewer.pass()
        async let second: Void = other.pass()
        _ = await (first, second)
        #expect((2...3).contains(remoteA.calls.count))
        #expect(Int(store.stored?.version ?? "") == versionBefore + 1, "one write per renewal, whichever replica won")
        await renewer.pass()
        await other.pass()
        #expect((2...3).contains(remoteA.calls.count), "after a renewal, nobody asks again before the next point")
    }
}

extension SiteTokenRenewer {
    /// A check of the invariants, then every due site renewed, waiting for each.
    func pass() async {
        await check()
        await renewDue()
    }
}
