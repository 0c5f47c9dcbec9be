import Foundation
import KubeconfigBase
import KubernetesAPI
import Testing

@testable import KubeconfigService

/// The managed site's lifecycle as plain values: every ordering of two concurrent operations on
/// one site, from every kind of state, ends in the state the last write named, never silent,
/// never stuck renewing, and never drops the token source of the registration in use.
@Suite struct SiteLifecycleTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let later = now.addingTimeInterval(600)
    static let failure = ServiceError(code: .siteConnectionRefused, message: "refused")

    /// What the operations did, to check the machine against.
    struct World: Sendable {
        var lifecycle: SiteLifecycle
        /// Renewals started and not ended, by registration.
        var inFlight: [String] = []
        /// The registration the last write to the document left named (nil: none).
        var named: String?
        var retired: [String] = []

        /// The scheduler: starts whatever is due, as the renewer's loop does after every change.
        mutating func schedule() {
            apply(lifecycle.due(at: now))
        }

        mutating func endRenewal(succeeds: Bool) {
            guard !inFlight.isEmpty else { return }
            let registration = inFlight.removeFirst()
            let result: Result<(fingerprint: String, renewsAt: Date), ServiceError> =
                succeeds ? .success(("new-token", later)) : .failure(failure)
            lifecycle.renewalEnded(registration, result, at: now)
        }

        mutating func apply(_ actions: [SiteLifecycle.Action]) {
            for action in actions {
                switch action {
                case .renew(let registration): inFlight.append(registration)
                case .retire(let registration):
                    #expect(registration != lifecycle.registration, "retired the registration in use")
                    #expect(!lifecycle.registering.contains(registration), "retired a registration being written")
                    retired.append(registration)
                }
            }
        }
    }

    /// One operation: its steps, run in order, possibly interleaved with another's.
    struct Operation: CustomStringConvertible, Sendable {
        var description: String
        var steps: [@Sendable (inout World) -> Void]
    }

    static func register(_ registration: String, written: Bool = true) -> Operation {
        Operation(
            description: written ? "register \(registration)" : "failed registration \(registration)",
            steps: [
                { $0.lifecycle.registrationStarted(registration) },
                { world in
                    world.apply(world.lifecycle.registrationEnded(registration, renewsAt: written ? later : nil))
                    if written { world.named = registration }
                },
            ])
    }

    static let remove = Operation(
        description: "remove",
        steps: [
            { world in
                world.apply(world.lifecycle.removed())
                world.named = nil
            }
        ])

    /// A renewal the scheduler started (it runs `due` after every step) ending; the oldest one
    /// under way, if any.
    static func renewal(succeeds: Bool) -> Operation {
        Operation(
            description: succeeds ? "renewal" : "failed renewal",
            steps: [{ world in world.endRenewal(succeeds: succeeds) }])
    }

    static func observe(_ observation: SiteLifecycle.Observation) -> Operation {
        Operation(
            description: "observe \(observation)",
            steps: [
                { world in
                    world.apply(world.lifecycle.observe(observation))
                    switch observation {
                    case .managed(let registration, _), .stalled(let registration, _): world.named = registration
                    case .unmanaged: world.named = nil
                    }
                }
            ])
    }

    static let rejection = Operation(
        description: "probe rejects the token",
        steps: [{ $0.lifecycle.tokenRejected("old-token", at: now, interval: 300) }])
    static let recovery = Operation(description: "probe reaches the site", steps: [{ $0.lifecycle.recovered(at: now) }])

    static let operations: [Operation] = [
        register("r1"), register("r2", written: false), remove, renewal(succeeds: true), renewal(succeeds: false),
        observe(.managed(registration: "r3", dueAt: now)), observe(.managed(registration: "r0", dueAt: later)),
        observe(.unmanaged), observe(.stalled(registration: "r0", error: failure)), rejection, recovery,
    ]

    /// Starting points: nothing known, r0 due now or later, failing, stalled.
    static let starts: [(String, SiteLifecycle, String?)] = {
        var unmanaged = SiteLifecycle()
        _ = unmanaged.observe(.unmanaged)
        var due = SiteLifecycle()
        _ = due.observe(.managed(registration: "r0", dueAt: now))
        var scheduled = SiteLifecycle()
        _ = scheduled.observe(.managed(registration: "r0", dueAt: later))
        var failing = due
        _ = failing.due(at: now)
        failing.renewalEnded("r0", .failure(failure), at: now.addingTimeInterval(-100))
        var stalled = SiteLifecycle()
        _ = stalled.observe(.stalled(registration: "r0", error: failure))
        return [
            ("unmanaged", unmanaged, nil), ("due", due, "r0"), ("scheduled", scheduled, "r0"), ("failing", failing, "r0"),
            ("stalled", stalled, "r0"),
        ]
    }()

    /// Every interleaving of `a` and `b`, keeping each one's own order.
    static func interleavings<T>(_ a: [T], _ b: [T]) -> [[T]] {
        guard let first = a.first else { return [b] }
        guard let second = b.first else { return [a] }
        return interleavings(Array(a.dropFirst()), b).map { [first] + $0 }
            + interleavings(a, Array(b.dropFirst())).map { [second] + $0 }
    }

    /// The checks after every step.
    static func checkNeverSilent(_ world: World, _ context: String) {
        let lifecycle = world.lifecycle
        if lifecycle.registration != nil {
            let renewing = if case .renewing = lifecycle.phase { true } else { false }
            #expect(
                lifecycle.deadline != nil || renewing || lifecycle.error != nil,
                "a managed site with no schedule and no error: \(context)")
        }
    }

    @Test func everyOrderingOfTwoOperationsEndsInANamedStateAndNeverSilent() {
        var orderings = 0
        for (startName, start, named) in Self.starts {
            for a in Self.operations {
                for b in Self.operations {
                    for ordering in Self.interleavings(a.steps, b.steps) {
                        orderings += 1
                        var world = World(lifecycle: start, named: named)
                        let context = "\(startName): \(a) ‖ \(b)"
                        world.schedule()
                        for step in ordering {
                            step(&world)
                            world.schedule()
                            Self.checkNeverSilent(world, context)
                        }
                        // Every renewal under way ends: then none may be left "renewing".
                        while !world.inFlight.isEmpty {
                            world.endRenewal(succeeds: true)
                            world.schedule()
                            Self.checkNeverSilent(world, context)
                        }
                        if case .renewing = world.lifecycle.phase {
                            Issue.record("stuck renewing after \(context)")
                        }
                        // The registration the last write named is the one renewed, or none.
                        if let named = world.named {
                            #expect(world.lifecycle.registration == named, "\(context)")
                        } else {
                            #expect(world.lifecycle.phase == .unmanaged, "\(context)")
                        }
                    }
                }
            }
        }
        #expect(orderings > 500)
    }

    // MARK: - Single transitions

    @Test func aRenewalEndingAfterTheSiteWasRegisteredAgainIsIgnored() {
        var lifecycle = SiteLifecycle()
        _ = lifecycle.observe(.managed(registration: "r0", dueAt: Self.now))
        #expect(lifecycle.due(at: Self.now) == [.renew(registration: "r0")])
        lifecycle.registrationStarted("r1")
        #expect(lifecycle.registrationEnded("r1", renewsAt: Self.later) == [.retire(registration: "r0")])
        lifecycle.renewalEnded("r0", .failure(Self.failure), at: Self.now)
        #expect(lifecycle.phase == .scheduled(registration: "r1", at: Self.later))
    }

    @Test func aFailedRenewalBacksOffAndAReachableSiteIsRetriedAtOnce() {
        var lifecycle = SiteLifecycle()
        _ = lifecycle.observe(.managed(registration: "r0", dueAt: Self.now))
        _ = lifecycle.due(at: Self.now)
        lifecycle.renewalEnded("r0", .failure(Self.failure), at: Self.now)
        #expect(lifecycle.deadline == Self.now.addingTimeInterval(2))
        #expect(lifecycle.error == Self.failure)
        _ = lifecycle.due(at: Self.now.addingTimeInterval(2))
        lifecycle.renewalEnded("r0", .failure(Self.failure), at: Self.now)
        #expect(lifecycle.deadline == Self.now.addingTimeInterval(4), "doubling")
        lifecycle.recovered(at: Self.now.addingTimeInterval(1))
        #expect(lifecycle.deadline == Self.now.addingTimeInterval(1))
        #expect(lifecycle.due(at: Self.now.addingTimeInterval(1)) == [.renew(registration: "r0")])
        lifecycle.renewalEnded("r0", .success(("t", Self.later)), at: Self.now)
        #expect(lifecycle.phase == .scheduled(registration: "r0", at: Self.later))
        #expect(lifecycle.error == nil)
    }

    @Test func aRejectionRenewsAtOnceButNotAgainWithinTheInterval() {
        var lifecycle = SiteLifecycle()
        _ = lifecycle.observe(.managed(registration: "r0", dueAt: Self.later))
        lifecycle.tokenRejected("t1", at: Self.now, interval: 300)
        #expect(lifecycle.deadline == Self.now)
        // A check meanwhile keeps the earlier point.
        _ = lifecycle.observe(.managed(registration: "r0", dueAt: Self.later))
        #expect(lifecycle.deadline == Self.now)
        _ = lifecycle.due(at: Self.now)
        lifecycle.renewalEnded("r0", .success(("t2", Self.later)), at: Self.now)
        #expect(lifecycle.rejected == nil)
        lifecycle.tokenRejected("t2", at: Self.now.addingTimeInterval(10), interval: 300)
        #expect(lifecycle.error?.message.contains("rejected by its API server") == true)
        #expect(lifecycle.deadline == Self.later)
    }

    @Test func aRegistrationInFlightIsNotRetiredWhenTheDocumentNamesNoneYet() {
        var lifecycle = SiteLifecycle()
        lifecycle.registrationStarted("r1")
        #expect(lifecycle.observe(.unmanaged).isEmpty)
        #expect(lifecycle.registering == ["r1"])
        #expect(lifecycle.registrationEnded("r1", renewsAt: Self.later).isEmpty)
        #expect(lifecycle.phase == .scheduled(registration: "r1", at: Self.later))
    }
}
