import Testing

@testable import KubeconfigService

/// The renewal schedule's sleep: cut short by a signal, kept when nobody waits.
@Suite struct WakeupTests {
    /// The waits are an hour long and the test is limited to a minute: only a signal can end
    /// them in time, however slow a loaded machine runs the test (no threshold to tune).
    @Test(.timeLimit(.minutes(1)))
    func aSignalEndsTheWaitAndOneSentEarlierIsKept() async {
        let wakeup = Wakeup()
        let clock = ContinuousClock()
        wakeup.signal()
        let early = await clock.measure { await wakeup.wait(for: .seconds(3600)) }
        #expect(early < .seconds(60), "a signal sent before the wait ends it at once")
        let waiting = Task { await clock.measure { await wakeup.wait(for: .seconds(3600)) } }
        try? await Task.sleep(for: .milliseconds(50))
        wakeup.signal()
        #expect(await waiting.value < .seconds(60), "a signal during the wait ends it")
    }

    @Test func withoutASignalTheWaitLastsItsDuration() async {
        let wakeup = Wakeup()
        let elapsed = await ContinuousClock().measure { await wakeup.wait(for: .milliseconds(200)) }
        #expect(elapsed >= .milliseconds(200))
    }
}
