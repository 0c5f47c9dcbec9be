import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Synchronization
import Testing

@testable import KubeconfigService

/// The monitor driving its schedule, with a prober that answers from a script.
@Suite struct SiteHealthMonitorTests {
    /// Answers by server: `hang...` never answers until cancelled, `down...` is refused, a server
    /// in `timingOut` times out (at once); counts probes in flight.
    final class ScriptedProber: ClusterProbeAPI {
        struct State {
            var inFlight = 0
            var mostInFlight = 0
            var probed: [String] = []
            var retained: [[String]] = []
            var timingOut: Set<String> = []
            /// Whether probes with the token `slow-token` may end.
            var released = false
        }
        let state = Mutex(State())
        let delay: Duration

        init(delay: Duration = .zero) { self.delay = delay }

        func probe(_ endpoint: ClusterEndpoint) async -> ProbeReport {
            let timingOut = state.withLock {
                $0.inFlight += 1
                $0.mostInFlight = max($0.mostInFlight, $0.inFlight)
                $0.probed.append(endpoint.server)
                return $0.timingOut.contains(endpoint.server)
            }
            // The token `slow-token` waits for `released`: a probe still running when the site changes.
            if endpoint.credential == .token(BearerToken("slow-token")) {
                while !state.withLock({ $0.released }), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
            }
            let hang = endpoint.server.contains("hang")
            try? await Task.sleep(for: hang ? .seconds(3600) : delay)
            state.withLock { $0.inFlight -= 1 }
            if timingOut || hang {
                return ProbeReport(
                    reachable: false, authenticated: nil, latency: .milliseconds(3),
                    error: ServiceError(code: .siteTimeout, message: "did not answer in time"))
            }
            if endpoint.server.contains("down") {
                return ProbeReport(
                    reachable: false, authenticated: nil, latency: .milliseconds(3),
                    error: ServiceError(code: .siteConnectionRefused, message: "refused"))
            }
            return ProbeReport(reachable: true, authenticated: true, user: "deployer", latency: .milliseconds(2))
        }

        func retain(_ endpoints: [ClusterEndpoint]) async {
            state.withLock { $0.retained.append(endpoints.map(\.server).sorted()) }
        }

        func probes(of site: String) -> Int {
            state.withLock { state in state.probed.count { $0 == "https://\(site).example:6443" } }
        }
    }

    let state = PublicationState()
    let prober = ScriptedProber()

    func serve(_ sites: [String], adding: Bool = false) throws {
        var document = adding ? state.published?.document ?? KubeconfigDocument() : KubeconfigDocument()
        for name in sites { try document.register(SiteDocumentTests.site(name), fallback: "central") }
        store(document)
    }

    func store(_ document: KubeconfigDocument) {
        let version = Int(state.published?.resourceVersion ?? "0")! + 1
        state.stored(PublishedDocument(document: document, resourceVersion: String(version)))
    }

    func monitor(
        _ prober: ScriptedProber? = nil, concurrency: Int = 8, recovered: (@Sendable (String) -> Void)? = nil
    ) -> SiteHealthMonitor {
        SiteHealthMonitor(
            state: state, location: "central", prober: prober ?? self.prober, concurrency: concurrency,
            recovered: recovered, logger: Logger(label: "test"))
    }

    /// Runs `monitor`'s schedule; cancel the task to end it.
    func running(
        _ monitor: SiteHealthMonitor, every interval: Duration, backoffCap: Duration? = nil, stallAfter: Duration? = nil
    ) -> Task<Void, Never> {
        Task { await monitor.run(every: interval, backoffCap: backoffCap, stallAfter: stallAfter) }
    }

    func health(_ monitor: SiteHealthMonitor, _ name: String) -> SiteHealth? {
        state.published.flatMap { monitor.health(of: name, in: $0.document) }
    }

    // MARK: - Tests

    @Test func everySiteIsProbedWithinTheConcurrencyBound() async throws {
        let prober = ScriptedProber(delay: .milliseconds(20))
        let monitor = monitor(prober, concurrency: 3)
        try serve((0..<10).map { "site-\($0)" } + ["down-1"])
        // Every probe is due again at once: the slots stay full.
        let run = running(monitor, every: .milliseconds(1))
        defer { run.cancel() }
        #expect(await eventually { prober.state.withLock { Set($0.probed).count } == 11 })
        #expect(await eventually { prober.state.withLock { $0.probed.count } >= 60 })
        #expect(prober.state.withLock { $0.mostInFlight } == 3)
        #expect(await eventually { health(monitor, "site-1")?.user == "deployer" })
        let down = try #require(health(monitor, "down-1"))
        #expect(!down.reachable && down.error?.code == "SiteConnectionRefused")
    }

    @Test func healthySitesAreProbedEveryIntervalWhileOthersHang() async throws {
        let monitor = monitor(concurrency: 4)
        try serve(["live-a", "live-b"])
        let run = running(monitor, every: .milliseconds(50))
        defer { run.cancel() }
        #expect(await eventually { health(monitor, "live-a") != nil && health(monitor, "live-b") != nil })
        // Six sites that accept and never answer; their probes end only when cancelled.
        try serve((0..<6).map { "hang-\($0)" }, adding: true)
        monitor.probeChanged()
        let hanging = { prober.state.withLock { state in state.probed.count { $0.contains("hang") } } }
        #expect(await eventually { hanging() == 2 })
        let before = (prober.probes(of: "live-a"), prober.probes(of: "live-b"))
        #expect(await eventually { prober.probes(of: "live-a") >= before.0 + 10 && prober.probes(of: "live-b") >= before.1 + 10 })
        #expect(hanging() == 2, "sites not known to answer hold at most half of the four slots")
    }

    @Test func aProbeUnansweredPastTheStallTimeGivesItsSlotUp() async throws {
        let monitor = monitor(concurrency: 2)
        try serve(["live-a"])
        let run = running(monitor, every: .milliseconds(50), stallAfter: .milliseconds(100))
        defer { run.cancel() }
        #expect(await eventually { health(monitor, "live-a") != nil })
        // Six hanging sites, one restricted slot: without giving slots up, one would hang at a time.
        try serve((0..<6).map { "hang-\($0)" }, adding: true)
        monitor.probeChanged()
        let hanging = { prober.state.withLock { state in state.probed.count { $0.contains("hang") } } }
        #expect(await eventually { hanging() == 6 }, "each hanging probe held the slot for the stall time only")
        let before = prober.probes(of: "live-a")
        #expect(await eventually { prober.probes(of: "live-a") >= before + 10 })
    }

    @Test func aSiteThatAnswersAgainAfterBackingOffIsReportedRecovered() async throws {
        let recoveries = Mutex<[String]>([])
        let monitor = monitor(recovered: { site in recoveries.withLock { $0.append(site) } })
        prober.state.withLock { $0.timingOut = ["https://flaky.example:6443"] }
        try serve(["flaky", "steady"])
        let run = running(monitor, every: .milliseconds(20), backoffCap: .milliseconds(80))
        defer { run.cancel() }
        #expect(await eventually { prober.probes(of: "flaky") >= 4 })
        #expect(health(monitor, "flaky")?.reachable == false)
        prober.state.withLock { $0.timingOut = [] }
        #expect(await eventually { recoveries.withLock { $0 } == ["flaky"] })
        #expect(health(monitor, "flaky")?.reachable == true)
    }

    @Test func afterAnotherWritersChangeOnlyNewOrChangedSitesAreProbed() async throws {
        let monitor = monitor()
        try serve(["site-a", "site-b"])
        let run = running(monitor, every: .seconds(60))
        defer { run.cancel() }
        #expect(await eventually { health(monitor, "site-a") != nil && health(monitor, "site-b") != nil })
        var document = try #require(state.published?.document)
        try document.register(SiteDocumentTests.site("site-c"), fallback: "central")
        try document.register(SiteDocumentTests.site("site-a", token: "replacement"), fallback: "central")
        store(document)
        let before = prober.state.withLock { $0.probed.count }
        monitor.probeChanged()
        #expect(await eventually { health(monitor, "site-c") != nil && health(monitor, "site-a") != nil })
        monitor.probeChanged()
        try await Task.sleep(for: .milliseconds(100))
        let probed = prober.state.withLock { Array($0.probed.dropFirst(before)) }
        #expect(probed.sorted() == ["https://site-a.example:6443", "https://site-c.example:6443"], "nothing else, once")
    }

    @Test func aReplacedSiteShowsNoStaleHealthAndARemovedOneIsForgotten() async throws {
        let monitor = monitor()
        try serve(["site-a", "site-b"])
        let run = running(monitor, every: .seconds(60))
        defer { run.cancel() }
        #expect(await eventually { health(monitor, "site-a") != nil && health(monitor, "site-b") != nil })
        // site-a is registered again with another token: its last probe no longer describes it.
        var document = try #require(state.published?.document)
        try document.register(SiteDocumentTests.site("site-a", token: "replacement"), fallback: "central")
        #expect(monitor.health(of: "site-a", in: document) == nil)
        #expect(monitor.health(of: "site-b", in: document) != nil)
        // site-b is removed: its result goes at once, its connections once the schedule wakes.
        _ = document.removeSite(named: "site-b", fallback: "central")
        store(document)
        monitor.siteRemoved("site-b")
        #expect(health(monitor, "site-b") == nil)
        #expect(await eventually { prober.state.withLock { $0.retained.last } == ["https://site-a.example:6443"] })
        #expect(await eventually { health(monitor, "site-a") != nil })
    }

    @Test func aProbeOfEntriesReplacedMeanwhileDoesNotOverwriteTheNewOnesResult() async throws {
        let monitor = monitor()
        var document = KubeconfigDocument()
        try document.register(SiteDocumentTests.site("site-a", token: "slow-token"), fallback: "central")
        store(document)
        let run = running(monitor, every: .seconds(60))
        defer { run.cancel() }
        // While the slow probe of the old token runs, the site is registered again and probed.
        #expect(await eventually { prober.state.withLock { $0.inFlight } == 1 })
        try document.register(SiteDocumentTests.site("site-a", token: "fresh-token"), fallback: "central")
        store(document)
        monitor.probe(site: "site-a")
        #expect(await eventually { monitor.health(of: "site-a", in: document) != nil }, "the new entries wait for no probe")
        prober.state.withLock { $0.released = true }
        #expect(await eventually { prober.state.withLock { $0.inFlight } == 0 })
        #expect(monitor.health(of: "site-a", in: document) != nil, "the old probe's result replaced the new one's")
    }
}
