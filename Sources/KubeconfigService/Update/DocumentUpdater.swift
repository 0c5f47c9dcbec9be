import CoreMetrics
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// The one read → edit → conditional-write loop every change of the shared document goes through.
///
/// A round reads the document, refuses it when it is not a kubeconfig (nothing is written then),
/// applies the edits, and writes only when they changed something, conditional on the version it
/// read. A conflict starts the next round from a fresh read, so a concurrent writer's entries
/// are kept; after `conflictAttempts` rounds it gives up. Other failures end the loop at once:
/// retrying calls is the store's business.
///
/// Edits that arrive while a round is under way wait for it and then go together in the next
/// round (group commit): this process never conflicts with itself, and twenty registrations at
/// once cost a few writes, not twenty rounds each. An edit that fails (a site not found) fails
/// alone; the others of its round are still written.
///
/// Rounds run in a task of their own, so a caller's cancellation does not stop a round under way
/// (a write is never abandoned half-decided). An edit must not call `update` itself: it would
/// wait for the round it is part of.
public final class DocumentUpdater: Sendable {
    public let store: any DocumentStore
    /// Rounds before a writer that keeps conflicting makes the update fail.
    public let conflictAttempts: Int
    private let logger: Logger
    private let conflicts: Counter
    private let queue = Mutex(Queue())

    private struct Queue {
        var pending: [Pending] = []
        /// A task is draining the queue.
        var draining = false
    }

    /// A queued edit, its output erased so that edits of any output share a round; only the
    /// caller's own `update` casts it back.
    private struct Pending {
        var edit: DocumentEdit<any Sendable>
        var continuation: CheckedContinuation<Result<Edited, ServiceError>, Never>
    }

    /// An edit's result in the round that stored the document.
    private struct Edited {
        var update: DocumentUpdate
        var output: any Sendable
    }

    public init(store: any DocumentStore, conflictAttempts: Int = 10, logger: Logger) {
        self.store = store
        self.conflictAttempts = max(1, conflictAttempts)
        self.logger = logger
        self.conflicts = Counter(label: "kubeconfig_publication_conflicts_total")
    }

    /// Edits queued behind the round under way (for tests that hold a round).
    var waitingEdits: Int { queue.withLock { $0.pending.count } }

    /// Runs `edit` until it is stored, or found to change nothing.
    public func update(_ edit: DocumentEdit<Void>) async throws(ServiceError) -> DocumentUpdate {
        try await update(returning: edit).update
    }

    /// Runs `edit` until it is stored, or found to change nothing: the update, and what the edit
    /// returned in the round that stored it.
    public func update<Output>(
        returning edit: DocumentEdit<Output>
    ) async throws(ServiceError) -> (update: DocumentUpdate, output: Output) {
        let erased = DocumentEdit<any Sendable>(edit.summary) {
            (content: inout DocumentContent) throws(ServiceError) -> any Sendable in try await edit.apply(&content)
        }
        let result = await withCheckedContinuation { continuation in
            let startDraining = queue.withLock { queue in
                queue.pending.append(Pending(edit: erased, continuation: continuation))
                defer { queue.draining = true }
                return !queue.draining
            }
            if startDraining {
                Task { await self.drain() }
            }
        }
        let edited = try result.get()
        guard let output = edited.output as? Output else {
            preconditionFailure("an edit's output comes back as the type it was queued with")
        }
        return (edited.update, output)
    }

    /// Runs rounds until no edit waits.
    private func drain() async {
        while true {
            let batch = queue.withLock { queue in
                let batch = queue.pending
                queue.pending = []
                if batch.isEmpty { queue.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            let results = await run(batch.map(\.edit))
            for (pending, result) in zip(batch, results) { pending.continuation.resume(returning: result) }
        }
    }

    /// The loop for one batch of edits; one result per edit, in order.
    private func run(_ edits: [DocumentEdit<any Sendable>]) async -> [Result<Edited, ServiceError>] {
        let write = ConditionalWrite(store.origin, attempts: conflictAttempts)
        do throws(ServiceError) {
            return try await write.run(
                conflicted: { _ in
                    logger.debug(
                        "the document changed under us; editing again from a fresh read",
                        metadata: ["edits": "\(edits.map(\.summary))", "origin": "\(store.origin)"])
                    conflicts.increment()
                }, { () async throws(ServiceError) in try await round(edits) })
        } catch {
            return edits.map { _ in .failure(error) }
        }
    }

    /// One round: read, apply the edits, write when they changed something. Throws when the
    /// document cannot be read or written (every edit fails), `.apiConflict` included.
    private func round(_ edits: [DocumentEdit<any Sendable>]) async throws(ServiceError) -> [Result<Edited, ServiceError>] {
        let clock = ContinuousClock()
        let stored = try await store.read()
        let started = clock.now
        let before = DocumentContent(
            kubeconfig: try KubeconfigDocument(parsing: stored.text ?? "", origin: store.origin),
            annotations: stored.annotations)
        let parsed = clock.now
        var (after, outcomes) = await Self.apply(edits, to: before)
        let edited = clock.now
        var rendered = after == before ? nil : PublishedDocument(document: after.kubeconfig, resourceVersion: stored.version)
        if let capacity = stored.capacity, let candidate = rendered, candidate.yaml.count > capacity {
            // Rare: find the edits that take the document over the object's limit, and
            // refuse those alone.
            (after, outcomes) = await Self.apply(edits, to: before, capacity: capacity, origin: store.origin)
            rendered = after == before ? nil : PublishedDocument(document: after.kubeconfig, resourceVersion: stored.version)
        }
        let localDuration = clock.now - started
        logger.debug(
            "document round",
            metadata: [
                "parse_ms": "\((parsed - started).milliseconds)", "edit_ms": "\((edited - parsed).milliseconds)",
                "render_ms": "\((clock.now - edited).milliseconds)", "bytes": "\(stored.text?.utf8.count ?? 0)",
            ])
        func results(_ document: PublishedDocument, changed: (Bool) -> Bool) -> [Result<Edited, ServiceError>] {
            outcomes.map { outcome in
                outcome.map {
                    Edited(
                        update: DocumentUpdate(document: document, changed: changed($0.changed), localDuration: localDuration),
                        output: $0.output)
                }
            }
        }
        // Nothing to write when nothing changed, or when every edit failed (even where writing
        // would create the missing key).
        let anySucceeded = outcomes.contains { if case .success = $0 { true } else { false } }
        if after == before, stored.text != nil || !anySucceeded {
            var unchanged = PublishedDocument(document: before.kubeconfig, resourceVersion: stored.version)
            unchanged.annotations = before.annotations
            return results(unchanged) { _ in false }
        }
        var written = rendered ?? PublishedDocument(document: after.kubeconfig, resourceVersion: stored.version)
        written.annotations = after.annotations
        written.resourceVersion = try await store.write(
            String(decoding: written.yaml, as: UTF8.self), annotations: after.annotationChanges(since: before),
            ifVersion: stored.version)
        // Creating the key is a change even for an edit that found nothing to do.
        let created = stored.text == nil
        return results(written) { created || $0 }
    }

    /// `edits` applied in order to `before`: the content after them, and whether each changed
    /// it (and what it returned) or why it failed. With a `capacity`, an edit after which the rendered document would
    /// be larger than that fails with `.documentTooLarge`, and is left out.
    private static func apply(
        _ edits: [DocumentEdit<any Sendable>], to before: DocumentContent, capacity: Int? = nil, origin: String = ""
    ) async -> (DocumentContent, [Result<(changed: Bool, output: any Sendable), ServiceError>]) {
        var after = before
        var outcomes: [Result<(changed: Bool, output: any Sendable), ServiceError>] = []
        for edit in edits {
            var edited = after
            do throws(ServiceError) {
                let output = try await edit.apply(&edited)
                if let capacity, edited != after {
                    let size = edited.kubeconfig.yaml().utf8.count
                    if size > capacity {
                        throw ServiceError(
                            code: .documentTooLarge,
                            message: "\(edit.summary) would make the kubeconfig \(size) bytes, but \(origin) has room "
                                + "for \(capacity) (the API server keeps at most \(ObjectDocumentStore.maxDataBytes) bytes "
                                + "of data per object); nothing was written for it")
                    }
                }
                outcomes.append(.success((edited != after, output)))
                after = edited
            } catch {
                outcomes.append(.failure(error))
            }
        }
        return (after, outcomes)
    }
}

/// What an update stored, or found already stored.
public struct DocumentUpdate: Sendable {
    /// The document as it now is in the store, rendered for serving, with its version.
    public var document: PublishedDocument
    /// Whether this update's edit changed the document (and it was written).
    public var changed: Bool
    /// Time spent here, not waiting for the API server: parsing, editing and rendering the
    /// document in the round that stored it.
    public var localDuration: Duration = .zero
}
