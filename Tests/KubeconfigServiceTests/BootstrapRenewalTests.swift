import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import Testing

@testable import KubeconfigService

/// A managed registration's bootstrap credential as a plain value: when it renews, what it asks
/// for, and what each outcome does to it.
@Suite struct BootstrapRenewalTests {
    static let start = Date(timeIntervalSince1970: 1_900_000_000)

    static func token(at issuedAt: Date = start, lifetime: TimeInterval = 1000, audiences: [String]? = nil) -> BearerToken {
        if let audiences {
            return ServiceAccountTokens.token(issuedAt: issuedAt, lifetime: lifetime, audiences: audiences)
        }
        return ServiceAccountTokens.token(issuedAt: issuedAt, lifetime: lifetime)
    }

    func at(_ seconds: TimeInterval) -> Date { Self.start.addingTimeInterval(seconds) }

    // MARK: - Schedule

    @Test func aServiceAccountTokenIsManagedAndDueAtItsShareOfItsLifetime() throws {
        var renewal = BootstrapRenewal(token: Self.token(), now: Self.start, share: 0.78)
        #expect(renewal.management == .managed)
        #expect(renewal.expiresAt == at(1000))
        #expect(renewal.renewsAt == at(780))
        #expect(renewal.deadline == at(780))
        let step1 = renewal.due(at: at(779))
        #expect(step1 == nil)
        let step2 = renewal.due(at: at(780))
        let request = try #require(step2)
        #expect(
            request
                == .init(
                    namespace: "apps", serviceAccount: "kubeconfig-bootstrap", expirationSeconds: 1000,
                    audiences: [
                        "https://kubernetes.default.svc.cluster.local"
                    ]))
        #expect(renewal.phase == .renewing(failures: 0, error: nil))
        let step3 = renewal.due(at: at(900))
        #expect(step3 == nil, "one renewal at a time")
    }

    @Test func eachProcessRenewsBetween75And80PercentOfTheLifetime() {
        let points = (0..<200).map { _ in BootstrapRenewal(token: Self.token(), now: Self.start).renewsAt ?? .distantPast }
        #expect(points.allSatisfy { $0 >= at(750) && $0 < at(800) })
        #expect(Set(points).count > 1, "drawn per process: replicas reach their points one after another")
    }

    @Test func aRenewalAsksForItsOwnAccountAsLongAndForTheSameAudiences() {
        let audiences = ["https://kubernetes.default.svc.cluster.local", "extra"]
        let long = BootstrapRenewal.request(for: Self.token(lifetime: 2_592_000, audiences: audiences))
        #expect(long?.expirationSeconds == 2_592_000)
        #expect(long?.audiences == audiences)
        // TokenRequest issues no token under 10 minutes: a shorter grant (a capped server) asks for
        // the minimum, and the server caps it again.
        #expect(BootstrapRenewal.request(for: Self.token(lifetime: 15))?.expirationSeconds == 600)
        let other = ServiceAccountTokens.token(namespace: "edge", name: "boot", issuedAt: Self.start, lifetime: 900)
        #expect(BootstrapRenewal.request(for: other)?.namespace == "edge")
        #expect(BootstrapRenewal.request(for: other)?.serviceAccount == "boot")
    }

    @Test func aTokenThatCannotRenewItselfIsStaticAndNeverDue() {
        let iat = Int(Self.start.timeIntervalSince1970)
        let tokens: [BearerToken] = [
            BearerToken("pasted-opaque-token"),
            ServiceAccountTokens.jwt(["sub": "alice", "iat": iat, "exp": iat + 1000]),  // no service account
            ServiceAccountTokens.jwt(["sub": "system:serviceaccount:apps:legacy"]),  // a legacy token: no lifetime
        ]
        for token in tokens {
            var renewal = BootstrapRenewal(token: token, now: Self.start)
            #expect(renewal.management == .static)
            #expect(renewal.renewsAt == nil && renewal.deadline == nil)
            #expect(renewal.error(site: "edge", at: at(10)) == nil, "static by nature is no fault")
            let step4 = renewal.due(at: at(100_000))
            #expect(step4 == nil)
        }
        // The account from `sub` when the kubernetes.io claim is missing.
        let bySubject = ServiceAccountTokens.jwt(["sub": "system:serviceaccount:apps:boot", "iat": iat, "exp": iat + 1000])
        #expect(BootstrapRenewal(token: bySubject, now: Self.start).management == .managed)
    }

    // MARK: - Outcomes

    @Test func aRenewedCredentialIsScheduledAtItsOwnPointWithTheAnswersExpiry() throws {
        var renewal = BootstrapRenewal(token: Self.token(), now: Self.start, share: 0.75)
        let step5 = renewal.due(at: at(750))
        _ = try #require(step5)
        let next = Self.token(at: at(750))
        renewal.ended(.renewed(next, expiresAt: at(1700)), at: at(751))
        #expect(renewal.token == next)
        #expect(renewal.expiresAt == at(1700), "the earlier of exp and the answer's expirationTimestamp")
        #expect(renewal.phase == .scheduled(at: at(750 + 0.75 * 950)))
    }

    @Test func aFailureIsRetriedWithBackoffWhileValidThenTheCredentialHasExpired() throws {
        var renewal = BootstrapRenewal(token: Self.token(), now: Self.start, share: 0.75)
        let down = ServiceError(code: .siteConnectionRefused, message: "refused")
        var now = at(750)
        var waits: [TimeInterval] = []
        while let _ = renewal.due(at: now) {
            renewal.ended(.failed(down), at: now)
            #expect(renewal.error(site: "edge", at: now) == down)
            #expect(renewal.management == .managed)
            #expect(renewal.renewsAt == at(750), "the point stays: overdue, not moved")
            guard let retry = renewal.deadline else { break }
            waits.append(retry.timeIntervalSince(now))
            now = retry
        }
        #expect(Array(waits.prefix(7)) == [2, 4, 8, 16, 32, 60, 60])
        #expect(renewal.phase == .expired)
        #expect(renewal.deadline == nil, "a lapsed credential is not presented again")
        let error = try #require(renewal.error(site: "edge", at: now))
        #expect(error.code == .bootstrapExpired)
        #expect(error.message.contains("run kubeconfig-service site add edge again"))
    }

    @Test func aSiteReachedAgainIsRetriedAtOnce() throws {
        var renewal = BootstrapRenewal(token: Self.token(), now: Self.start, share: 0.75)
        let started = renewal.due(at: at(750))
        _ = try #require(started)
        for _ in 0..<5 {
            renewal.ended(.failed(ServiceError(code: .siteTimeout, message: "late")), at: at(760))
            let again = renewal.due(at: renewal.deadline ?? at(0))
            _ = try #require(again)
        }
        renewal.ended(.failed(ServiceError(code: .siteTimeout, message: "late")), at: at(760))
        #expect(renewal.deadline == at(820), "backing off 60 s")
        renewal.recovered(at: at(765))
        #expect(renewal.deadline == at(765))
        let scheduled = BootstrapRenewal(token: Self.token(), now: Self.start, share: 0.75)
        var recovered = scheduled
        recovered.recovered(at: at(10))
        #expect(recovered == scheduled, "only a failing renewal is moved forward")
    }

    @Test func aRefusedRightMakesItStaticLookedAtAgainHourly() throws {
        var renewal = BootstrapRenewal(token: Self.token(lifetime: 100_000), now: Self.start, share: 0.75)
        let step6 = renewal.due(at: at(75_000))
        _ = try #require(step6)
        let forbidden = ServiceError(code: .tokenRequestForbidden, message: "may not create serviceaccounts/token")
        renewal.ended(.forbidden(forbidden), at: at(75_000))
        #expect(renewal.management == .static)
        #expect(renewal.error(site: "edge", at: at(75_001)) == forbidden)
        #expect(renewal.renewsAt == nil)
        let step7 = renewal.due(at: at(75_000 + 3599))
        #expect(step7 == nil, "not retried at every check")
        let step8 = renewal.due(at: at(75_000 + 3600))
        #expect(step8 != nil)
        renewal.ended(.renewed(Self.token(at: at(78_600), lifetime: 100_000), expiresAt: nil), at: at(78_600))
        #expect(renewal.management == .managed, "given the right meanwhile: managed again")
    }

    @Test func aNewerCredentialAnotherReplicaWroteIsAdoptedAndAnOlderOneIgnored() throws {
        var renewal = BootstrapRenewal(token: Self.token(), now: Self.start, share: 0.79)
        let older = Self.token(at: at(-10))
        let step9 = renewal.adopt(older, at: at(100))
        #expect(!step9)
        let newer = Self.token(at: at(760))
        let step10 = renewal.adopt(newer, at: at(761))
        #expect(step10)
        #expect(renewal.token == newer)
        #expect(renewal.phase == .scheduled(at: at(760 + 790)))
        let step11 = renewal.adopt(newer, at: at(762))
        #expect(!step11, "the same one again changes nothing")

        // While a renewal is under way, the adopted one is used and the renewal's end counts.
        let step12 = renewal.due(at: at(1550))
        _ = try #require(step12)
        let adoptedMeanwhile = Self.token(at: at(1551))
        let step13 = renewal.adopt(adoptedMeanwhile, at: at(1552))
        #expect(step13)
        #expect(renewal.phase == .renewing(failures: 0, error: nil))
        renewal.ended(.renewed(adoptedMeanwhile, expiresAt: nil), at: at(1553))
        #expect(renewal.phase == .scheduled(at: at(1551 + 790)))
    }

    @Test func anOutcomeWithoutARenewalUnderWayIsIgnored() {
        var renewal = BootstrapRenewal(token: Self.token(), now: Self.start, share: 0.75)
        let before = renewal
        renewal.ended(.failed(ServiceError(code: .siteTimeout, message: "late")), at: at(10))
        renewal.ended(.renewed(Self.token(at: at(5)), expiresAt: nil), at: at(10))
        #expect(renewal == before)
    }

    @Test func aCredentialGrantedAlreadyDueBacksOffInsteadOfRenewingAgainAtOnce() throws {
        var renewal = BootstrapRenewal(token: Self.token(), now: Self.start, share: 0.75)
        let step14 = renewal.due(at: at(750))
        _ = try #require(step14)
        // The site's clock is far behind: what it grants is past its renewal point on ours.
        renewal.ended(.renewed(Self.token(at: at(-5000), lifetime: 5900), expiresAt: nil), at: at(751))
        guard case .failing(1, let retryAt, let error) = renewal.phase else {
            Issue.record("not backing off: \(renewal.phase)")
            return
        }
        #expect(retryAt == at(753))
        #expect(error.message.contains("check the clocks"))
    }
}
