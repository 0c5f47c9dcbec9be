import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import TestFixtures
import Testing

@testable import KubeconfigService

/// The invariants between the document's token records and the credentials Secret: every
/// record's registration is in the Secret, every entry is named by its site's record or young,
/// every managed site renews or says why not; and the orderings that used to break them.
extension ManagedSitesTests {
    func register(_ site: String, expiration: Int = 3600) async throws -> SiteRegistry.Registration {
        try await registry.register(
            SiteRegistration(name: site, json: Self.body(site, bootstrap: "bootstrap-\(site)", expiration: expiration)))
    }

    /// A renewer as another process would start it (nothing in memory), with `grace` seconds.
    func freshRenewer(grace: TimeInterval) -> SiteTokenRenewer {
        let logger = Logger(label: "test")
        return SiteTokenRenewer(
            credentials: SiteCredentialStore(api: central, namespace: "onap", name: "site-credentials", logger: logger),
            remote: remotes, updater: DocumentUpdater(store: store, logger: logger), state: PublicationState(),
            gracePeriod: grace, logger: logger)
    }

    /// Stores `credential` under `key` as the service does, beside what the Secret holds.
    func storeEntry(_ key: String, _ credential: ManagedCredential) {
        var data = central.object(.secrets, namespace: "onap", name: "site-credentials")?.data ?? [:]
        data[key] = Data(SiteCredentialStore.encode(credential).utf8).base64EncodedString()
        central.put(.secrets, namespace: "onap", name: "site-credentials", data: data, version: "\(Int.random(in: 2...1 << 30))")
    }

    func dropEntry(_ key: String) {
        var data = central.object(.secrets, namespace: "onap", name: "site-credentials")?.data ?? [:]
        data[key] = nil
        central.put(.secrets, namespace: "onap", name: "site-credentials", data: data, version: "\(Int.random(in: 2...1 << 30))")
    }

    func credential(
        _ site: String, age: TimeInterval?, registration: String = ManagedCredential.newRegistration()
    )
        -> ManagedCredential
    {
        ManagedCredential(
            bootstrapToken: BearerToken("bootstrap-\(site)"),
            tokenRequest: TokenRequestSpec(serviceAccount: "deployer", namespace: "apps"),
            server: "https://\(site).example:6443", certificateAuthority: SiteFixtures.caPEM, tlsServerName: nil,
            registration: registration, createdAt: age.map { Date().addingTimeInterval(-$0) })
    }

    // MARK: - Registering again

    @Test func registeringAgainWithAnotherLifetimeRenewsUnderTheNewRegistration() async throws {
        remoteA.capTokenLifetime(1)
        _ = try await register("a")
        let first = try #require(try namedRegistration("a"))
        let again = try await register("a", expiration: 7200)
        #expect(again.changed, "a new lifetime is a change")
        let second = try #require(try namedRegistration("a"))
        #expect(second != first, "the record names the new registration")
        #expect(secretKeys() == ["a_\(second)"], "the old registration left the Secret, the new one is there")
        let token = try document().0.token(ofUser: "a")
        try await Task.sleep(for: .milliseconds(900))
        await renewer.pass()
        #expect(try document().0.token(ofUser: "a") != token, "still renewed")
        #expect(renewer.status(of: "a")?.renewalError == nil)
    }

    @Test func anIdenticalRegistrationMintsNothingAndWritesNothing() async throws {
        _ = try await register("a")
        let keys = secretKeys()
        let again = try await register("a")
        #expect(!again.changed && !again.created)
        #expect(remoteA.calls.count == 1 && secretKeys() == keys)
    }

    // MARK: - Cleanups

    @Test func aLateCleanupRemovesOnlyTheRegistrationItMeant() async throws {
        _ = try await register("a")
        let old = try #require(try namedRegistration("a"))
        _ = try await register("a", expiration: 7200)
        let new = try #require(try namedRegistration("a"))
        // A DELETE or pasted-token PUT that removed `old` from the document cleans up late.
        await renewer.release(site: "a", registration: old)
        #expect(secretKeys() == ["a_\(new)"], "the newer registration of the same name stays")
    }

    @Test func entriesNoRecordNamesAreRemovedOnceOlderThanTheGracePeriod() async throws {
        _ = try await register("a")
        let named = try #require(try namedRegistration("a"))
        let stale = credential("a", age: 60)
        let young = credential("a", age: 1)
        storeEntry("a_\(stale.registration)", stale)
        storeEntry("a_\(young.registration)", young)
        storeEntry("gone", credential("gone", age: nil, registration: "ffffffffffff"))  // written before ids
        await renewer.check()
        #expect(secretKeys() == ["a_\(named)", "a_\(young.registration)"].sorted())
        #expect(renewer.managedSitesReport().orphansRemoved == 2)
    }

    @Test func aRegistrationInterruptedBetweenItsTwoWritesLeavesAnEntryTheNextProcessRemoves() async throws {
        let site = try SiteRegistration(name: "a", json: Self.body("a", bootstrap: "bootstrap-a"))
        // The Secret is written, then the process dies before the document is.
        let dying = freshRenewer(grace: 0.05)
        let prepared = try await dying.prepare(site)
        #expect(secretKeys() == ["a_\(prepared.credential.registration)"])
        // A process never takes its own registration in flight for an orphan, however old.
        try await Task.sleep(for: .milliseconds(100))
        await dying.check()
        #expect(secretKeys().count == 1, "a registration in flight here is kept")
        // The next process does, past the grace period.
        await freshRenewer(grace: 0.05).check()
        #expect(secretKeys().isEmpty)
        #expect(try document().1.isEmpty, "nothing names it")
    }

    // MARK: - Records whose registration is gone

    @Test func aRecordWhoseRegistrationIsGoneIsReissuedUnderTheSitesNewestEntry() async throws {
        _ = try await register("a")
        let named = try #require(try namedRegistration("a"))
        let token = try document().0.token(ofUser: "a")
        dropEntry("a_\(named)")
        let adopted = credential("a", age: 60)
        storeEntry("a_\(adopted.registration)", adopted)
        await renewer.check()
        #expect(try namedRegistration("a") == adopted.registration)
        #expect(try document().0.token(ofUser: "a") != token, "a token issued under the adopted registration")
        #expect(renewer.managedSitesReport().reissued == 1)
        #expect(secretKeys() == ["a_\(adopted.registration)"])
    }

    @Test func aRecordWhoseRegistrationIsGoneWithNoOtherEntryShowsWhy() async throws {
        _ = try await register("a")
        dropEntry("a_\(try #require(try namedRegistration("a")))")
        await renewer.check()
        #expect(renewer.status(of: "a")?.renewalError?.code == .siteCredentialMissing)
        #expect(renewer.managedSitesReport().notRenewing.map(\.site) == ["a"])
    }

    // MARK: - The Secret's format

    @Test func anEntryWrittenBeforeRegistrationIdsNamesItsLegacyFingerprint() throws {
        let json = #"""
            {"bootstrapToken":"b","certificateAuthorityData":"\#(Self.ca)","server":"https://a.example:6443",
             "tokenRequest":{"audiences":[],"expirationSeconds":3600,"namespace":"apps","serviceAccount":"deployer"}}
            """#
        let decoded = try JSONDecoder().decode(ManagedCredential.self, from: Data(json.utf8))
        #expect(decoded.registration == decoded.legacyFingerprint && decoded.registration.count == 12)
        #expect(decoded.createdAt == nil)
        #expect(ManagedCredential.newRegistration().count == 16)
    }
}
