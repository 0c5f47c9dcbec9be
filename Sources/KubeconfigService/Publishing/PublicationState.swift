import FoundationEssentials
import KubeconfigBase
import Synchronization

/// What the publisher last did, readable without waiting from any thread (probes, GETs).
public final class PublicationState: Sendable {
    public struct Snapshot: Sendable {
        /// The document as last stored by a publication or a site registration (the newest
        /// resourceVersion); nil before the first.
        public var published: PublishedDocument?
        public var lastAttempt: Date?
        public var lastSuccess: Date?
        public var lastError: ServiceError?
        public var server: String?
        /// The token last published (never the token itself: its source, subject and times).
        public var token: TokenStatus?
        public var nextRefresh: Date?
        /// The watch on the document's object; nil when there is none (`--no-watch`).
        public var watch: WatchStatus?

        /// Ready once a publication succeeded, while the issued token it published is valid: not
        /// expired, and not rejected by a TokenReview.
        public func readiness(at now: Date) -> ServiceError? {
            guard lastSuccess != nil else {
                let reason =
                    lastError.map { "no publication has succeeded yet; last error: \($0.message)" }
                    ?? "no publication has succeeded yet"
                return ServiceError(code: .notPublished, message: reason)
            }
            guard let token, token.source == .tokenRequest else { return nil }
            let cause = (token.renewalError ?? lastError).map { "; last error: \($0.message)" } ?? ""
            if token.rejected {
                return ServiceError(
                    code: .notPublished, message: "the published token no longer authenticates and was not renewed\(cause)")
            }
            if let expiresAt = token.expiresAt, expiresAt <= now {
                return ServiceError(
                    code: .notPublished, message: "the published token expired at \(expiresAt) and was not renewed\(cause)")
            }
            return nil
        }
    }

    /// The published token as `/status` shows it.
    public struct TokenStatus: Sendable, Equatable {
        public var source: PublishedToken.Source
        public var subject: String?
        public var fingerprint: String
        public var expiresAt: Date?
        public var renewsAt: Date?
        public var renewalError: ServiceError?
        /// A TokenReview rejected it and no replacement could be issued.
        public var rejected: Bool

        init(_ token: PublishedToken) {
            source = token.source
            subject = token.subject
            fingerprint = token.token.fingerprint
            expiresAt = token.expiresAt
            renewsAt = token.renewsAt
            renewalError = token.renewalError
            rejected = token.rejected
        }
    }

    /// The watch on the document's object, as `/status` shows it.
    public struct WatchStatus: Sendable, Equatable {
        public enum Phase: String, Sendable, Encodable {
            case starting, watching, reconnecting
            /// The watch is forbidden: only the periodic pass keeps the document current.
            case fallback
        }
        public var phase: Phase
        /// The last resourceVersion the watch saw.
        public var resourceVersion: String?
        public var lastEvent: Date?
        /// Why the last watch ended, when it failed.
        public var lastError: ServiceError?
        /// The object was deleted and not yet re-created: the last good document is served.
        public var objectDeleted = false
    }

    private let state = Mutex(Snapshot())
    /// Told after each document stored or published (the sinks follow every version).
    private let observers = Mutex<[@Sendable () -> Void]>([])

    public init() {}

    /// Calls `observer` after every document this state takes (a publication's, a registration's,
    /// a renewal's, or one the watch saw), on the thread that stored it: it must return at once.
    public func observeDocuments(_ observer: @escaping @Sendable () -> Void) {
        observers.withLock { $0.append(observer) }
    }

    private func notifyObservers() {
        for observer in observers.withLock({ $0 }) { observer() }
    }

    public var snapshot: Snapshot { state.withLock { $0 } }
    public var published: PublishedDocument? { state.withLock { $0.published } }

    func attempted(at date: Date) {
        state.withLock { $0.lastAttempt = date }
    }

    func succeeded(_ document: PublishedDocument, server: String, token: PublishedToken, at date: Date) {
        state.withLock {
            $0.published = Self.later(of: $0.published, document)
            $0.lastSuccess = date
            $0.lastError = nil
            $0.server = server
            $0.token = TokenStatus(token)
        }
        notifyObservers()
    }

    /// Another writer of ours (the site registry) stored `document`.
    func stored(_ document: PublishedDocument) {
        state.withLock { $0.published = Self.later(of: $0.published, document) }
        notifyObservers()
    }

    /// Of two documents, the one stored last. Writes of ours can commit out of order; etcd's
    /// resourceVersions are increasing integers, which kube-apiserver does not promise but
    /// does give, so they order them. When either is not one, the newcomer wins.
    static func later(of current: PublishedDocument?, _ candidate: PublishedDocument) -> PublishedDocument {
        guard let current, let old = UInt64(current.resourceVersion), let new = UInt64(candidate.resourceVersion) else {
            return candidate
        }
        return new >= old ? candidate : current
    }

    func failed(_ error: ServiceError) {
        state.withLock { $0.lastError = error }
    }

    func watching(_ phase: WatchStatus.Phase, version: String? = nil, error: ServiceError? = nil) {
        state.withLock { snapshot in
            var watch = snapshot.watch ?? WatchStatus(phase: phase)
            watch.phase = phase
            if let version {
                watch.resourceVersion = version
                watch.lastEvent = Date()
            }
            if let error { watch.lastError = error }
            snapshot.watch = watch
        }
    }

    /// Records that the watched object exists; true when it had been deleted.
    func markPresent() -> Bool {
        state.withLock { snapshot in
            defer { snapshot.watch?.objectDeleted = false }
            return snapshot.watch?.objectDeleted ?? false
        }
    }

    /// Records that the watched object is gone; true when that is news.
    func markDeleted() -> Bool {
        state.withLock { snapshot in
            guard snapshot.watch?.objectDeleted == false else { return false }
            snapshot.watch?.objectDeleted = true
            return true
        }
    }

    func scheduled(nextRefresh: Date?) {
        state.withLock { $0.nextRefresh = nextRefresh }
    }
}
