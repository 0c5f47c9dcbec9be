import KubeconfigBase
import KubernetesAPI
import Synchronization
import Testing

@testable import KubeconfigService

@Suite struct SingleFlightTests {
    @Test func callersWhoArriveDuringARunShareIt() async throws {
        let flight = SingleFlight<String, Int>()
        let runs = Atomic<Int>(0)
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let work: @Sendable () async throws(ServiceError) -> Int = {
            let run = runs.add(1, ordering: .relaxed).newValue
            for await _ in gate { break }
            return run
        }
        async let first = flight.run("central", work)
        async let second = flight.run("central", work)
        // Both callers are waiting once the one run has started.
        while runs.load(ordering: .relaxed) == 0 { await Task.yield() }
        try await Task.sleep(for: .milliseconds(50))
        open.yield()
        #expect(try await [first, second] == [1, 1])
        #expect(runs.load(ordering: .relaxed) == 1)
        // Once it is over, the next caller starts a new run.
        open.yield()
        #expect(try await flight.run("central", work) == 2)
    }

    @Test func aCallerWhoSawTheOutcomeStartsANewRun() async throws {
        let flight = SingleFlight<String, Int>()
        let runs = Counters()
        let work: @Sendable () async throws(ServiceError) -> Int = { runs.runs.add(1, ordering: .relaxed).newValue }
        for round in 1...50 {
            // The first caller is left running; another task watches for the outcome to be
            // committed and publishes again at once, as a POST after /healthz turned ready would.
            let first = Task { try await flight.run("k", work) { _ in runs.committed.store(round, ordering: .releasing) } }
            while runs.committed.load(ordering: .acquiring) < round { await Task.yield() }
            let next = try await flight.run("k", work)
            #expect(next > (try await first.value), "round \(round) joined a run that was over")
        }
    }

    @Test func differentKeysRunSeparately() async throws {
        let flight = SingleFlight<String, String>()
        async let a = flight.run("a") { () async throws(ServiceError) in "a" }
        async let b = flight.run("b") { () async throws(ServiceError) in "b" }
        #expect(try await [a, b] == ["a", "b"])
    }

    @Test func aFailureReachesEveryCaller() async {
        let flight = SingleFlight<String, Int>()
        await #expect {
            try await flight.run("x") { () async throws(ServiceError) -> Int in
                throw ServiceError(code: .apiTimeout, message: "slow")
            }
        } throws: { ($0 as? ServiceError)?.code == .apiTimeout }
    }
}

private final class Counters: Sendable {
    let runs = Atomic<Int>(0)
    let committed = Atomic<Int>(0)
}
