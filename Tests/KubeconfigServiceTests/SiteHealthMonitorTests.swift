import Foundation
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Synchronization
import Testing

@testable import KubeconfigService

/// The probe schedule's bookkeeping, with a prober that answers from a script.
@Suite struct SiteHealthMonitorTests {
    /// Answers by server; counts probes in flight.
    final class ScriptedProber: ClusterProbeAPI {
        struct State {
            var inFlight = 0
            var mostInFlight = 0
            var probed: [String] = []
            var retained: [[String]] = []
        }
        let state = Mutex(State())
        let delay: Duration

        init(delay: Duration = .zero) { self.delay = delay }

        func probe(_ endpoint: ClusterEndpoint) async -> ProbeReport {
            state.withLock {
                $0.inFlight += 1
                $0.mostInFlight = max($0.mostInFlight, $0.inFlight)
                $0.probed.append(endpoint.server)
            }
            // A token named `slow...` takes a second: a probe still running when the site changes.
            let slow = endpoint.credential == .token(BearerToken("slow-token"))
            try? await Task.sleep(for: slow ? .seconds(1) : delay)
            state.withLock { $0.inFlight -= 1 }
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
    }

    let state = PublicationState()

    func serve(_ sites: [String]) throws {
        var document = KubeconfigDocument()
        for name in sites { try document.register(SiteDocumentTests.site(name), fallback: "central") }
        state.stored(PublishedDocument(document: document, resourceVersion: String(Int.random(in: 1...1_000_000))))
    }

    @Test func everySiteIsProbedWithinTheConcurrencyBound() async throws {
        let prober = ScriptedProber(delay: .milliseconds(20))
        let monitor = SiteHealthMonitor(
            state: state, location: "central", prober: prober, concurrency: 3, logger: Logger(label: "test"))
        let names = (0..<10).map { "site-\($0)" } + ["down-1"]
        try serve(names)
        await monitor.probeAll()
        #expect(prober.state.withLock { $0.probed.count } == 11)
        #expect(prober.state.withLock { $0.mostInFlight } == 3)
        let document = try #require(state.published?.document)
        #expect(monitor.health(of: "site-1", in: document)?.user == "deployer")
        let down = try #require(monitor.health(of: "down-1", in: document))
        #expect(!down.reachable && down.error?.code == "SiteConnectionRefused")
    }

    @Test func afterAnotherWritersChangeOnlyNewOrChangedSitesAreProbed() async throws {
        let prober = ScriptedProber()
        let monitor = SiteHealthMonitor(state: state, location: "central", prober: prober, logger: Logger(label: "test"))
        try serve(["site-a", "site-b"])
        await monitor.probeAll()
        var document = try #require(state.published?.document)
        try document.register(SiteDocumentTests.site("site-c"), fallback: "central")
        try document.register(SiteDocumentTests.site("site-a", token: "replacement"), fallback: "central")
        state.stored(PublishedDocument(document: document, resourceVersion: "2000000"))
        let before = prober.state.withLock { $0.probed.count }
        await monitor.probeChanged()
        let probed = prober.state.withLock { Array($0.probed.dropFirst(before)) }
        #expect(probed.count == 2)
        #expect(monitor.health(of: "site-c", in: document) != nil && monitor.health(of: "site-a", in: document) != nil)
        await monitor.probeChanged()
        #expect(prober.state.withLock { $0.probed.count } == before + 2, "nothing new: nothing probed")
    }

    @Test func aReplacedSiteShowsNoStaleHealthAndARemovedOneIsForgotten() async throws {
        let prober = ScriptedProber()
        let monitor = SiteHealthMonitor(state: state, location: "central", prober: prober, logger: Logger(label: "test"))
        try serve(["site-a", "site-b"])
        await monitor.probeAll()
        // site-a is registered again with another token: its last probe no longer describes it.
        var document = try #require(state.published?.document)
        try document.register(SiteDocumentTests.site("site-a", token: "replacement"), fallback: "central")
        #expect(monitor.health(of: "site-a", in: document) == nil)
        #expect(monitor.health(of: "site-b", in: document) != nil)
        // site-b is removed: the next pass lets go of its connections and its result.
        _ = document.removeSite(named: "site-b", fallback: "central")
        state.stored(PublishedDocument(document: document, resourceVersion: "999999999"))
        await monitor.probeAll()
        #expect(monitor.health(of: "site-b", in: try #require(state.published?.document)) == nil)
        #expect(prober.state.withLock { $0.retained.last } == ["https://site-a.example:6443"])
        #expect(monitor.health(of: "site-a", in: try #require(state.published?.document)) != nil)
    }

    @Test func aProbeOfEntriesReplacedMeanwhileDoesNotOverwriteTheNewOnesResult() async throws {
        let prober = ScriptedProber()
        let monitor = SiteHealthMonitor(state: state, location: "central", prober: prober, logger: Logger(label: "test"))
        var document = KubeconfigDocument()
        try document.register(SiteDocumentTests.site("site-a", token: "slow-token"), fallback: "central")
        state.stored(PublishedDocument(document: document, resourceVersion: "1"))
        let pass = Task { await monitor.probeAll() }
        // While the slow probe of the old token runs, the site is registered again and probed.
        try await Task.sleep(for: .milliseconds(200))
        try document.register(SiteDocumentTests.site("site-a", token: "fresh-token"), fallback: "central")
        state.stored(PublishedDocument(document: document, resourceVersion: "2"))
        await monitor.probe(site: "site-a")
        #expect(monitor.health(of: "site-a", in: document) != nil)
        await pass.value
        #expect(monitor.health(of: "site-a", in: document) != nil, "the old probe's result replaced the new one's")
    }
}
