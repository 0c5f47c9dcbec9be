import Testing

@testable import KubeconfigService

/// The renewal schedule's sleep: cut short by a signal, kept when nobody waits.
@Suite struct WakeupTests {
    @Test func aSignalEndsTheWaitAndOneSentEarlierIsKept() async {
        let wakeup = Wakeup()
        let clock = ContinuousClock()
        wakeup.signal()
        let early = await clock.measure { await wakeup.wait(for: .seconds(30)) }
        #expect(early < .seconds(5), "a signal sent before the wait ends it at once")
        let waiting = Task { await clock.measure { await wakeup.wait(for: .seconds(30)) } }
        try? await Task.sleep(for: .milliseconds(50))
        wakeup.signal()
        #expect(await waiting.value < .seconds(5), "a signal during the wait ends it")
    }

    @Test func withoutASignalTheWaitLastsItsDuration() async {
        let wakeup = Wakeup()
        let elapsed = await ContinuousClock().measure { await wakeup.wait(for: .milliseconds(200)) }
        #expect(elapsed >= .milliseconds(200))
    }
}
