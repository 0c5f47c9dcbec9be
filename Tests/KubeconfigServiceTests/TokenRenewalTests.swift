import Foundation
import KubeconfigBase
import KubernetesAPI
import Testing

@testable import KubeconfigService

/// When an issued token is renewed, and its record in the annotation: plain values.
@Suite struct TokenRenewalTests {
    let renewal = TokenRenewal(serviceAccount: "onap/cloudify", audiences: [])
    let issued = Date(timeIntervalSince1970: 1_800_000_000)
    let token = BearerToken("issued-token")

    func record(lifetime: TimeInterval = 1000, account: String = "onap/cloudify", audiences: [String] = []) -> TokenRecord {
        TokenRecord(
            serviceAccount: account, audiences: audiences, issuedAt: issued, expiresAt: issued + lifetime,
            fingerprint: token.fingerprint)
    }

    @Test func theStoredTokenIsReusedUntilFourFifthsOfItsLifetimeHavePassed() {
        let stored = StoredToken(token: token, record: record())
        #expect(renewal.decide(stored, now: issued) == .reuse(token, record()))
        #expect(renewal.decide(stored, now: issued + 799.9) == .reuse(token, record()))
        #expect(renewal.decide(stored, now: issued + 800) == .renew(.due))
        #expect(renewal.decide(stored, now: issued + 5000) == .renew(.due))
        #expect(renewal.renewsAt(record()) == issued + 800)
    }

    @Test func aMissingUnrecordedAlteredOrForeignTokenIsRenewed() {
        #expect(renewal.decide(StoredToken(token: nil, record: record()), now: issued) == .renew(.missing))
        #expect(renewal.decide(StoredToken(token: token, record: nil), now: issued) == .renew(.unrecorded))
        #expect(
            renewal.decide(StoredToken(token: BearerToken("pasted"), record: record()), now: issued) == .renew(.altered))
        #expect(
            renewal.decide(StoredToken(token: token, record: record(account: "onap/other")), now: issued)
                == .renew(.reconfigured))
        #expect(
            renewal.decide(StoredToken(token: token, record: record(audiences: ["vault"])), now: issued)
                == .renew(.reconfigured))
    }

    @Test func audiencesAreASetNotAList() {
        let renewal = TokenRenewal(serviceAccount: "onap/cloudify", audiences: ["b", "a"])
        let stored = StoredToken(token: token, record: record(audiences: ["a", "b"]))
        #expect(renewal.decide(stored, now: issued) == .reuse(token, record(audiences: ["a", "b"])))
        #expect(renewal.isStillValid(stored, now: issued))
        #expect(!self.renewal.isStillValid(stored, now: issued))
    }

    @Test func aTokenMayStayAfterAFailedRenewalOnlyUntilItExpires() {
        let stored = StoredToken(token: token, record: record())
        #expect(renewal.isStillValid(stored, now: issued + 999))
        #expect(!renewal.isStillValid(stored, now: issued + 1000))
        #expect(!renewal.isStillValid(StoredToken(token: BearerToken("pasted"), record: record()), now: issued))
        #expect(!renewal.isStillValid(StoredToken(token: token, record: nil), now: issued))
    }

    @Test func theRecordRoundTripsThroughItsAnnotationWithoutTheToken() throws {
        let annotation = record().annotation
        #expect(TokenRecord(annotation: annotation) == record())
        #expect(!annotation.contains("issued-token"))
        #expect(annotation.contains("\"expiresAt\":\"2027-01-15T08:16:40Z\""))
        #expect(TokenRecord(annotation: "{\"serviceAccount\":1}") == nil)
        #expect(TokenRecord(annotation: "not json") == nil)
        #expect(TokenRecord.annotationKey(location: "central") == "kubeconfig-service.onap.org/token.central")
    }

    @Test func onlyLocationsThatFitAnAnnotationNameCanRecordATokenExpiry() {
        #expect(TokenRecord.isUsable(location: "central"))
        #expect(TokenRecord.isUsable(location: "edge-1.site_a"))
        #expect(TokenRecord.isUsable(location: String(repeating: "a", count: 57)))
        #expect(!TokenRecord.isUsable(location: String(repeating: "a", count: 58)))
        #expect(!TokenRecord.isUsable(location: "edge/1"))
        #expect(!TokenRecord.isUsable(location: "edge-"))
    }

    @Test func theScheduleWakesAtTheRenewalPointWhenThatComesFirst() {
        let now = issued
        #expect(SitePublisher.nextPass(after: .seconds(60), renewsAt: nil, now: now) == .seconds(60))
        #expect(SitePublisher.nextPass(after: nil, renewsAt: nil, now: now) == nil)
        #expect(SitePublisher.nextPass(after: .seconds(60), renewsAt: now + 12.5, now: now) == .milliseconds(12_500))
        #expect(SitePublisher.nextPass(after: nil, renewsAt: now + 3000, now: now) == .seconds(3000))
        #expect(SitePublisher.nextPass(after: .seconds(60), renewsAt: now + 3000, now: now) == .seconds(60))
        #expect(SitePublisher.nextPass(after: .seconds(60), renewsAt: now - 5, now: now) == .milliseconds(100))
    }
}

/// Claims read from a JWT-shaped token, never verified.
@Suite struct BearerTokenClaimsTests {
    static func jwt(_ payload: String) -> BearerToken {
        let encoded = Data(payload.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return BearerToken("eyJhbGciOiJSUzI1NiJ9.\(encoded).c2lnbmF0dXJl")
    }

    @Test func aServiceAccountTokenTellsItsSubjectAndTimes() {
        let token = Self.jwt(#"{"sub":"system:serviceaccount:onap:cloudify","iat":1800000000,"exp":1800003600}"#)
        #expect(
            token.claims
                == BearerToken.Claims(
                    subject: "system:serviceaccount:onap:cloudify", issuedAt: Date(timeIntervalSince1970: 1_800_000_000),
                    expiresAt: Date(timeIntervalSince1970: 1_800_003_600)))
    }

    @Test func anOpaqueOrMalformedTokenHasNoClaims() {
        #expect(BearerToken("opaque-token").claims == nil)
        #expect(BearerToken("a.%%%.c").claims == nil)
        #expect(Self.jwt("[1]").claims == nil)
        #expect(Self.jwt(#"{"exp":"soon"}"#).claims == BearerToken.Claims(subject: nil, issuedAt: nil, expiresAt: nil))
    }
}
