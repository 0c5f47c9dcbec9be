import Foundation
import KubernetesAPI
import Synchronization

/// What the publisher last did, readable without waiting from any thread (probes, GETs).
public final class PublicationState: Sendable {
    public struct Snapshot: Sendable {
        /// The document as of the last successful publication; nil before the first.
        public var published: PublishedDocument?
        public var lastAttempt: Date?
        public var lastSuccess: Date?
        public var lastError: ServiceError?
        public var server: String?
        /// Fingerprint of the token last published (never the token).
        public var tokenFingerprint: String?
        public var nextRefresh: Date?
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }
    public var published: PublishedDocument? { state.withLock { $0.published } }

    func attempted(at date: Date) {
        state.withLock { $0.lastAttempt = date }
    }

    func succeeded(_ document: PublishedDocument, server: String, token: BearerToken, at date: Date) {
        state.withLock {
            $0.published = document
            $0.lastSuccess = date
            $0.lastError = nil
            $0.server = server
            $0.tokenFingerprint = token.fingerprint
        }
    }

    func failed(_ error: ServiceError) {
        state.withLock { $0.lastError = error }
    }

    func scheduled(nextRefresh: Date?) {
        state.withLock { $0.nextRefresh = nextRefresh }
    }
}
