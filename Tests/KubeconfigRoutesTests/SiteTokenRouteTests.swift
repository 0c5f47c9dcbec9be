import Foundation
import HTTPMessages
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import TestFixtures
import Testing

@testable import KubeconfigRoutes
@testable import KubeconfigService

/// `POST /sites/{name}/token`: a token of the site's account for a caller allowed `create` on
/// that site's `sites/token`, as an ExecCredential; lifetimes defaulted and capped; one site's
/// right is not another's, nor the document's; a static site has none to give; callers are
/// limited per site.
@Suite struct SiteTokenRouteTests {
    let api = ScriptedKubernetesAPI()
    let service: PublishedRouter

    init() async throws {
        let logger = Logger(label: "test")
        let tokens = IssuedTokenSource(
            configuration: IssuedTokenSource.Configuration(namespace: "onap", serviceAccount: "cloudify"), tokens: api,
            reviews: nil, logger: logger)
        service = PublishedRouter(
            reviewer: AccessReviewer(namespace: "onap", name: "kc", api: api, logger: logger), tokens: tokens,
            tokensPerMinute: 3)
        api.identify("central-caller", as: "alice", allowed: ["create sites/token/central"])
        api.identify("edge-caller", as: "bob", allowed: ["create sites/token/edge-1"])
        api.identify("document-writer", as: "carol", allowed: ["get", "patch"])
        _ = try await SiteRegistry(publisher: service.publisher).register(SiteFixtures.registration("edge-1"))
    }

    func post(_ site: String, token: String, body: String = "") async -> (status: Int, json: [String: Any], retryAfter: String?) {
        let request = HTTPServerRequest.make(
            method: "POST", path: "/sites/\(site)/token",
            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")], body: Array(body.utf8))
        let response = await service.router.respond(to: request).response()
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
        return (response.status.code, json, response.header("Retry-After"))
    }

    func expiresIn(_ json: [String: Any]) throws -> TimeInterval {
        let text = try #require((json["status"] as? [String: Any])?["expirationTimestamp"] as? String)
        let date = try #require(ISO8601DateFormatter().date(from: text))
        return date.timeIntervalSinceNow
    }

    @Test func aCallerAllowedTheSiteGetsAnExecCredentialOfTheDefaultLifetime() async throws {
        let answer = await post("central", token: "central-caller")
        #expect(answer.status == 200)
        #expect(answer.json["apiVersion"] as? String == "client.authentication.k8s.io/v1")
        #expect(answer.json["kind"] as? String == "ExecCredential")
        let token = try #require((answer.json["status"] as? [String: Any])?["token"] as? String)
        #expect(api.calls.contains("TokenRequest onap/cloudify"))
        // The token is the account's: the API server says so.
        #expect(try await api.reviewToken(BearerToken(token), audiences: [])?.username == "system:serviceaccount:onap:cloudify")
        #expect(abs(try expiresIn(answer.json) - 600) < 5)
    }

    @Test func aLongerLifetimeIsCappedAndAShorterOneRefused() async throws {
        let capped = await post("central", token: "central-caller", body: #"{"expirationSeconds": 7200}"#)
        #expect(capped.status == 200)
        #expect(abs(try expiresIn(capped.json) - 3600) < 5)
        let short = await post("central", token: "central-caller", body: #"{"expirationSeconds": 300}"#)
        #expect(short.status == 400)
        let unknown = await post("central", token: "central-caller", body: #"{"lifetime": 900}"#)
        #expect(unknown.status == 400)
    }

    @Test func oneSitesRightIsNotAnothersNorTheDocuments() async throws {
        #expect(await post("central", token: "edge-caller").status == 403)
        #expect(await post("central", token: "document-writer").status == 403)
        #expect(await post("central", token: "nobody").status == 401)
        #expect(!api.calls.contains("TokenRequest onap/cloudify"))
    }

    @Test func aStaticSiteHasNoTokenToGive() async throws {
        let answer = await post("edge-1", token: "edge-caller")
        #expect(answer.status == 409)
        #expect((answer.json["error"] as? [String: Any])?["code"] as? String == "SiteNotManaged")
    }

    @Test func aCallerAskingTooOftenIsToldWhenToAskAgain() async throws {
        for _ in 0..<3 { #expect(await post("central", token: "central-caller").status == 200) }
        let refused = await post("central", token: "central-caller")
        #expect(refused.status == 429)
        #expect(Int(refused.retryAfter ?? "") ?? 0 >= 1)
        // Another caller's share is its own.
        api.identify("other-central-caller", as: "dave", allowed: ["create sites/token/central"])
        #expect(await post("central", token: "other-central-caller").status == 200)
    }
}
