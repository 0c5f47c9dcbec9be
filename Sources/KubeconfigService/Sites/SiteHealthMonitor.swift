import FoundationEssentials
import HTTPMessages
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// Probes every site of the served document, each with its own server, CA and credential, and
/// keeps the last result per site for `GET /sites` and the metrics.
///
/// Each site is probed on its own schedule (`ProbeSchedule`), at most `concurrency` probes at
/// once, each bounded by the prober's timeout: no probe waits for another site's; a site whose
/// probe timed out backs off, and sites not known to answer hold at most half the slots, so a
/// dead site delays no live one. Nothing here touches publication or readiness.
public final class SiteHealthMonitor: Sendable {
    private let state: PublicationState
    private let location: String
    private let prober: any ClusterProbeAPI
    private let concurrency: Int
    private let logger: Logger
    private let rejected: (@Sendable (_ site: String, _ fingerprint: String) -> Void)?
    private let recovered: (@Sendable (_ site: String) -> Void)?
    private let results = Mutex<[String: Result]>([:])
    /// Whose probe is due and which may start: made by `run(every:)`.
    private let schedule = Mutex<Schedule?>(nil)
    private let wakeup = Wakeup()
    private let metrics = SiteMetrics()

    /// Sites are scheduled with the entries they are probed as.
    private typealias Schedule = ProbeSchedule<[DocumentNode?]>

    /// A probe's report, and the entries it probed: a site replaced since shows no stale health.
    private struct Result {
        var entries: [DocumentNode?]
        var health: SiteHealth
    }

    /// - Parameters:
    ///   - rejected: told when a site's token no longer authenticates (to renew it).
    ///   - recovered: told when a site that could not be reached is reached again.
    public init(
        state: PublicationState, location: String, prober: any ClusterProbeAPI, concurrency: Int = 8,
        rejected: (@Sendable (_ site: String, _ fingerprint: String) -> Void)? = nil,
        recovered: (@Sendable (_ site: String) -> Void)? = nil, logger: Logger
    ) {
        self.rejected = rejected
        self.recovered = recovered
        self.state = state
        self.location = location
        self.prober = prober
        self.concurrency = max(1, concurrency)
        self.logger = logger
    }

    /// The last probe of `name`, if it probed the site as the document now states it.
    public func health(of name: String, in document: KubeconfigDocument) -> SiteHealth? {
        guard let result = results.withLock({ $0[name] }) else { return nil }
        return result.entries == document.entries(ofSite: name) ? result.health : nil
    }

    /// Probes, as soon as a slot allows, the sites of the served document that have no result
    /// for their present entries (another writer added or changed them); a site whose probe of
    /// those entries is under way is not probed twice.
    public func probeChanged() {
        guard let document = state.published?.document else { return }
        let names = document.contexts.map(\.name).filter { health(of: $0, in: document) == nil }
        let now = ContinuousClock.now
        schedule.withLock { schedule in
            for name in names { schedule?.probeSoon(name, now: now) }
        }
        wakeup.signal()
    }

    /// Probes one site of the served document as soon as a slot allows (after its registration).
    public func probe(site name: String) {
        schedule.withLock { $0?.probeSoon(name, now: .now) }
        wakeup.signal()
    }

    /// Probes each site on its own schedule (`ProbeSchedule`) until cancelled: an `interval`
    /// after its last probe ended, a site whose probe timed out backing off up to `backoffCap`
    /// (by default ten intervals, at most five minutes); at most `concurrency` holding a slot at
    /// once, at most half of them for sites not known to answer; a probe unanswered after
    /// `stallAfter` gives its slot up and goes on until its timeout. Until the document is first
    /// read, it looks every second.
    public func run(every interval: Duration, backoffCap: Duration? = nil, stallAfter: Duration? = .milliseconds(500)) async {
        let policy = Schedule.Policy(slots: concurrency, interval: interval, backoffCap: backoffCap, stallAfter: stallAfter)
        schedule.withLock { $0 = ProbeSchedule(policy: policy) }
        var synchronised: (tag: String, at: ContinuousClock.Instant)?
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                guard let published = state.published else {
                    await wakeup.wait(for: min(interval, .seconds(1)))
                    continue
                }
                // Sites added, changed or removed join or leave the schedule; what belongs to sites
                // gone is let go of then, and again once an interval (connections in use then).
                let inStep = synchronised.map { $0.tag == published.yamlETag && ContinuousClock.now - $0.at < interval }
                if inStep != true {
                    await synchronise(with: published.document)
                    synchronised = (published.yamlETag, .now)
                }
                for probe in schedule.withLock({ $0?.start(now: .now) ?? [] }) {
                    group.addTask {
                        let outcome = await self.probe(probe.site, in: published.document)
                        self.schedule.withLock { $0?.finished(probe, outcome, now: .now) }
                        self.wakeup.signal()
                    }
                }
                let next = schedule.withLock { $0?.nextStart }
                await wakeup.wait(for: next.map { max($0 - ContinuousClock.now, .zero) } ?? interval)
            }
            group.cancelAll()
        }
    }

    /// Brings the schedule to `document`'s sites and forgets what belongs to sites gone.
    private func synchronise(with document: KubeconfigDocument) async {
        let served = Dictionary(
            document.contexts.map { ($0.name, document.entries(ofSite: $0.name)) }, uniquingKeysWith: { first, _ in first })
        schedule.withLock { $0?.synchronise(served, now: .now) }
        await forget(allBut: document)
    }

    /// Forgets a site removed from the document at once: its result and its series (the
    /// schedule drops it when it next wakes, which this asks for).
    public func siteRemoved(_ name: String) {
        results.withLock { _ = $0.removeValue(forKey: name) }
        metrics.retain(sites: Set((state.published?.document.contexts ?? []).map(\.name)).subtracting([name]))
        wakeup.signal()
    }

    /// Probes `name` as `document` states it, keeps the result if the site is still served so;
    /// returns how the probe ended, for the schedule.
    private func probe(_ name: String, in document: KubeconfigDocument) async -> Schedule.Outcome {
        guard let target = document.endpoint(ofSite: name) else { return .failed }
        let report: ProbeReport
        switch target {
        case .success(let endpoint):
            report = await prober.probe(endpoint)
            if report.authenticated == false, case .token(let token) = endpoint.credential {
                rejected?(name, token.fingerprint)
            }
        case .failure(let error):
            report = ProbeReport(reachable: false, authenticated: nil, latency: .zero, error: error)
        }
        keep(SiteHealth(report, checkedAt: Date()), latency: report.latency, of: name, probed: document.entries(ofSite: name))
        return Schedule.Outcome(report)
    }

    /// Keeps the probe a registration made of `endpoint` before writing it (`SiteRegistry`) as
    /// the site's health, while the served document states the site so: not probed again.
    public func registered(_ name: String, endpoint: ClusterEndpoint, health: SiteHealth) {
        guard let document = state.published?.document, case .success(endpoint)? = document.endpoint(ofSite: name)
        else { return probe(site: name) }
        keep(health, latency: .milliseconds(health.latencyMs), of: name, probed: document.entries(ofSite: name))
    }

    /// Keeps `health` as `name`'s if the served document still holds the `probed` entries (the
    /// site may have been replaced or removed while it was probed: then the result describes
    /// nothing served, and must neither be kept nor recreate its series); logs a change of state.
    private func keep(_ health: SiteHealth, latency: Duration, of name: String, probed: [DocumentNode?]) {
        guard let served = state.published?.document, served.entries(ofSite: name) == probed else { return }
        let previous = results.withLock { results in
            defer { results[name] = Result(entries: probed, health: health) }
            return results[name]?.health
        }
        if previous?.reachable == false, health.reachable { recovered?(name) }
        if previous?.isUp != health.isUp || previous?.error?.code != health.error?.code {
            var metadata: Logger.Metadata = [
                "site": "\(name.printable)", "reachable": "\(health.reachable)",
                "authenticated": "\(health.authenticated.map(String.init) ?? "unknown")",
            ]
            if let error = health.error {
                metadata["error_code"] = "\(error.code)"
                metadata["error"] = "\(error.message)"
            }
            if health.isUp {
                logger.info("site is up", metadata: metadata)
            } else {
                logger.warning("site is down", metadata: metadata)
            }
        }
        if let summary = served.siteSummary(named: name, location: location) {
            metrics.record(site: name, health: health, latency: latency, summary: summary)
        }
    }

    /// Forgets results, metrics and connections of sites no longer in `document`.
    private func forget(allBut document: KubeconfigDocument) async {
        let names = Set(document.contexts.map(\.name))
        results.withLock { results in results = results.filter { names.contains($0.key) } }
        metrics.retain(sites: names)
        let endpoints = names.compactMap { document.endpoint(ofSite: $0).flatMap { try? $0.get() } }
        await prober.retain(endpoints)
    }
}

extension ProbeSchedule.Outcome {
    /// A probe that timed out held its slot for the whole timeout; other failures end at once.
    fileprivate init(_ report: ProbeReport) {
        self = report.reachable ? .answered : report.error?.code == .siteTimeout ? .timedOut : .failed
    }
}
