import Testing

@testable import KubeconfigService

/// The probe schedule as plain values: entries are strings, time is an offset from `start`.
@Suite struct ProbeScheduleTests {
    typealias Schedule = ProbeSchedule<String>
    let start = ContinuousClock.now

    func at(_ seconds: Int) -> ContinuousClock.Instant { start + .seconds(seconds) }

    /// Sites `names`, each with entries "v1", all due at `start`.
    func schedule(_ names: [String], slots: Int = 8, interval: Int = 2, cap: Int? = nil) -> Schedule {
        var schedule = Schedule(policy: .init(slots: slots, interval: .seconds(interval), backoffCap: cap.map { .seconds($0) }))
        schedule.synchronise(Dictionary(uniqueKeysWithValues: names.map { ($0, "v1") }), now: start)
        return schedule
    }

    /// Starts what is due at `time` and ends each probe at once, as `outcome` says per site.
    func probe(
        _ schedule: inout Schedule, at time: ContinuousClock.Instant, _ outcome: (String) -> Schedule.Outcome
    ) -> [String] {
        let started = schedule.start(now: time)
        for probe in started { schedule.finished(probe, outcome(probe.site), now: time) }
        return started.map(\.site)
    }

    @Test func sitesStartInDueOrderWithinTheSlots() {
        var schedule = schedule(["a", "b", "c"], slots: 4)
        let first = schedule.start(now: at(0))
        #expect(first.map(\.site) == ["a", "b"], "new sites take half the slots")
        #expect(schedule.start(now: at(0)).isEmpty)
        #expect(schedule.nextStart == nil, "nothing can start until a probe ends")
        schedule.finished(first[1], .answered, now: at(1))
        #expect(schedule.nextStart == at(0))
        let second = schedule.start(now: at(1))
        #expect(second.map(\.site) == ["c"])
        schedule.finished(second[0], .answered, now: at(2))
        schedule.finished(first[0], .answered, now: at(3))
        // Due one interval after each probe ended: b at 3, c at 4, a at 5.
        #expect(schedule.nextStart == at(3))
        #expect(schedule.start(now: at(2)).isEmpty, "nothing is due yet")
        #expect(schedule.start(now: at(10)).map(\.site) == ["b", "c", "a"])
    }

    @Test func aSiteThatTimesOutBacksOffDoublingUpToTheCap() throws {
        var schedule = schedule(["dead"], interval: 2, cap: 20)
        var time = at(0)
        var delays: [Duration] = []
        for _ in 0..<6 {
            #expect(probe(&schedule, at: time) { _ in .timedOut } == ["dead"])
            let due = try #require(schedule.nextStart)
            delays.append(due - time)
            #expect(schedule.start(now: due - .milliseconds(1)).isEmpty, "not probed before its backoff ends")
            time = due
        }
        #expect(delays == [2, 4, 8, 16, 20, 20].map { .seconds($0) })
        #expect(schedule.sites["dead"]?.standing == .timingOut(count: 6))
    }

    @Test func theDefaultCapIsTenIntervalsAtMostFiveMinutes() {
        #expect(Schedule.Policy(slots: 8, interval: .seconds(2)).backoffCap == .seconds(20))
        #expect(Schedule.Policy(slots: 8, interval: .seconds(60)).backoffCap == .seconds(300))
        #expect(Schedule.Policy(slots: 8, interval: .seconds(600)).backoffCap == .seconds(600), "never below the interval")
        #expect(Schedule.Policy(slots: 8, interval: .seconds(1)).backoff(afterTimeouts: 1_000) == .seconds(10))
    }

    @Test func aSiteThatAnswersAgainReturnsToTheInterval() throws {
        var schedule = schedule(["flaky"], interval: 2)
        var time = at(0)
        for _ in 0..<3 {
            _ = probe(&schedule, at: time) { _ in .timedOut }
            time = try #require(schedule.nextStart)
        }
        #expect(time == at(2 + 4 + 8))
        #expect(probe(&schedule, at: time) { _ in .answered } == ["flaky"])
        #expect(schedule.nextStart == time + .seconds(2))
        #expect(schedule.sites["flaky"]?.standing == .answering)
        // Timing out again starts the backoff over from the interval.
        _ = probe(&schedule, at: time + .seconds(2)) { _ in .timedOut }
        #expect(schedule.nextStart == time + .seconds(4))
    }

    @Test func aSiteThatFailsAtOnceStaysOnTheIntervalButNotKnownToAnswer() {
        var schedule = schedule(["refused"], slots: 4, interval: 2)
        for second in stride(from: 0, through: 8, by: 2) {
            #expect(probe(&schedule, at: at(second)) { _ in .failed } == ["refused"], "a site back is seen within one interval")
        }
        #expect(schedule.sites["refused"]?.standing == .failing)
        #expect(schedule.sites["refused"]?.restricted == true)
        // A timeout after failures backs off from the interval.
        _ = probe(&schedule, at: at(10)) { _ in .timedOut }
        _ = probe(&schedule, at: at(12)) { _ in .timedOut }
        #expect(schedule.nextStart == at(16))
    }

    @Test func sitesNotKnownToAnswerHoldAtMostHalfTheSlots() throws {
        var schedule = schedule((0..<10).map { "dead-\($0)" } + ["live"], slots: 4)
        #expect(schedule.policy.restrictedSlots == 2)
        // Nobody is known to answer yet: two at a time; the dead time out after 5 s.
        var time = at(0)
        while schedule.sites["live"]?.standing == .new {
            let started = schedule.start(now: time)
            #expect(started.count == 2)
            #expect(schedule.nextStart == nil, "the other two slots are kept for sites known to answer")
            time = time + .seconds(5)
            for probe in started { schedule.finished(probe, probe.site == "live" ? .answered : .timedOut, now: time) }
        }
        // Now every dead site is overdue, and two of them hang; `live` still finds a slot at
        // every interval, and no third dead site starts.
        let hanging = schedule.start(now: time + .seconds(60))
        #expect(hanging.map(\.site).first == "live" && hanging.count == 3)
        let live = try #require(hanging.first)
        schedule.finished(live, .answered, now: time + .seconds(61))
        #expect(schedule.nextStart == time + .seconds(63))
        #expect(schedule.start(now: time + .seconds(63)).map(\.site) == ["live"])
        #expect(schedule.running.values.count(where: { $0.restricted }) == 2)
    }

    @Test func sitesTimingOutGoAfterOthersDueLater() {
        var schedule = schedule(["dead", "live", "refused"], slots: 1, interval: 2)
        #expect(probe(&schedule, at: at(0)) { _ in .timedOut } == ["dead"])
        #expect(probe(&schedule, at: at(1)) { _ in .answered } == ["live"])
        #expect(probe(&schedule, at: at(2)) { _ in .failed } == ["refused"])
        #expect(schedule.sites.mapValues(\.due) == ["dead": at(2), "live": at(3), "refused": at(4)])
        #expect(probe(&schedule, at: at(10)) { _ in .answered } == ["live"])
        #expect(probe(&schedule, at: at(10)) { _ in .answered } == ["refused"])
        #expect(probe(&schedule, at: at(10)) { _ in .answered } == ["dead"])
    }

    @Test func aRemovedSiteIsDroppedAndItsProbeOnlyFreesItsSlot() {
        var schedule = schedule(["a", "b"], slots: 4)
        let started = schedule.start(now: at(0))
        schedule.synchronise(["b": "v1"], now: at(1))
        #expect(schedule.sites["a"] == nil)
        #expect(schedule.running.count == 2, "the probe under way still holds its connection")
        schedule.finished(started[0], .answered, now: at(2))
        #expect(schedule.sites["a"] == nil, "its end does not bring it back")
        #expect(schedule.running.count == 1)
    }

    @Test func aChangedSiteIsProbedAtOnceEvenWhileItsOldEntriesAreProbed() throws {
        var schedule = schedule(["a"], interval: 2, cap: 300)
        var time = at(0)
        for _ in 0..<5 {
            _ = probe(&schedule, at: time) { _ in .timedOut }
            time = try #require(schedule.nextStart)
        }
        // Backed off far; a probe of these entries is under way when the site is registered again.
        let old = schedule.start(now: time)
        schedule.synchronise(["a": "v2"], now: time + .seconds(1))
        #expect(schedule.sites["a"]?.standing == .new)
        let fresh = schedule.start(now: time + .seconds(1))
        #expect(fresh.map(\.site) == ["a"] && fresh != old)
        // The old probe's end says nothing about the new entries.
        schedule.finished(old[0], .timedOut, now: time + .seconds(2))
        #expect(schedule.sites["a"]?.standing == .new && schedule.sites["a"]?.probing == true)
        schedule.finished(fresh[0], .answered, now: time + .seconds(3))
        #expect(schedule.nextStart == time + .seconds(5))
    }

    @Test func aChangedSiteThatAnsweredMayStillTakeAnySlotAndOthersStartOverAsNew() throws {
        var schedule = schedule(["dead-1", "dead-2", "fixed", "live"], slots: 4)
        #expect(probe(&schedule, at: at(0)) { _ in .timedOut } == ["dead-1", "dead-2"])
        #expect(probe(&schedule, at: at(0)) { $0 == "live" ? .answered : .timedOut } == ["fixed", "live"])
        // The two dead sites hang in the restricted slots.
        let started = schedule.start(now: at(10))
        #expect(started.map(\.site) == ["live", "dead-1", "dead-2"])
        schedule.finished(started[0], .answered, now: at(10))
        // live's token is renewed; fixed is registered again with another server.
        schedule.synchronise(["dead-1": "v1", "dead-2": "v1", "fixed": "v2", "live": "v2"], now: at(11))
        #expect(schedule.sites["live"]?.standing == .answering && schedule.sites["fixed"]?.standing == .new)
        #expect(schedule.start(now: at(11)).map(\.site) == ["live"], "probed at once, however many hang")
        schedule.finished(started[1], .timedOut, now: at(12))
        #expect(schedule.start(now: at(12)).map(\.site) == ["fixed"], "new, it goes before those timing out")
    }

    @Test func probeSoonMakesASiteDueNowButNeverStartsItTwice() {
        var schedule = schedule(["a", "b"], interval: 60)
        _ = probe(&schedule, at: at(0)) { _ in .answered }
        schedule.probeSoon("a", now: at(1))
        #expect(schedule.start(now: at(1)).map(\.site) == ["a"])
        schedule.probeSoon("a", now: at(2))
        #expect(schedule.start(now: at(2)).isEmpty, "a's probe of these entries is under way")
        schedule.probeSoon("unknown", now: at(2))
        #expect(schedule.sites["unknown"] == nil)
    }

    @Test func whenManySitesDieAtOnceEachCostsASlotOnlyUntilItStalls() {
        // Fifty sites that answered die together; two healthy ones are due among them.
        var schedule = Schedule(policy: .init(slots: 8, interval: .seconds(2), stallAfter: .milliseconds(500)))
        let dead = (0..<50).map { "dead-\($0)" }
        schedule.synchronise(Dictionary(uniqueKeysWithValues: (dead + ["ok-1", "ok-2"]).map { ($0, "v1") }), now: start)
        for probe in schedule.start(now: start) { schedule.finished(probe, .answered, now: start) }
        for _ in 0..<52 {
            for probe in schedule.start(now: start) { schedule.finished(probe, .answered, now: start) }
        }
        // Every site answered once; now they are all due at 2 s, and the dead ones hang. Time
        // goes on in steps of 0.1 s.
        var healthyProbedAt: [ContinuousClock.Instant] = []
        for step in 20..<100 where healthyProbedAt.count < 2 {
            let time = start + .milliseconds(step * 100)
            for probe in schedule.start(now: time) where probe.site.hasPrefix("ok") {
                healthyProbedAt.append(time)
                schedule.finished(probe, .answered, now: time)
            }
            #expect(schedule.running.count <= 8)
        }
        // Behind up to 50 hung probes, 8 at a time, each giving its slot up after 0.5 s: the healthy
        // ones wait at most 50 / 8 x 0.5 s, not 50 / 8 x the timeout.
        #expect(healthyProbedAt.count == 2)
        #expect(healthyProbedAt.allSatisfy { $0 <= at(2) + .milliseconds(3500) }, "\(healthyProbedAt.map { $0 - start })")
        #expect(schedule.stalled.count + schedule.running.count <= 64, "probes under way stay bounded")
    }
}
