import CoreMetrics
import FoundationEssentials
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// Follows the object that holds the document, as client-go's reflector does: list, then watch
/// from the list's version, resuming from the last version seen.
///
/// Every version seen is served at once (rendered once; `GET /kubeconfig`, its ETag and
/// `GET /sites` follow other writers without waiting for a refresh pass). A version whose
/// entries for this site are missing or altered is repaired by one publication (read, merge,
/// conditional write); our own writes hold our entries, so they never cause another.
///
/// Faults: a stream that ends or drops is watched again from the last version, with backoff; a
/// version too old to resume from (410) is listed again; a deleted object is reported and the
/// last good document served until it is back, then published into; a watch the cluster
/// forbids falls back to the periodic pass (said once in the log) and is tried again now and
/// then. Repairs that keep being undone (another writer with other ideas, say two replicas that
/// publish their own pod tokens) are slowed down, never looped.
public final class DocumentWatcher: Sendable {
    public struct Configuration: Sendable {
        /// Server-side timeout of one watch; each watch draws between this and twice this, so
        /// that replicas do not all re-watch at once.
        public var watchTimeout: Duration = .seconds(300)
        public var initialBackoff: Duration = .milliseconds(800)
        public var maxBackoff: Duration = .seconds(30)
        /// How often a forbidden watch is tried again.
        public var forbiddenRetry: Duration = .seconds(300)
        /// Repairs allowed in `repairWindow` before each further one waits, doubling.
        public var repairBurst = 5
        public var repairWindow: Duration = .seconds(60)

        public init() {}
    }

    let store: any WatchableDocumentStore
    let publisher: SitePublisher
    let configuration: Configuration
    let logger: Logger
    let repairs = Wakeup()
    let metrics = Metrics()
    private let served: (@Sendable () -> Void)?

    /// - Parameter served: told after a new version is served (to probe sites another writer
    ///   added).
    public init(
        store: any WatchableDocumentStore, publisher: SitePublisher, configuration: Configuration = Configuration(),
        served: (@Sendable () -> Void)? = nil, logger: Logger
    ) {
        self.store = store
        self.publisher = publisher
        self.configuration = configuration
        self.served = served
        self.logger = logger
    }

    /// Watches and repairs until cancelled.
    public func run() async {
        publisher.state.watching(.starting)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.watchLoop() }
            group.addTask { await self.repairLoop() }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: - The watch

    /// What the loop does after a watch ends.
    private enum Next {
        case resume(after: Duration)
        case relist(after: Duration)
    }

    private func watchLoop() async {
        var version: String?
        var failures = 0
        var forbidden = false
        while !Task.isCancelled {
            let next: Next
            do throws(ServiceError) {
                let from: String
                if let version {
                    from = version
                } else {
                    from = try await relist()
                    version = from
                }
                if forbidden {
                    forbidden = false
                    logger.info("watching the document again", metadata: ["origin": "\(store.origin)"])
                }
                publisher.state.watching(.watching, version: from)
                let progress = Progress(version: from)
                let timeout = Int(configuration.watchTimeout.seconds * Double.random(in: 1...2))
                let started = ContinuousClock.now
                do throws(ServiceError) {
                    try await store.watch(from: from, timeoutSeconds: timeout) { event in
                        await self.handle(event, progress: progress)
                    }
                    metrics.restarts(.ended).increment()
                    if progress.events == 0, ContinuousClock.now - started < .seconds(1) {
                        // As the reflector's "very short watch": a server that ends every watch
                        // at once is not watched again in a tight loop.
                        throw ServiceError(
                            code: .apiProtocol, message: "the watch ended within a second without an event")
                    }
                    next = .resume(after: .zero)
                } catch {
                    // Events before the failure still moved the version on, and a watch that
                    // delivered some, or lasted, was healthy: back off from the start again.
                    version = progress.version
                    if progress.events > 0 || ContinuousClock.now - started > .seconds(60) { failures = 0 }
                    throw error
                }
                version = progress.version
                failures = 0
            } catch {
                // Stopping cancels the watch under way: that is no failure to report or retry.
                if Task.isCancelled { return }
                failures += 1
                next = failed(error, failures: failures, forbidden: &forbidden)
            }
            switch next {
            case .resume(let wait):
                if wait > .zero { try? await Task.sleep(for: wait) }
            case .relist(let wait):
                version = nil
                if wait > .zero { try? await Task.sleep(for: wait) }
            }
        }
    }

    /// The document as listed now, served and checked; the version to watch from.
    private func relist() async throws(ServiceError) -> String {
        let listing = try await store.list()
        if let document = listing.document {
            present(document)
        } else if let error = listing.unreadable {
            _ = publisher.state.markPresent()
            unreadable(version: listing.version, error)
        } else {
            objectDeleted()
        }
        return listing.version
    }

    /// How the loop goes on after `error`.
    private func failed(_ error: ServiceError, failures: Int, forbidden: inout Bool) -> Next {
        let backoff = Backoff(initial: configuration.initialBackoff, maximum: configuration.maxBackoff)
            .wait(afterFailures: failures, jitter: .random(in: 0...1))
        switch error.code {
        case .apiExpired:
            // As the reflector: list again at once, the version is gone for good.
            metrics.restarts(.expired).increment()
            logger.debug("the watch's version expired; listing again", metadata: ["origin": "\(store.origin)"])
            publisher.state.watching(.reconnecting)
            return .relist(after: failures > 1 ? backoff : .zero)
        case .apiForbidden, .apiUnauthorized:
            metrics.restarts(.forbidden).increment()
            if !forbidden {
                forbidden = true
                logger.warning(
                    "the document cannot be watched; falling back to the periodic refresh pass",
                    metadata: [
                        "origin": "\(store.origin)", "error_code": "\(error.code)", "error": "\(error.message)",
                        "retry_in_s": "\(Int(configuration.forbiddenRetry.seconds))",
                    ])
            }
            publisher.state.watching(.fallback, error: error)
            return .relist(after: configuration.forbiddenRetry)
        default:
            metrics.restarts(.error).increment()
            logger.info(
                "the watch ended with an error; watching again",
                metadata: [
                    "origin": "\(store.origin)", "error_code": "\(error.code)", "error": "\(error.message)",
                    "retry_in_ms": "\(Int(backoff.seconds * 1000))",
                ])
            publisher.state.watching(.reconnecting, error: error)
            // A list that failed (the object's namespace unreachable, say) lists again.
            return error.code == .apiNotFound ? .relist(after: backoff) : .resume(after: backoff)
        }
    }

    /// The version a watch got to, and how many events it brought.
    private final class Progress: Sendable {
        private let state: Mutex<(version: String, events: Int)>
        init(version: String) { state = Mutex((version, 0)) }
        var version: String { state.withLock { $0.version } }
        var events: Int { state.withLock { $0.events } }
        func advance(to version: String) { state.withLock { $0 = (version, $0.events + 1) } }
    }

    private func handle(_ event: DocumentEvent, progress: Progress) async {
        progress.advance(to: event.version)
        switch event {
        case .stored(let document):
            metrics.events(.stored).increment()
            present(document)
        case .unreadable(let version, let error):
            metrics.events(.stored).increment()
            unreadable(version: version, error)
        case .deleted:
            metrics.events(.deleted).increment()
            objectDeleted()
        case .bookmark:
            metrics.events(.bookmark).increment()
        }
        publisher.state.watching(.watching, version: event.version)
    }

    /// A version of the document, from a list or an event.
    private func present(_ document: StoredDocument) {
        let wasDeleted = publisher.state.markPresent()
        if wasDeleted {
            logger.info("the document's object is back; publishing into it", metadata: ["origin": "\(store.origin)"])
        }
        let observation = publisher.observe(document, origin: store.origin)
        if observation == .served || observation == .needsRepair { served?() }
        switch observation {
        case .known, .served:
            break
        case .needsRepair:
            logger.info(
                "our entries were changed or removed by another writer; repairing",
                metadata: ["origin": "\(store.origin)", "resource_version": "\(document.version)"])
            repairs.signal()
        case .unreadable(let error):
            unreadable(version: document.version, error)
        }
    }

    private func unreadable(version: String, _ error: ServiceError) {
        logger.warning(
            "the document is not a kubeconfig; serving the last good one",
            metadata: ["origin": "\(store.origin)", "resource_version": "\(version)", "error": "\(error.message)"])
        // The publication fails as the refresh pass would, and says why in /status.
        repairs.signal()
    }

    private func objectDeleted() {
        guard publisher.state.markDeleted() else { return }
        logger.warning(
            "the document's object was deleted; serving the last good document until it is back",
            metadata: ["origin": "\(store.origin)"])
    }
}
