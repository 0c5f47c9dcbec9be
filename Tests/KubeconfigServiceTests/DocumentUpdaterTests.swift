import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Testing

@testable import KubeconfigService

/// The read → edit → conditional-write loop, as plain values against a scripted in-memory store.
@Suite struct DocumentUpdaterTests {
    static let remoteSite = """
        apiVersion: v1
        kind: Config
        clusters:
        - name: edge-1
          cluster: {server: "https://edge-1.example:6443"}
        users:
        - name: user01
          user: {token: edge-token}
        contexts:
        - name: edge-1
          context: {cluster: edge-1, user: user01}
        current-context: edge-1
        """

    func updater(_ store: InMemoryDocumentStore, attempts: Int = 10) -> DocumentUpdater {
        DocumentUpdater(store: store, conflictAttempts: attempts, logger: Logger(label: "test"))
    }

    func contexts(_ store: InMemoryDocumentStore) throws -> [String] {
        try KubeconfigDocument(parsing: store.stored?.text ?? "", origin: "test").contextNames
    }

    @Test func anEditIsWrittenConditionalOnTheVersionItRead() async throws {
        let store = InMemoryDocumentStore(text: "")
        let update = try await updater(store).update(.publish(Fixtures.central))
        #expect(update.changed)
        #expect(update.document.resourceVersion == "2")
        #expect(store.calls.count == 2)
        guard case .write(let text, let version, _) = try #require(store.calls.last) else {
            Issue.record("the second call is not a write")
            return
        }
        #expect(version == "1")
        #expect(text == String(decoding: update.document.yaml, as: UTF8.self))
        #expect(try contexts(store) == ["central"])
    }

    @Test func anEditThatChangesNothingWritesNothing() async throws {
        let store = InMemoryDocumentStore(text: "")
        _ = try await updater(store).update(.publish(Fixtures.central))
        let again = try await updater(store).update(.publish(Fixtures.central))
        #expect(!again.changed)
        #expect(again.document.resourceVersion == "2")
        #expect(store.writes.count == 1)
    }

    @Test func aMissingKeyIsWrittenEvenWhenTheEditAddsNothing() async throws {
        let store = InMemoryDocumentStore(text: nil)
        let update = try await updater(store).update(DocumentEdit("nothing") { (_: inout KubeconfigDocument) in })
        #expect(update.changed)
        #expect(store.writes.count == 1)
        #expect(store.stored?.text?.contains("kind: Config") == true)
    }

    @Test func aConflictIsRetriedFromAFreshReadAndKeepsTheOtherWritersEntries() async throws {
        let store = InMemoryDocumentStore(text: "")
        store.scriptWrites(.concurrentWrite(Self.remoteSite))
        let update = try await updater(store).update(.publish(Fixtures.central))
        #expect(update.changed)
        #expect(store.calls.map { if case .read = $0 { "read" } else { "write" } } == ["read", "write", "read", "write"])
        #expect(try contexts(store) == ["edge-1", "central"])
        // The other writer's current-context names an existing context: it is kept.
        #expect(store.stored?.text?.contains("current-context: edge-1") == true)
    }

    @Test func endlessConflictsGiveUpAfterTheLastRound() async throws {
        let store = InMemoryDocumentStore(text: "")
        for round in 0..<3 { store.scriptWrites(.concurrentWrite("kind: Config\npreferences: {round: \(round)}\n")) }
        await #expect {
            try await updater(store, attempts: 3).update(.publish(Fixtures.central))
        } throws: { error in
            let error = error as? ServiceError
            return error?.code == .conflict && error?.message.contains("3 read-edit-write rounds") == true
        }
        #expect(store.writes.count == 3)
        #expect(try contexts(store) == [])
    }

    @Test func aMissingObjectIsAnErrorAndNothingIsWritten() async {
        let store = InMemoryDocumentStore(text: nil, objectExists: false)
        await #expect {
            try await updater(store).update(.publish(Fixtures.central))
        } throws: { ($0 as? ServiceError)?.code == .configMapNotFound }
        #expect(store.writes.isEmpty)
    }

    @Test(arguments: ["clusters: [", "kind: Secret\n", "- a\n- b\n", "a: 1\n---\nb: 2\n"])
    func aDocumentThatIsNotAKubeconfigIsRefusedAndLeftAlone(text: String) async {
        let store = InMemoryDocumentStore(text: text)
        await #expect {
            try await updater(store).update(.publish(Fixtures.central))
        } throws: { error in
            let error = error as? ServiceError
            return error?.code == .documentNotKubeconfig && error?.message.contains(store.origin) == true
        }
        #expect(store.writes.isEmpty)
        #expect(store.stored?.text == text)
    }

    @Test func aFailedReadEndsTheLoopAtOnce() async {
        let store = InMemoryDocumentStore(text: "")
        store.scriptReads(.fail(ServiceError(code: .apiServerError, message: "etcdserver: request timed out")))
        await #expect {
            try await updater(store).update(.publish(Fixtures.central))
        } throws: { ($0 as? ServiceError)?.code == .apiServerError }
        #expect(store.calls == [.read])
    }

    @Test func aFailedWriteIsReportedAndTheDocumentStaysAsItWas() async {
        let store = InMemoryDocumentStore(text: Self.remoteSite)
        store.scriptWrites(.fail(ServiceError(code: .apiForbidden, message: "forbidden: cannot patch")))
        await #expect {
            try await updater(store).update(.publish(Fixtures.central))
        } throws: { ($0 as? ServiceError)?.code == .apiForbidden }
        #expect(store.writes.count == 1)
        #expect(store.stored == StoredDocument(text: Self.remoteSite, version: "1"))
    }

    @Test func anEditThatRefusesWritesNothing() async {
        let store = InMemoryDocumentStore(text: "")
        let refusing = DocumentEdit("refuse") { (_: inout KubeconfigDocument) throws(ServiceError) in
            throw ServiceError(code: .badRequest, message: "no")
        }
        await #expect {
            try await updater(store).update(refusing)
        } throws: { ($0 as? ServiceError)?.code == .badRequest }
        #expect(store.writes.isEmpty)
    }

    @Test func annotationChangesAreWrittenWithTheDocumentAndAloneWhenNothingElseChanged() async throws {
        let store = InMemoryDocumentStore(text: "")
        _ = try await updater(store).update(.publish(Fixtures.central))
        let annotate = DocumentEdit("annotate") { (content: inout DocumentContent) in
            content.annotations["ours"] = "1"
            content.annotations["gone"] = nil
        }
        let update = try await updater(store).update(annotate)
        #expect(update.changed)
        guard case .write(_, let version, let annotations) = try #require(store.calls.last) else {
            Issue.record("the last call is not a write")
            return
        }
        #expect(version == "2" && annotations == ["ours": "1"])
        #expect(store.stored?.annotations == ["ours": "1"])

        let remove = DocumentEdit("remove") { (content: inout DocumentContent) in content.annotations["ours"] = nil }
        _ = try await updater(store).update(remove)
        guard case .write(_, _, let removal) = try #require(store.calls.last) else {
            Issue.record("the last call is not a write")
            return
        }
        let removed: [String: String?] = ["ours": nil]
        #expect(removal == removed)
        #expect(try await !updater(store).update(remove).changed)
        #expect(store.writes.count == 3)
    }

    @Test func editsThatWaitForARoundAreWrittenTogetherAndAFailingOneFailsAlone() async throws {
        let store = InMemoryDocumentStore(text: "")
        let updater = updater(store)
        let (gate, open) = AsyncStream<Void>.makeStream()
        let first = Task {
            try await updater.update(
                DocumentEdit("held") { (content: inout DocumentContent) throws(ServiceError) in
                    for await _ in gate { break }
                    content.kubeconfig.merge(Fixtures.central)
                })
        }
        // While the first round is held inside its edit, three more edits queue up.
        #expect(await waitUntil { store.calls == [.read] })
        func site(_ name: String) -> SiteEntries {
            var site = Fixtures.central
            site.location = name
            site.user = name
            return site
        }
        let a = Task { try await updater.update(.publish(site("site-a"))) }
        let failing = Task {
            try await updater.update(
                DocumentEdit("fails") { (_: inout KubeconfigDocument) throws(ServiceError) in
                    throw ServiceError(code: .siteNotFound, message: "no such site")
                })
        }
        let b = Task { try await updater.update(.publish(site("site-b"))) }
        #expect(await waitUntil { updater.waitingEdits == 3 })
        open.yield()
        #expect(try await first.value.changed)
        #expect(try await a.value.changed)
        #expect(try await b.value.changed)
        await #expect(throws: ServiceError.self) { try await failing.value }
        #expect(store.writes.count == 2, "one write for the held edit, one for the three that waited")
        #expect(try contexts(store).sorted() == ["central", "site-a", "site-b"])
    }

    /// Polls `condition` for up to 10 s: whether it came to hold.
    func waitUntil(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test func aRoundWhoseEditsAllFailWritesNothingEvenWhereTheKeyIsMissing() async throws {
        let store = InMemoryDocumentStore(text: nil)
        let failing = DocumentEdit("fails") { (_: inout KubeconfigDocument) throws(ServiceError) in
            throw ServiceError(code: .siteNotFound, message: "no such site")
        }
        await #expect(throws: ServiceError.self) { try await updater(store).update(failing) }
        #expect(store.writes.isEmpty)
        #expect(store.stored?.text == nil)
    }
}

/// A document that would not fit its object is refused before the write, edit by edit.
@Suite struct DocumentSizeLimitTests {
    @Test func anEditThatWouldExceedTheObjectsLimitFailsAloneAndNothingOfItIsWritten() async throws {
        let store = InMemoryDocumentStore(text: "")
        store.limit(to: 1500)
        let updater = DocumentUpdater(store: store, logger: Logger(label: "test"))
        _ = try await updater.update(.publish(Fixtures.central))
        let before = try #require(store.stored)
        let big = SiteEntries(
            location: "edge-1", user: "user01", server: "https://edge-1.example:6443",
            certificateAuthority: Array(repeating: UInt8(ascii: "A"), count: 2000), token: BearerToken("edge-token"))
        let small = SiteEntries(
            location: "edge-2", user: "user02", server: "https://edge-2.example:6443", certificateAuthority: Fixtures.caPEM,
            token: BearerToken("edge-2-token"))
        let tooLarge = Task { try await updater.update(.publish(big)) }
        let fits = Task { try await updater.update(.publish(small)) }
        await #expect {
            try await tooLarge.value
        } throws: { error in
            let error = error as? ServiceError
            return error?.code == .documentTooLarge && error?.message.contains("has room for 1500") == true
                && error?.message.contains("1048576") == true
        }
        #expect(try await fits.value.changed)
        let text = try #require(store.stored?.text)
        #expect(text.contains("edge-2") && !text.contains("edge-1"))
        #expect(text.utf8.count <= 1500)
        #expect(store.stored?.version != before.version)
    }

    @Test func theRefusalIsA413() {
        #expect(ServiceError(code: .documentTooLarge, message: "").httpStatus == .contentTooLarge)
    }
}
