import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Testing

@testable import KubeconfigService

/// The watch on the document, against an in-memory store that keeps a history of changes and
/// ends, expires or refuses watches on cue: what is served, what is repaired, and what is not.
@Suite struct DocumentWatcherTests {
    let store = InMemoryDocumentStore(text: "")
    let publisher: SitePublisher

    init() {
        let cluster = ClusterCredentials(
            server: Fixtures.central.server, certificateAuthority: Fixtures.caPEM, token: Fixtures.central.token)
        publisher = SitePublisher(
            configuration: PublisherConfiguration(namespace: "onap"), credentials: StaticCredentials(cluster: cluster),
            updater: DocumentUpdater(store: store, logger: Logger(label: "test")), logger: Logger(label: "test"))
    }

    static let quick: DocumentWatcher.Configuration = {
        var configuration = DocumentWatcher.Configuration()
        configuration.initialBackoff = .milliseconds(10)
        configuration.maxBackoff = .milliseconds(50)
        configuration.forbiddenRetry = .milliseconds(100)
        return configuration
    }()

    /// Runs the watcher while `body` runs, then stops it.
    func watching(
        _ configuration: DocumentWatcher.Configuration = quick, _ body: () async throws -> Void
    ) async throws {
        let watcher = DocumentWatcher(
            store: store, publisher: publisher, configuration: configuration, logger: Logger(label: "test"))
        let task = Task { await watcher.run() }
        defer { task.cancel() }
        try await body()
        task.cancel()
        await task.value
    }

    /// Waits (up to 5 s) until `condition` holds.
    func eventually(_ what: Comment, _ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(condition(), what)
    }

    func served() -> String { String(decoding: publisher.state.published?.yaml ?? [], as: UTF8.self) }

    func storedText() -> String { store.stored?.text ?? "" }

    static let edge = SiteEntries(
        location: "edge-1", user: "user01", server: "https://edge-1.example:6443", certificateAuthority: Fixtures.caPEM,
        token: BearerToken("edge-token"))

    /// The stored document with our entries, and `edit` applied to its text.
    func storedWith(_ edit: (String) -> String) -> String { edit(storedText()) }

    @Test func anotherWritersChangeIsServedAtOnceWithoutAWriteOfOurs() async throws {
        _ = try await publisher.publish()
        try await watching {
            try await eventually("watching") { store.openWatches == 1 }
            var document = try KubeconfigDocument(parsing: storedText(), origin: "test")
            document.merge(Self.edge)
            let version = store.externalWrite(document.yaml())
            try await eventually("the other site is served") { served().contains("edge-1.example") }
            #expect(publisher.state.published?.resourceVersion == version)
            try await Task.sleep(for: .milliseconds(50))
            #expect(store.writes.count == 1, "only the first publication wrote")
        }
    }

    @Test func ourAlteredEntryIsRepairedOnceAndOurOwnWriteDoesNotTriggerAnother() async throws {
        _ = try await publisher.publish()
        try await watching {
            try await eventually("watching") { store.openWatches == 1 }
            store.externalWrite(storedWith { $0.replacingOccurrences(of: "https://10.96.0.1:443", with: "https://evil:443") })
            try await eventually("repaired") { storedText().contains("https://10.96.0.1:443") }
            try await Task.sleep(for: .milliseconds(100))
            #expect(store.writes.count == 2, "the first publication and one repair")
            #expect(!served().contains("evil"))
        }
    }

    @Test func removedEntriesAreRepaired() async throws {
        _ = try await publisher.publish()
        try await watching {
            try await eventually("watching") { store.openWatches == 1 }
            store.externalWrite(DocumentUpdaterTests.remoteSite)
            try await eventually("repaired") { storedText().contains("central-token") && storedText().contains("edge-1") }
        }
    }

    @Test func anEndedStreamIsWatchedAgainFromTheLastVersionSeen() async throws {
        _ = try await publisher.publish()
        try await watching {
            try await eventually("watching") { store.openWatches == 1 }
            var document = try KubeconfigDocument(parsing: storedText(), origin: "test")
            document.merge(Self.edge)
            let version = store.externalWrite(document.yaml())
            try await eventually("served") { publisher.state.published?.resourceVersion == version }
            store.endWatches()
            try await eventually("watching again") { store.watches.count == 2 && store.openWatches == 1 }
            #expect(store.watches.last == version)
            #expect(store.lists == 1, "no list again after a clean end")
        }
    }

    @Test func aServerThatEndsEveryWatchAtOnceIsNotWatchedInATightLoop() async throws {
        _ = try await publisher.publish()
        var configuration = Self.quick
        configuration.initialBackoff = .milliseconds(50)
        configuration.maxBackoff = .milliseconds(200)
        store.endWatchesAtOnce()
        try await watching(configuration) {
            try await Task.sleep(for: .milliseconds(600))
        }
        // Backoff 50, 100, 200, 200 ms (with jitter, up to twice that): a handful, not thousands.
        #expect(store.watches.count >= 2 && store.watches.count <= 10, "\(store.watches.count) watches")
    }

    @Test func anExpiredVersionIsListedAgainAndAChangeMissedMeanwhileIsServed() async throws {
        _ = try await publisher.publish()
        try await watching {
            try await eventually("watching") { store.openWatches == 1 }
            store.scriptWatches(failing: ServiceError(code: .apiExpired, message: "too old resource version"))
            store.endWatches()
            try await eventually("listed again") { store.lists == 2 }
            // A change while the watcher was between watches is in the list.
            store.externalWrite(storedWith { $0.replacingOccurrences(of: "central-token", with: "stolen") })
            try await eventually("repaired") { storedText().contains("central-token") }
            try await eventually("watching again") { store.openWatches == 1 }
            #expect(publisher.state.snapshot.watch?.phase == .watching)
        }
    }

    @Test func aDeletedObjectKeepsTheLastDocumentServedAndIsPublishedIntoWhenBack() async throws {
        _ = try await publisher.publish()
        let before = served()
        try await watching {
            try await eventually("watching") { store.openWatches == 1 }
            store.deleteObject()
            try await eventually("reported") { publisher.state.snapshot.watch?.objectDeleted == true }
            #expect(served() == before)
            store.externalWrite("")
            try await eventually("published into the new object") { storedText().contains("central-token") }
            try await eventually("no longer reported") { publisher.state.snapshot.watch?.objectDeleted == false }
        }
    }

    @Test func aForbiddenWatchFallsBackAndIsTriedAgain() async throws {
        _ = try await publisher.publish()
        store.scriptWatches(
            failing: ServiceError(code: .apiForbidden, message: "forbidden"),
            ServiceError(code: .apiForbidden, message: "forbidden"))
        try await watching {
            try await eventually("fallback") { publisher.state.snapshot.watch?.phase == .fallback }
            try await eventually("watching after the retries") { store.openWatches == 1 && store.watches.count == 3 }
            #expect(publisher.state.snapshot.watch?.phase == .watching)
        }
    }

    @Test func aDocumentThatIsNotAKubeconfigIsNotServedNorOverwritten() async throws {
        _ = try await publisher.publish()
        let before = served()
        try await watching {
            try await eventually("watching") { store.openWatches == 1 }
            store.externalWrite("{not: [yaml")
            try await eventually("the repair's publication failed") { publisher.state.snapshot.lastError != nil }
            #expect(publisher.state.snapshot.lastError?.code == .documentNotKubeconfig)
            #expect(served() == before)
            #expect(storedText() == "{not: [yaml")
        }
    }

    @Test func repairsThatKeepBeingUndoneAreSlowedDown() async throws {
        var configuration = Self.quick
        configuration.repairBurst = 2
        configuration.initialBackoff = .milliseconds(300)
        configuration.maxBackoff = .seconds(5)
        _ = try await publisher.publish()
        try await watching(configuration) {
            try await eventually("watching") { store.openWatches == 1 }
            let clock = ContinuousClock()
            let started = clock.now
            // Another writer undoes every repair at once, five times.
            for round in 1...5 {
                let writes = store.writes.count
                store.externalWrite(storedWith { $0.replacingOccurrences(of: "central-token", with: "other-\(round)") })
                try await eventually("repaired") { store.writes.count == writes + 1 }
            }
            // Two repairs free, then 300 ms, 600 ms, 1200 ms: at least 2.1 s in all.
            #expect(clock.now - started >= .milliseconds(2100))
        }
    }
}
