import HTTPMessages
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Testing

@testable import KubeconfigRoutes
@testable import KubeconfigService

/// The authorisation middleware and the reviewer behind it, against a scripted review API.
@Suite struct AuthorizationTests {
    let api = ScriptedKubernetesAPI()
    let reviewer: AccessReviewer
    let router: ServiceRouter

    init() {
        let logger = Logger(label: "test")
        reviewer = AccessReviewer(namespace: "onap", name: "kc", api: api, logger: logger)
        router = PublishedRouter(reviewer: reviewer).router
    }

    func get(_ path: String, token: String) async -> HTTPServerResponse {
        await router.respond(to: .make(method: "GET", path: path, headers: [("Authorization", "Bearer \(token)")])).response()
    }

    @Test func aReaderMayGetButNotPublish() async {
        api.identify("reader-token", as: "reader", allowed: ["get"])
        #expect(await get("/kubeconfig", token: "reader-token").status == .ok)
        let post = await router.respond(
            to:
                .make(method: "POST", path: "/sites/central", headers: [("Authorization", "Bearer reader-token")])
        ).response()
        #expect(post.status == .forbidden)
        #expect(
            String(decoding: post.body, as: UTF8.self).contains("cannot patch configmap \\\"kc\\\" in namespace \\\"onap\\\""))
        #expect(
            api.calls == [
                "TokenReview", "SubjectAccessReview get configmaps/kc", "TokenReview",
                "SubjectAccessReview patch configmaps/kc",
            ])
    }

    @Test func aDecisionIsCachedPerTokenAndVerb() async {
        api.identify("reader-token", as: "reader", allowed: ["get"])
        for _ in 0..<3 { #expect(await get("/status", token: "reader-token").status == .ok) }
        #expect(api.calls.count == 2)
        // A cached allow answers at once, without deferring to a task.
        guard
            case .response = router.respond(
                to:
                    .make(method: "GET", path: "/kubeconfig", headers: [("Authorization", "Bearer reader-token")]))
        else {
            Issue.record("a cached decision was deferred")
            return
        }
    }

    @Test func anUnknownTokenIs401AndTheRefusalIsCached() async {
        #expect(await get("/kubeconfig", token: "nobody").status == .unauthorized)
        #expect(await get("/kubeconfig", token: "nobody").status == .unauthorized)
        #expect(api.calls == ["TokenReview"])
    }

    @Test func aReviewThatFailsIsNotCached() async {
        api.identify("reader-token", as: "reader", allowed: ["get"])
        api.fail(ServiceError(code: .apiUnreachable, message: "connection refused"))
        #expect(await get("/kubeconfig", token: "reader-token").status == .badGateway)
        #expect(await get("/kubeconfig", token: "reader-token").status == .ok)
    }

    @Test func identityHeadersACallerSendsNeverCount() async {
        api.identify("reader-token", as: "reader", allowed: ["get"])
        let claims: [(String, String)] = [
            ("X-Remote-User", "admin"), ("X-Remote-Group", "system:masters"), ("Impersonate-User", "admin"),
            ("Impersonate-Group", "system:masters"), ("X-Forwarded-User", "admin"),
        ]
        let anonymous = await router.respond(to: .make(method: "GET", path: "/kubeconfig", headers: claims)).response()
        #expect(anonymous.status == .unauthorized)
        let unknown = await router.respond(
            to: .make(method: "GET", path: "/kubeconfig", headers: claims + [("Authorization", "Bearer nobody")])
        ).response()
        #expect(unknown.status == .unauthorized)
        let reader = await router.respond(
            to: .make(method: "POST", path: "/sites/central", headers: claims + [("Authorization", "Bearer reader-token")])
        ).response()
        #expect(reader.status == .forbidden)
        #expect(String(decoding: reader.body, as: UTF8.self).contains("User \\\"reader\\\" cannot patch"))
        // The reviews asked about the token's owner only.
        #expect(api.calls.filter { $0.hasPrefix("SubjectAccessReview") } == ["SubjectAccessReview patch configmaps/kc"])
    }

    @Test func aRevokedPermissionOutlivesNoLongerThanTheCacheLifetime() async throws {
        var lifetimes = AccessReviewer.CacheLifetimes()
        lifetimes.allowed = .milliseconds(300)
        let reviewer = AccessReviewer(
            namespace: "onap", name: "kc", api: api, lifetimes: lifetimes, logger: Logger(label: "test"))
        api.identify("reader-token", as: "reader", allowed: ["get"])
        let clock = ContinuousClock()
        let allowedAt = clock.now
        #expect(try await reviewer.review(BearerToken("reader-token"), verb: .get) == .allowed(username: "reader"))
        api.disallow("reader", "get")
        // Within the lifetime the cached allow stands (documented); after it, the review runs again.
        #expect(try await reviewer.review(BearerToken("reader-token"), verb: .get) == .allowed(username: "reader"))
        try await Task.sleep(until: allowedAt + .milliseconds(350))
        guard case .denied = try await reviewer.review(BearerToken("reader-token"), verb: .get) else {
            Issue.record("a revoked permission outlived the cache lifetime")
            return
        }
    }

    @Test func withAudiencesOnlyTokensIssuedForOneOfThemAreAccepted() async throws {
        let reviewer = AccessReviewer(
            namespace: "onap", name: "kc", api: api, audiences: ["kubeconfig-service"], logger: Logger(label: "test"))
        api.identify("ours", as: "cloudify", allowed: ["get"], audiences: ["kubeconfig-service", "other"])
        api.identify("replayed", as: "cloudify", allowed: ["get"], audiences: ["some-other-service"])
        api.identify("plain", as: "cloudify", allowed: ["get"])
        #expect(try await reviewer.review(BearerToken("ours"), verb: .get) == .allowed(username: "cloudify"))
        for token in ["replayed", "plain"] {
            let decision = try await reviewer.review(BearerToken(token), verb: .get)
            #expect(
                decision
                    == .unauthenticated(
                        reason: "the bearer token is not valid for this service's audience (kubeconfig-service)"), "\(token)")
        }
        // Without audiences, the API server's own audience is what counts.
        #expect(try await self.reviewer.review(BearerToken("plain"), verb: .get) == .allowed(username: "cloudify"))
        #expect(try await self.reviewer.review(BearerToken("replayed"), verb: .get) != .allowed(username: "cloudify"))
    }

    @Test func probesAndMetricsNeedNoToken() async {
        #expect(await router.respond(to: .make(method: "GET", path: "/livez")).response().status == .ok)
        #expect(await router.respond(to: .make(method: "GET", path: "/healthz")).response().status == .ok)
        #expect(api.calls.isEmpty)
    }
}
