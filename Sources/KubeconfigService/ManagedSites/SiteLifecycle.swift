import FoundationEssentials
import KubeconfigBase

/// One managed site's renewal in this process, as a plain value: named phases, and transitions
/// that return what to do, which `SiteTokenRenewer` does outside its lock.
///
/// The invariant it keeps: a site whose registration the document names is never silent. It is
/// `scheduled` (a renewal due at a known time), `renewing`, `failing` (retried at a known time,
/// the error shown), or `stalled` (the reason shown). A renewal's result counts only while the
/// site is still renewing that registration: a registration, a removal or an observation that
/// came in between wins, whatever order the events arrive in.
struct SiteLifecycle: Sendable, Equatable {
    enum Phase: Sendable, Equatable {
        /// No registration of the site is renewed here: none in the document, or not yet seen.
        case unmanaged
        /// Renewing on schedule: the token is next looked at `at` (its renewal point).
        case scheduled(registration: String, at: Date)
        /// A renewal (a TokenRequest, and the write of what it issued) is under way; the last
        /// failure stays shown meanwhile.
        case renewing(registration: String, failures: Int, error: ServiceError?)
        /// The last renewal failed: tried again at `retryAt`, its error shown meanwhile.
        case failing(registration: String, failures: Int, retryAt: Date, error: ServiceError)
        /// Cannot renew until the registration or the credentials Secret changes: the reason shown.
        case stalled(registration: String?, error: ServiceError)
    }

    /// What the renewer does after a transition.
    enum Action: Sendable, Equatable {
        /// Ask the registration's source for the token to publish, and write it.
        case renew(registration: String)
        /// Drop the token source of a registration no longer renewed.
        case retire(registration: String)
    }

    /// What a check of the Secret and the document found for the site.
    enum Observation: Sendable, Equatable {
        /// The document names `registration` and the Secret holds it; the token is due at `dueAt`.
        case managed(registration: String, dueAt: Date)
        /// The document names `registration`, which cannot be renewed: why.
        case stalled(registration: String, error: ServiceError)
        /// The document names no registration of the site.
        case unmanaged
    }

    private(set) var phase: Phase = .unmanaged
    /// Registrations PUTs of this process are writing: never taken for orphans here.
    private(set) var registering: Set<String> = []
    /// The fingerprint of a token a probe found rejected: renewed whatever its record says.
    private(set) var rejected: String?
    private(set) var lastForced: Date?
    /// The renewal point of the last token written or seen.
    private(set) var renewsAt: Date?
    /// When a write of this process last changed which registration the document names: a
    /// check that read the document before then is older news, and is not applied.
    private(set) var changedAt: Date?

    /// The registration renewed (or failing, or stalled) now.
    var registration: String? {
        switch phase {
        case .unmanaged: nil
        case .scheduled(let registration, _), .renewing(let registration, _, _), .failing(let registration, _, _, _):
            registration
        case .stalled(let registration, _): registration
        }
    }

    /// When `due` next has something to do.
    var deadline: Date? {
        switch phase {
        case .scheduled(_, let at): at
        case .failing(_, _, let retryAt, _): retryAt
        case .unmanaged, .renewing, .stalled: nil
        }
    }

    /// The error `GET /sites` shows: why the site is not renewing on schedule.
    var error: ServiceError? {
        switch phase {
        case .failing(_, _, _, let error), .stalled(_, let error): error
        case .renewing(_, _, let error): error
        case .unmanaged, .scheduled: nil
        }
    }

    // MARK: - Transitions

    /// A check's finding, the authority on which registration is current, unless this process
    /// changed the site after the check read the document (`readAt`).
    mutating func observe(_ observation: Observation, readAt: Date? = nil) -> [Action] {
        if let readAt, let changedAt, readAt < changedAt { return [] }
        switch observation {
        case .unmanaged:
            return become(.unmanaged)
        case .stalled(let registration, let error):
            return become(.stalled(registration: registration, error: error))
        case .managed(let registration, let dueAt):
            if self.registration == registration {
                switch phase {
                case .scheduled(_, let at):
                    // A rejection moved the renewal forward: keep the earlier point.
                    phase = .scheduled(registration: registration, at: rejected == nil ? dueAt : min(at, dueAt))
                    return []
                case .renewing, .failing:
                    return []  // under way, or backing off: the check does not cut it short
                case .unmanaged, .stalled:
                    break
                }
            }
            return become(.scheduled(registration: registration, at: dueAt))
        }
    }

    /// A PUT of this process stores `registration` and is about to write the document.
    mutating func registrationStarted(_ registration: String) {
        registering.insert(registration)
    }

    /// That PUT ended: its token written (renewed next at `renewsAt`), or nothing written.
    mutating func registrationEnded(_ registration: String, renewsAt: Date?, at now: Date = Date()) -> [Action] {
        registering.remove(registration)
        guard let renewsAt else {
            return self.registration == registration ? [] : [.retire(registration: registration)]
        }
        changedAt = now
        rejected = nil
        self.renewsAt = renewsAt
        return become(.scheduled(registration: registration, at: renewsAt))
    }

    /// A removal, or a registration with a pasted credential, was written: nothing to renew.
    mutating func removed(at now: Date = Date()) -> [Action] {
        changedAt = now
        return become(.unmanaged)
    }

    /// Starts the renewal that is due at `now`, if any.
    mutating func due(at now: Date) -> [Action] {
        switch phase {
        case .scheduled(let registration, let at) where at <= now:
            phase = .renewing(registration: registration, failures: 0, error: nil)
            return [.renew(registration: registration)]
        case .failing(let registration, let failures, let retryAt, let error) where retryAt <= now:
            phase = .renewing(registration: registration, failures: failures, error: error)
            return [.renew(registration: registration)]
        default:
            return []
        }
    }

    /// A renewal of `registration` ended: the token now published (its fingerprint and renewal
    /// point), or why not. Ignored unless the site is still renewing that registration.
    mutating func renewalEnded(
        _ registration: String, _ result: Result<(fingerprint: String, renewsAt: Date), ServiceError>, at now: Date,
        jitter: Double = 1
    ) {
        guard case .renewing(registration, let failures, _) = phase else { return }
        switch result {
        case .success(let published):
            if published.fingerprint != rejected { rejected = nil }
            renewsAt = published.renewsAt
            phase = .scheduled(registration: registration, at: published.renewsAt)
        case .failure(let error):
            let retryAt = now.addingTimeInterval(Self.backoff(failures: failures + 1) * jitter)
            phase = .failing(registration: registration, failures: failures + 1, retryAt: retryAt, error: error)
        }
    }

    /// A probe found the token `fingerprint` rejected: renew now, unless a rejection forced a
    /// renewal less than `interval` ago (tokens the site always rejects are not minted at every
    /// probe): then say so, and wait for the renewal point.
    mutating func tokenRejected(_ fingerprint: String, at now: Date, interval: TimeInterval) {
        guard rejected != fingerprint, let registration else { return }
        if let lastForced, now.timeIntervalSince(lastForced) < interval {
            guard case .scheduled(_, let at) = phase else { return }
            phase = .failing(
                registration: registration, failures: 1, retryAt: max(at, lastForced.addingTimeInterval(interval)),
                error: ServiceError(
                    code: .tokenRequestFailed,
                    message: "the tokens issued for this site are rejected by its API server (audiences?); renewing "
                        + "again at the next renewal point"))
            return
        }
        rejected = fingerprint
        lastForced = now
        switch phase {
        case .scheduled: phase = .scheduled(registration: registration, at: now)
        case .failing(_, let failures, _, let error):
            phase = .failing(registration: registration, failures: failures, retryAt: now, error: error)
        case .unmanaged, .renewing, .stalled: break
        }
    }

    /// A probe reached the site again: a renewal waiting for its backoff is tried now.
    mutating func recovered(at now: Date) {
        guard case .failing(let registration, let failures, let retryAt, let error) = phase, retryAt > now else { return }
        phase = .failing(registration: registration, failures: failures, retryAt: now, error: error)
    }

    /// 2 s doubling to 60 s; the renewer multiplies it by a jitter in 0.8...1.2 so that replicas
    /// do not retry in step.
    static func backoff(failures: Int) -> TimeInterval {
        renewalBackoff.step(afterFailures: failures).seconds
    }

    private static let renewalBackoff = Backoff(initial: .seconds(2), maximum: .seconds(60))

    /// Moves to `next`, retiring the registration left behind.
    private mutating func become(_ next: Phase) -> [Action] {
        let previous = registration
        phase = next
        if next == .unmanaged { rejected = nil }
        guard let previous, previous != registration, !registering.contains(previous) else { return [] }
        return [.retire(registration: previous)]
    }
}
