import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Synchronization
import Testing

@testable import KubeconfigService

/// Issued tokens: the source's decisions, and publications by one or several replicas sharing
/// one ConfigMap behind a scripted API, on a clock the tests move.
@Suite struct IssuedTokenTests {
    let clock = TestClock()
    let api: ScriptedKubernetesAPI
    let cluster = ClusterCredentials(
        server: "https://10.96.0.1:443", certificateAuthority: Fixtures.caPEM, token: BearerToken("pod-token"))
    let logger = Logger(label: "test")

    init() {
        api = ScriptedKubernetesAPI(now: clock.reading)
        api.put(namespace: "onap", name: "kc", data: [:], annotations: ["theirs": "kept"], version: "1")
    }

    func source(expiration: Int = 1000, spread: Double = 0) -> IssuedTokenSource {
        var configuration = IssuedTokenSource.Configuration(namespace: "onap", serviceAccount: "cloudify")
        configuration.expirationSeconds = expiration
        configuration.renewalSpread = spread
        return IssuedTokenSource(configuration: configuration, tokens: api, reviews: api, now: clock.reading, logger: logger)
    }

    /// A replica: its own token source and publisher over the shared ConfigMap.
    func replica(store: (any DocumentStore)? = nil) -> SitePublisher {
        SitePublisher(
            configuration: PublisherConfiguration(namespace: "onap"), credentials: StaticCredentials(cluster: cluster),
            tokens: source(), updater: DocumentUpdater(store: store ?? configMap, logger: logger), logger: logger)
    }

    var configMap: ObjectDocumentStore { ObjectDocumentStore(api: api, namespace: "onap", name: "kc", key: "kubeconfig") }
    var tokenRequests: Int { api.calls.filter { $0.hasPrefix("TokenRequest") }.count }
    var writes: Int { api.calls.filter { $0.hasPrefix("PATCH") }.count }

    func storedToken() throws -> String? {
        let text = try #require(api.object(namespace: "onap", name: "kc")?.data?["kubeconfig"])
        return try KubeconfigDocument(parsing: text, origin: "test").token(ofUser: "user00")
    }

    // MARK: - The source

    @Test func aTokenIsIssuedOnceThenReusedWhileFresh() async throws {
        let source = source()
        let first = try await source.token(for: StoredToken(token: nil, record: nil), cluster: cluster)
        #expect(first.token == BearerToken("token-1"))
        #expect(first.source == PublishedToken.Source.tokenRequest)
        #expect(first.subject == "system:serviceaccount:onap:cloudify")
        #expect(first.expiresAt == clock.now + 1000 && first.renewsAt == clock.now + 800)
        clock.advance(500)
        let second = try await source.token(for: StoredToken(token: first.token, record: first.record), cluster: cluster)
        #expect(second == first)
        #expect(api.calls == ["TokenRequest onap/cloudify", "TokenReview"])
    }

    @Test func theGrantedLifetimeNotTheRequestedOneSetsTheRenewalPoint() async throws {
        api.capTokenLifetime(20)
        let published = try await source(expiration: 3600).token(for: StoredToken(token: nil, record: nil), cluster: cluster)
        #expect(published.expiresAt == clock.now + 20 && published.renewsAt == clock.now + 16)
    }

    @Test func aStoredTokenThatNoLongerAuthenticatesIsReplaced() async throws {
        let source = source()
        let first = try await source.token(for: StoredToken(token: nil, record: nil), cluster: cluster)
        api.revoke("token-1")
        let second = try await source.token(for: StoredToken(token: first.token, record: first.record), cluster: cluster)
        #expect(second.token == BearerToken("token-2"))
    }

    @Test func aTokenMintedInALostRoundIsOfferedAgainNotMintedTwice() async throws {
        let source = source()
        let stale = StoredToken(token: nil, record: nil)
        let first = try await source.token(for: stale, cluster: cluster)
        let second = try await source.token(for: stale, cluster: cluster)
        #expect(first == second)
        #expect(tokenRequests == 1)
        clock.advance(800)
        #expect(try await source.token(for: stale, cluster: cluster).token == BearerToken("token-2"))
    }

    @Test func eachTokenRequestFailureIsNamedWithWhatToDo() async {
        let cases: [(ServiceError, ServiceError.Code, String)] = [
            (
                ServiceError(code: .apiNotFound, message: "serviceaccounts \"cloudify\" not found"), .serviceAccountNotFound,
                "serviceaccount onap/cloudify not found"
            ),
            (
                ServiceError(code: .apiForbidden, message: "forbidden: serviceaccounts \"cloudify\" is forbidden"),
                .tokenRequestForbidden, "needs create on serviceaccounts/token for resourceNames [cloudify] in namespace onap"
            ),
            (
                ServiceError(code: .apiProtocol, message: "the API server answered without a token"), .tokenRequestFailed,
                "TokenRequest for serviceaccount onap/cloudify"
            ),
            (ServiceError(code: .apiUnavailable, message: "overloaded"), .apiUnavailable, "overloaded"),
        ]
        for (failure, code, text) in cases {
            api.fail(failure)
            await #expect {
                try await source().token(for: StoredToken(token: nil, record: nil), cluster: cluster)
            } throws: { error in
                let error = error as? ServiceError
                return error?.code == code && error?.message.contains(text) == true
            }
        }
    }

    @Test func aFailedRenewalKeepsTheStoredTokenUntilItExpires() async throws {
        let source = source()
        let first = try await source.token(for: StoredToken(token: nil, record: nil), cluster: cluster)
        let stored = StoredToken(token: first.token, record: first.record)
        clock.advance(900)
        api.fail(ServiceError(code: .apiUnavailable, message: "down"))
        let kept = try await source.token(for: stored, cluster: cluster)
        #expect(kept.token == first.token && kept.renewalError?.code == .apiUnavailable)
        clock.advance(100)
        api.fail(ServiceError(code: .apiUnavailable, message: "down"))
        await #expect {
            try await source.token(for: stored, cluster: cluster)
        } throws: { ($0 as? ServiceError)?.code == .apiUnavailable }
    }

    // MARK: - Publications

    @Test func replicasAdoptTheTokenOneOfThemWroteAndRenewTogetherOncePerPeriod() async throws {
        let replicas = [replica(), replica(), replica()]
        for period in 1...4 {
            for replica in replicas {
                let result = try await replica.publish()
                #expect(result.tokenSource == PublishedToken.Source.tokenRequest)
                #expect(result.renewalError == nil)
            }
            #expect(tokenRequests == period, "period \(period)")
            #expect(writes == period, "period \(period)")
            #expect(try storedToken() == "token-\(period)")
            clock.advance(800)
        }
        let annotations = try #require(api.object(namespace: "onap", name: "kc")?.metadata.annotations)
        #expect(annotations["theirs"] == "kept")
        let record = try #require(annotations[TokenRecord.annotationKey(location: "central")].flatMap(TokenRecord.init))
        #expect(record.fingerprint == BearerToken("token-4").fingerprint && record.serviceAccount == "onap/cloudify")
    }

    @Test func aReplicaThatLosesTheRaceAdoptsTheWinnersTokenAndNeverWritesItsOwn() async throws {
        let winner = replica()
        let loser = replica(store: InterleavingStore(configMap) { _ = try? await winner.publish() })
        let result = try await loser.publish()
        #expect(tokenRequests == 2)
        #expect(writes == 2)  // the winner's, and the loser's refused conditional write
        #expect(try storedToken() == "token-2")
        #expect(!result.changed)
        #expect(loser.state.snapshot.token?.fingerprint == BearerToken("token-2").fingerprint)
    }

    @Test func aPublicationWithThePodsTokenDropsAStaleRecord() async throws {
        _ = try await replica().publish()
        let pod = SitePublisher(
            configuration: PublisherConfiguration(namespace: "onap"), credentials: StaticCredentials(cluster: cluster),
            updater: DocumentUpdater(store: configMap, logger: logger), logger: logger)
        let result = try await pod.publish()
        #expect(result.tokenSource == PublishedToken.Source.pod)
        #expect(result.changed)
        #expect(try storedToken() == "pod-token")
        #expect(api.object(namespace: "onap", name: "kc")?.metadata.annotations == ["theirs": "kept"])
    }

    @Test func readinessEndsWhenAnIssuedTokenExpiresUnrenewed() async throws {
        let publisher = replica()
        _ = try await publisher.publish()
        #expect(publisher.state.snapshot.readiness(at: clock.now + 999) == nil)
        let expired = try #require(publisher.state.snapshot.readiness(at: clock.now + 1000))
        #expect(expired.code == .notPublished && expired.message.contains("the published token expired"))
    }

    @Test func aTokenTheAPIServerRejectsMakesTheServiceUnreadyBeforeItExpires() async throws {
        let publisher = replica()
        _ = try await publisher.publish()
        api.revoke("token-1")
        api.refuseTokenRequests(ServiceError(code: .apiNotFound, message: "serviceaccounts \"cloudify\" not found"))
        let result = try await publisher.publish()
        #expect(result.renewalError?.code == ServiceError.Code.serviceAccountNotFound.rawValue)
        #expect(try storedToken() == "token-1")
        let problem = try #require(publisher.state.snapshot.readiness(at: clock.now))
        #expect(problem.message.contains("no longer authenticates") && problem.message.contains("not found"))
        api.refuseTokenRequests(nil)
        _ = try await publisher.publish()
        #expect(try storedToken() == "token-2")
        #expect(publisher.state.snapshot.readiness(at: clock.now) == nil)
    }

    @Test func aTokenMintedInALostRaceIsDiscardedOnceAnotherReplicasTokenIsAdopted() async throws {
        let source = source()
        _ = try await source.token(for: StoredToken(token: nil, record: nil), cluster: cluster)  // token-1, unwritten
        // The winner's token, issued a second earlier, is what the document holds.
        api.identify("winner", as: "system:serviceaccount:onap:cloudify", allowed: [])
        let winner = TokenRecord(
            serviceAccount: "onap/cloudify", audiences: [], issuedAt: clock.now - 1, expiresAt: clock.now + 999,
            fingerprint: BearerToken("winner").fingerprint)
        let stored = StoredToken(token: BearerToken("winner"), record: winner)
        #expect(try await source.token(for: stored, cluster: cluster).token == BearerToken("winner"))
        clock.advance(799)  // the winner's renewal point; token-1's is a second later
        let renewed = try await source.token(for: stored, cluster: cluster)
        #expect(renewed.token == BearerToken("token-2"))
        #expect(tokenRequests == 2)
    }

    @Test func aGrantedLifetimeAlreadyDueIsAnErrorNotARenewalLoop() async {
        api.capTokenLifetime(0)
        await #expect {
            try await source().token(for: StoredToken(token: nil, record: nil), cluster: cluster)
        } throws: { error in
            let error = error as? ServiceError
            return error?.code == .tokenRequestFailed && error?.message.contains("already due for renewal") == true
        }
    }

    @Test func theTokensOwnExpClaimCountsWhenItIsEarlierThanTheAnswer() async throws {
        let claimed = BearerTokenClaimsTests.jwt(
            #"{"sub":"system:serviceaccount:onap:cloudify","iat":\#(Int(clock.now.timeIntervalSince1970)),"exp":\#(Int(clock.now.timeIntervalSince1970) + 500)}"#
        )
        var configuration = IssuedTokenSource.Configuration(namespace: "onap", serviceAccount: "cloudify")
        configuration.renewalSpread = 0
        let source = IssuedTokenSource(
            configuration: configuration,
            tokens: FixedTokenAPI(issued: IssuedToken(token: claimed, expiresAt: clock.now + 1000)), reviews: nil,
            now: clock.reading, logger: logger)
        let published = try await source.token(for: StoredToken(token: nil, record: nil), cluster: cluster)
        #expect(published.expiresAt == clock.now + 500 && published.renewsAt == clock.now + 400)
    }

    @Test func replicasPickTheirRenewalPointsApartBetweenThreeQuartersAndFourFifths() async throws {
        var points: Set<Date> = []
        for _ in 0..<8 {
            let published = try await source(spread: 0.05).token(for: StoredToken(token: nil, record: nil), cluster: cluster)
            let renewsAt = try #require(published.renewsAt)
            #expect(renewsAt > clock.now + 750 && renewsAt <= clock.now + 800)
            points.insert(renewsAt)
        }
        #expect(points.count > 1)
    }
}

/// A TokenRequest API that always issues the same token.
struct FixedTokenAPI: TokenRequestAPI {
    let issued: IssuedToken

    func requestToken(
        namespace: String, serviceAccount: String, expirationSeconds: Int, audiences: [String]
    ) async throws(ServiceError) -> IssuedToken { issued }
}
