import FoundationEssentials
import HTTPMessages
import KubernetesAPI
import Logging
import Synchronization

/// Probes every site of the served document, each with its own server, CA and credential, and
/// keeps the last result per site for `GET /sites` and the metrics.
///
/// Probes run concurrently, at most `concurrency` at once, each bounded by the probe's timeout:
/// a dead site delays no other site, and nothing here touches publication or readiness.
public final class SiteHealthMonitor: Sendable {
    private let state: PublicationState
    private let location: String
    private let prober: any ClusterProbeAPI
    private let concurrency: Int
    private let logger: Logger
    private let rejected: (@Sendable (_ site: String, _ fingerprint: String) -> Void)?
    private let recovered: (@Sendable (_ site: String) -> Void)?
    private let results = Mutex<[String: Result]>([:])
    /// Sites `probeChanged` is probing now.
    private let probing = Mutex<Set<String>>([])
    private let metrics = SiteMetrics()

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

    /// Probes every site of the served document once, then drops what belongs to sites gone.
    public func probeAll() async {
        guard let document = state.published?.document else { return }
        await probe(document.contexts.map(\.name), in: document)
        // Sites may have been removed while the pass ran: forget against the document now served.
        await forget(allBut: state.published?.document ?? document)
    }

    /// Probes `names`, at most `concurrency` at once.
    private func probe(_ names: [String], in document: KubeconfigDocument) async {
        await withTaskGroup(of: Void.self) { group in
            var pending = names.makeIterator()
            for _ in 0..<concurrency {
                guard let name = pending.next() else { break }
                group.addTask { await self.probe(name, in: document) }
            }
            while await group.next() != nil {
                guard let name = pending.next() else { continue }
                group.addTask { await self.probe(name, in: document) }
            }
        }
    }

    /// Probes, now, the sites of the served document that have no result for their present
    /// entries (another writer added or changed them), and forgets sites gone; a site whose
    /// probe is under way is not probed twice.
    public func probeChanged() async {
        guard let document = state.published?.document else { return }
        let names = document.contexts.map(\.name).filter { health(of: $0, in: document) == nil }
        let claimed = probing.withLock { probing in
            let claimed = names.filter { !probing.contains($0) }
            probing.formUnion(claimed)
            return claimed
        }
        await probe(claimed, in: document)
        probing.withLock { $0.subtract(claimed) }
        await forget(allBut: state.published?.document ?? document)
    }

    /// Probes one site of the served document now (after its registration).
    public func probe(site name: String) async {
        guard let document = state.published?.document else { return }
        await probe(name, in: document)
    }

    /// Probes every `interval` until cancelled; until the document is first read, every second.
    public func run(every interval: Duration) async {
        while !Task.isCancelled {
            guard state.published != nil else {
                try? await Task.sleep(for: min(interval, .seconds(1)))
                continue
            }
            await probeAll()
            try? await Task.sleep(for: interval)
        }
    }

    /// Forgets a site removed from the document at once: its result and its series.
    public func siteRemoved(_ name: String) {
        results.withLock { _ = $0.removeValue(forKey: name) }
        metrics.retain(sites: Set((state.published?.document.contexts ?? []).map(\.name)).subtracting([name]))
    }

    private func probe(_ name: String, in document: KubeconfigDocument) async {
        guard let target = document.endpoint(ofSite: name) else { return }
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
        let health = SiteHealth(report, checkedAt: Date())
        // The site may have been replaced or removed while it was probed: then this result
        // describes nothing served, and must neither be kept nor recreate its series.
        let probed = document.entries(ofSite: name)
        guard let served = state.published?.document, served.entries(ofSite: name) == probed else { return }
        let previous = results.withLock { results in
            defer { results[name] = Result(entries: probed, health: health) }
            return results[name]?.health
        }
        if previous?.reachable == false, health.reachable { recovered?(name) }
        if previous?.isUp != health.isUp || previous?.error?.code != health.error?.code {
            var metadata: Logger.Metadata = [
                "site": "\(HTTPServerRequest.printable(name))", "reachable": "\(health.reachable)",
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
        if let summary = document.siteSummary(named: name, location: location) {
            metrics.record(site: name, health: health, latency: report.latency, summary: summary)
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
