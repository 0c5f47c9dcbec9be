import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Testing

@testable import KubeconfigService

/// A site's cluster id (the remote's `kube-system` UID): the same cluster under two names is
/// refused, in the round that writes, unless asked for.
extension ManagedSitesTests {
    static let clusterA = "6f1c2d0e-6a1b-4c8e-9a57-0c1d2e3f4a5b"

    /// A static registration of `name` as the cluster `id`.
    static func staticSite(_ name: String, id: String?, allowDuplicate: Bool? = nil) throws(ServiceError) -> SiteRegistration {
        var fields = #""server":"https://\#(name).example:6443","certificateAuthorityData":"\#(ca)","token":"t-\#(name)""#
        if let id { fields += #","clusterId":"\#(id)""# }
        if let allowDuplicate { fields += #","allowDuplicateCluster":\#(allowDuplicate)"# }
        return try SiteRegistration(name: name, json: Array("{\(fields)}".utf8))
    }

    /// A managed registration of `site` (a or b) as the cluster `id`.
    static func managedSite(_ site: String, id: String, allowDuplicate: Bool = false) throws(ServiceError) -> SiteRegistration {
        var body = String(decoding: body(site, bootstrap: "bootstrap-\(site)"), as: UTF8.self)
        body = body.replacingOccurrences(
            of: #""bootstrapToken""#, with: #""clusterId":"\#(id)","allowDuplicateCluster":\#(allowDuplicate),"bootstrapToken""#)
        return try SiteRegistration(name: site, json: Array(body.utf8))
    }

    static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    func clusterIDs() throws -> [String: String] { ClusterIdentities(annotations: try document().1).ids }

    // MARK: - Parsing

    @Test func aRegistrationCarriesItsClusterIdAndWhetherADuplicateIsAllowed() throws {
        let plain = try Self.staticSite("edge", id: nil)
        #expect(plain.clusterID == nil && !plain.allowsDuplicateCluster)
        let site = try Self.staticSite("edge", id: Self.clusterA, allowDuplicate: true)
        #expect(site.clusterID == Self.clusterA && site.allowsDuplicateCluster)
        #expect(try Self.managedSite("a", id: Self.clusterA).clusterID == Self.clusterA)
    }

    @Test func badClusterIdsAreRefusedByField() {
        let cases: [(String, String)] = [
            (#""clusterId":"""#, "clusterId:"), (#""clusterId":"a b""#, "clusterId:"),
            (#""clusterId":"\#(String(repeating: "x", count: 129))""#, "clusterId:"),
            (#""clusterId":"caf\u00e9""#, "clusterId:"), (#""clusterId":7"#, "clusterId:"),
            (#""clusterId":"x","allowDuplicateCluster":"yes""#, "allowDuplicateCluster:"),
        ]
        for (fields, field) in cases {
            let body = #"{"server":"https://e:1","certificateAuthorityData":"\#(Self.ca)","token":"t",\#(fields)}"#
            do {
                _ = try SiteRegistration(name: "edge", json: Array(body.utf8))
                Issue.record("accepted: \(fields)")
            } catch {
                #expect(error.code == .invalidSite)
                #expect(error.message.hasPrefix(field), "\(field): \(error.message)")
            }
        }
        #expect((try? Self.staticSite("edge", id: String(repeating: "x", count: 128))) != nil)
    }

    @Test func anEntryWrittenBeforeClusterIdsDecodesWithoutOne() throws {
        var credential = credential("a", age: nil)
        let old = SiteCredentialStore.encode(credential)
        #expect(!old.contains("clusterId"))
        #expect(try Self.decoder.decode(ManagedCredential.self, from: Data(old.utf8)).clusterID == nil)
        credential.clusterID = Self.clusterA
        let new = SiteCredentialStore.encode(credential)
        #expect(new.contains(#""clusterId":"\#(Self.clusterA)""#))
        #expect(try Self.decoder.decode(ManagedCredential.self, from: Data(new.utf8)) == credential)
    }

    // MARK: - The same cluster under two names

    @Test func aSecondNameForAClusterIsRefusedNamingTheFirstAndTheFix() async throws {
        _ = try await registry.register(try Self.staticSite("edge-1", id: Self.clusterA))
        #expect(try clusterIDs() == ["edge-1": Self.clusterA])
        let before = store.stored
        do {
            _ = try await registry.register(try Self.staticSite("edge-2", id: Self.clusterA))
            Issue.record("the same cluster registered under a second name")
        } catch {
            #expect(error.code == .siteClusterConflict)
            #expect(error.message.contains("already registered as site edge-1"))
            #expect(error.message.contains("remove edge-1 first, or register with allowDuplicateCluster: true"))
        }
        #expect(store.stored == before, "nothing written")
    }

    @Test func registeringTheSameNameAsTheSameClusterAgainIsFine() async throws {
        _ = try await registry.register(try Self.staticSite("edge-1", id: Self.clusterA))
        let again = try await registry.register(try Self.staticSite("edge-1", id: Self.clusterA))
        #expect(!again.changed)
        #expect(again.site.clusterId == Self.clusterA)
        // Another cluster under the same name is a new registration of that name, not a duplicate.
        _ = try await registry.register(try Self.staticSite("edge-1", id: "other-cluster"))
        #expect(try clusterIDs() == ["edge-1": "other-cluster"])
    }

    @Test func aDuplicateIsRegisteredWhenAskedForAndTheFirstMayStillBeRegisteredAgain() async throws {
        _ = try await registry.register(try Self.staticSite("edge-1", id: Self.clusterA))
        let second = try await registry.register(try Self.staticSite("edge-2", id: Self.clusterA, allowDuplicate: true))
        #expect(second.created)
        #expect(try clusterIDs() == ["edge-1": Self.clusterA, "edge-2": Self.clusterA])
        // Neither re-registration adds a name for the cluster.
        _ = try await registry.register(try Self.staticSite("edge-1", id: Self.clusterA))
        _ = try await registry.register(try Self.staticSite("edge-2", id: Self.clusterA))
        await #expect(throws: ServiceError.self) {
            _ = try await registry.register(try Self.staticSite("edge-3", id: Self.clusterA))
        }
    }

    @Test func aRemovedSiteFreesItsCluster() async throws {
        _ = try await registry.register(try Self.staticSite("edge-1", id: Self.clusterA))
        _ = try await registry.remove("edge-1")
        #expect(try document().1[ClusterIdentities.annotationKey] == nil, "the last id leaves with its site")
        _ = try await registry.register(try Self.staticSite("edge-2", id: Self.clusterA))
        #expect(try clusterIDs() == ["edge-2": Self.clusterA])
    }

    @Test func aSiteRemovedByAnotherWriterHoldsNoCluster() async throws {
        _ = try await registry.register(try Self.staticSite("edge-1", id: Self.clusterA))
        var document = try self.document().0
        let removed = document.removeSite(named: "edge-1", fallback: "central")
        #expect(removed)
        _ = store.externalWrite(document.yaml())
        _ = try await registry.register(try Self.staticSite("edge-2", id: Self.clusterA))
        #expect(try clusterIDs() == ["edge-2": Self.clusterA], "the stale id is dropped as the new one is written")
    }

    /// The check that holds is the round's: a replica whose served document does not show the
    /// other registration yet (written by another replica just before this one's round read the
    /// object) is still refused, and a 409 on the write reads the other registration too.
    @Test func theCheckIsMadeInTheRoundThatWritesNotOnTheServedDocument() async throws {
        // Another replica wrote edge-1 as the cluster; this replica has not seen it.
        var document = try KubeconfigDocument(parsing: "", origin: "test")
        try document.register(try Self.staticSite("edge-1", id: nil), fallback: "central")
        _ = store.externalWrite(
            document.yaml(), annotations: [ClusterIdentities.annotationKey: #"{"edge-1":"\#(Self.clusterA)"}"#])
        #expect(state.published == nil)
        await #expect(throws: ServiceError.self) {
            _ = try await registry.register(try Self.staticSite("edge-2", id: Self.clusterA))
        }
        #expect(try clusterIDs() == ["edge-1": Self.clusterA])
    }

    @Test func twoNamesForOneClusterAtOnceThroughTwoReplicasLandOnce() async throws {
        // Replica 2 shares the store; its registration of edge-2 runs just before replica 1's
        // first write, so replica 1's write conflicts and its next round reads edge-2.
        let replica2 = SiteRegistry(
            location: "central", updater: DocumentUpdater(store: store, logger: .init(label: "r2")), state: PublicationState())
        let interleaved = InterleavingStore(store) {
            _ = try? await replica2.register(try Self.staticSite("edge-2", id: Self.clusterA))
        }
        let replica1 = SiteRegistry(
            location: "central", updater: DocumentUpdater(store: interleaved, logger: .init(label: "r1")),
            state: PublicationState())
        do {
            _ = try await replica1.register(try Self.staticSite("edge-1", id: Self.clusterA))
            Issue.record("both names of the cluster landed")
        } catch {
            #expect(error.code == .siteClusterConflict)
            #expect(error.message.contains("already registered as site edge-2"))
        }
        #expect(try clusterIDs() == ["edge-2": Self.clusterA])
        #expect(try self.document().0.contextNames == ["edge-2"])
    }

    @Test func aManagedSecondNameIsRefusedBeforeAnythingIsMintedAndLeavesNoCredential() async throws {
        let first = try await registry.register(try Self.managedSite("a", id: Self.clusterA))
        #expect(first.site.clusterId == Self.clusterA)
        let entry = try #require(try await renewer.credentials.read().first)
        #expect(entry.credential.clusterID == Self.clusterA, "the registration records its cluster")
        let calls = remoteB.calls.count
        do {
            _ = try await registry.register(try Self.managedSite("b", id: Self.clusterA))
            Issue.record("the same cluster registered under a second name")
        } catch {
            #expect(error.code == .siteClusterConflict)
        }
        #expect(remoteB.calls.count == calls, "refused on the served document, before a token is minted")
        #expect(secretSites() == ["a"])
        #expect(renewer.status(of: "b") == nil)
    }

    @Test func aManagedSecondNameFoundOnlyInTheRoundLeavesNoCredential() async throws {
        // The served document is stale: edge-1 (another replica's) shows only in the round.
        var document = try KubeconfigDocument(parsing: "", origin: "test")
        try document.register(try Self.staticSite("edge-1", id: nil), fallback: "central")
        _ = store.externalWrite(
            document.yaml(), annotations: [ClusterIdentities.annotationKey: #"{"edge-1":"\#(Self.clusterA)"}"#])
        await #expect(throws: ServiceError.self) {
            _ = try await registry.register(try Self.managedSite("a", id: Self.clusterA))
        }
        #expect(secretKeys().isEmpty, "the credential stored before the edit is removed")
        #expect(renewer.status(of: "a") == nil)
    }
}
