import KubeconfigBase

/// When each site is probed next, and which probes may start now: plain values, no I/O and no
/// clock (callers pass `now`). `SiteHealthMonitor` drives it from one loop.
///
/// Each site has its own schedule: due again one interval after its probe ends. A probe that
/// timed out held its slot for the whole timeout: that site is due again after a backoff that
/// doubles from the interval up to a cap, and on the interval again once it answers. A site that
/// failed at once (refused, no such name, TLS) costs nothing to ask again and stays on the
/// interval, so its return is seen within one. New or changed entries are due at once.
///
/// Invariants: at most `slots` probes hold a slot at once; of them at most `restrictedSlots` are
/// of sites not known to answer (new entries, or failed), so however many sites are dead, a site
/// that answers finds a slot; a site has at most one probe of its present entries under way. A
/// probe still unanswered after `stallAfter` gives its slot up (it goes on, bounded by its own
/// timeout, among at most `maxUnderWay`): when many sites die at once, each costs a slot that
/// long, not a whole timeout, before it is known to be timing out.
struct ProbeSchedule<Entries: Equatable & Sendable>: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Policy: Sendable, Equatable {
        /// Probes under way at once.
        var slots: Int
        /// How long after its probe ends a site that answered, or failed at once, is probed again.
        var interval: Duration
        /// The longest backoff of a site whose probes time out.
        var backoffCap: Duration
        /// A probe unanswered this long gives its slot up; nil: it keeps it until it ends.
        var stallAfter: Duration?
        /// Probes under way at once, those that gave their slot up included.
        var maxUnderWay: Int

        /// - Parameter backoffCap: by default ten intervals, at most five minutes, never less
        ///   than the interval.
        init(slots: Int, interval: Duration, backoffCap: Duration? = nil, stallAfter: Duration? = nil) {
            self.slots = max(1, slots)
            self.interval = interval
            self.backoffCap = max(interval, backoffCap ?? min(interval * 10, .seconds(300)))
            self.stallAfter = stallAfter
            self.maxUnderWay = self.slots * 8
        }

        /// Of the slots, the most that probes of sites not known to answer may hold: half (one
        /// when there is a single slot, which then cannot be reserved).
        var restrictedSlots: Int { max(1, slots / 2) }

        /// How long after its `timeouts`-th timed-out probe in a row a site is probed again.
        func backoff(afterTimeouts timeouts: Int) -> Duration {
            Backoff(initial: interval, maximum: backoffCap).step(afterFailures: timeouts)
        }
    }

    /// How a probe ended.
    enum Outcome: Sendable {
        /// The site answered (whatever it said of the credential).
        case answered
        /// It did not answer within the timeout.
        case timedOut
        /// It could not be reached, and said so at once.
        case failed
    }

    /// What the last probe of a site found.
    enum Standing: Equatable, Sendable {
        /// Not probed yet, or its entries changed since a probe that did not answer.
        case new
        case answering
        case failing
        /// The last `count` probes in a row timed out.
        case timingOut(count: Int)
    }

    struct Site: Equatable, Sendable {
        var entries: Entries
        var due: Instant
        var standing = Standing.new
        /// Identifies these entries: a probe of an earlier generation says nothing of them.
        var generation: Int
        /// A probe of this generation is under way.
        var probing = false

        /// Limited to the restricted slots: not known to answer.
        var restricted: Bool { standing != .answering }
    }

    /// One probe under way: of which site, as which generation of its entries.
    struct Probe: Hashable, Sendable {
        var site: String
        var generation: Int
    }

    let policy: Policy
    private(set) var sites: [String: Site] = [:]
    /// Probes holding a slot, whether each holds a restricted one, and when it started. A probe
    /// of entries replaced or removed since keeps its slot until it ends: its connection is real.
    private(set) var running: [Probe: (restricted: Bool, startedAt: Instant)] = [:]
    /// Probes that gave their slot up, unanswered after `stallAfter`, still under way.
    private(set) var stalled: Set<Probe> = []
    private var lastGeneration = 0

    init(policy: Policy) {
        self.policy = policy
    }

    private var restrictedRunning: Int { running.values.count(where: { $0.restricted }) }

    // MARK: - Sites

    /// Takes the sites served now, with their entries: new ones and changed ones are due at once,
    /// those gone are dropped. A changed site that answered (a renewed token, mostly) may still
    /// take any slot: one probe that finds it gone costs one slot for one timeout. Any other
    /// changed site starts over as new, ahead of those timing out.
    mutating func synchronise(_ served: [String: Entries], now: Instant) {
        sites = sites.filter { served[$0.key] != nil }
        for (name, entries) in served where sites[name]?.entries != entries {
            lastGeneration += 1
            let standing = sites[name]?.standing == .answering ? Standing.answering : .new
            sites[name] = Site(entries: entries, due: now, standing: standing, generation: lastGeneration)
        }
    }

    /// Makes `name` due now (registered again, or it has no result): unless a probe of its
    /// present entries is under way, which will tell.
    mutating func probeSoon(_ name: String, now: Instant) {
        guard let site = sites[name], !site.probing else { return }
        sites[name]?.due = min(site.due, now)
    }

    // MARK: - Probes

    /// Starts what is due and fits: sites not known to answer within the restricted slots, the
    /// others in any slot; by due time, sites timing out after the rest. The caller runs each
    /// probe and reports its end to `finished`.
    mutating func start(now: Instant) -> [Probe] {
        releaseStalled(now: now)
        let candidates = sites.filter { !$0.value.probing && $0.value.due <= now }.sorted { a, b in
            let (left, right) = (a.value, b.value)
            let (leftTimingOut, rightTimingOut) = (left.standing.timeouts > 0, right.standing.timeouts > 0)
            if leftTimingOut != rightTimingOut { return rightTimingOut }
            return left.due != right.due ? left.due < right.due : a.key < b.key
        }
        var started: [Probe] = []
        for (name, site) in candidates {
            guard running.count < policy.slots, running.count + stalled.count < policy.maxUnderWay else { break }
            if site.restricted, restrictedRunning >= policy.restrictedSlots { continue }
            let probe = Probe(site: name, generation: site.generation)
            running[probe] = (site.restricted, now)
            sites[name]?.probing = true
            started.append(probe)
        }
        return started
    }

    /// A probe ended; it frees its slot. Only a probe of the present entries reschedules its site.
    mutating func finished(_ probe: Probe, _ outcome: Outcome, now: Instant) {
        running[probe] = nil
        stalled.remove(probe)
        guard var site = sites[probe.site], site.generation == probe.generation else { return }
        site.probing = false
        switch outcome {
        case .answered:
            site.standing = .answering
            site.due = now + policy.interval
        case .failed:
            site.standing = .failing
            site.due = now + policy.interval
        case .timedOut:
            let count = site.standing.timeouts + 1
            site.standing = .timingOut(count: count)
            site.due = now + policy.backoff(afterTimeouts: count)
        }
        sites[probe.site] = site
    }

    /// When `start` can next start a probe without one ending first; nil when no probe can
    /// start until one ends (or there is nothing to probe).
    var nextStart: Instant? {
        let release = policy.stallAfter.flatMap { after in running.values.map { $0.startedAt + after }.min() }
        guard running.count < policy.slots, running.count + stalled.count < policy.maxUnderWay else { return release }
        let restrictedFull = restrictedRunning >= policy.restrictedSlots
        let due = sites.values.filter { !$0.probing && !($0.restricted && restrictedFull) }.map(\.due).min()
        return [due, release].compactMap { $0 }.min()
    }

    /// Probes unanswered after `stallAfter` give their slots up.
    private mutating func releaseStalled(now: Instant) {
        guard let after = policy.stallAfter else { return }
        for (probe, slot) in running where slot.startedAt + after <= now {
            running[probe] = nil
            stalled.insert(probe)
        }
    }
}

extension ProbeSchedule.Standing {
    /// Timed-out probes in a row.
    var timeouts: Int {
        guard case .timingOut(let count) = self else { return 0 }
        return count
    }
}
