import Foundation
import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Testing

@testable import KubeconfigRoutes
@testable import KubeconfigService

/// Routing without sockets: the router's answers to requests, with a publisher whose discovery
/// points nowhere and whose document lives in memory.
@Suite struct ServiceRouterTests {
    let publisher: SitePublisher
    let router: ServiceRouter
    let reviewer: AccessReviewer

    init() {
        let logger = Logger(label: "test")
        let discovery = InClusterDiscovery(environment: [:], serviceAccountDirectory: "/nonexistent")
        let clients = KubernetesClientProvider(requestTimeout: .seconds(1), logger: logger)
        publisher = SitePublisher(
            configuration: PublisherConfiguration(namespace: "onap"), credentials: discovery,
            updater: DocumentUpdater(store: InMemoryDocumentStore(text: nil), logger: logger), logger: logger)
        reviewer = AccessReviewer(
            namespace: "onap", name: "multisite-kubeconfig-configmap",
            api: InClusterConnection(discovery: discovery, clients: clients), logger: logger)
        router = ServiceRouter(
            publisher: publisher, registry: SiteRegistry(publisher: publisher, renewer: nil), reviewer: nil,
            metrics: { "# metrics\n" }, logger: logger)
    }

    func respond(_ router: ServiceRouter, _ request: HTTPServerRequest) async -> HTTPServerResponse {
        switch router.respond(to: request) {
        case .response(let response): return response
        case .deferred(let work): return await work()
        }
    }

    func respond(_ request: HTTPServerRequest) async -> HTTPServerResponse { await respond(router, request) }

    func errorCode(_ response: HTTPServerResponse) -> String? {
        let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return (object?["error"] as? [String: Any])?["code"] as? String
    }

    func publish() {
        var document = KubeconfigDocument()
        document.merge(Fixtures.central)
        publisher.state.succeeded(
            PublishedDocument(document: document, resourceVersion: "7"), server: "https://10.96.0.1:443",
            token: PublishedToken(token: BearerToken("central-token"), source: .pod), at: Date())
    }

    @Test func unknownPathsAre404AsJSON() async {
        for path in ["/nope", "/kubeconfig/", "//kubeconfig", "/sites/", "/sites//", "/sites/central/x", "/../kubeconfig"] {
            let response = await respond(HTTPServerRequest.make(method: "GET", path: path))
            #expect(response.status.code == 404, "\(path)")
            #expect(errorCode(response) == "NotFound", "\(path)")
            #expect(response.header("Content-Type") == "application/json")
        }
    }

    @Test func aWrongMethodIs405WithAllow() async {
        let post = await respond(HTTPServerRequest.make(method: "POST", path: "/healthz"))
        #expect(post.status.code == 405)
        #expect(post.header("Allow") == "GET, HEAD")
        let patch = await respond(HTTPServerRequest.make(method: "PATCH", path: "/sites/central"))
        #expect(patch.status.code == 405)
        #expect(patch.header("Allow") == "GET, PUT, DELETE, POST, HEAD")
        #expect(errorCode(patch) == "MethodNotAllowed")
    }

    @Test func probesBeforeAndAfterTheFirstPublication() async {
        #expect(await respond(HTTPServerRequest.make(method: "GET", path: "/livez")).status.code == 200)
        let before = await respond(HTTPServerRequest.make(method: "GET", path: "/healthz"))
        #expect(before.status.code == 503)
        #expect(errorCode(before) == "NotPublished")
        #expect(await respond(HTTPServerRequest.make(method: "HEAD", path: "/readyz")).status.code == 503)
        #expect(await respond(HTTPServerRequest.make(method: "GET", path: "/kubeconfig")).status.code == 503)
        publish()
        #expect(await respond(HTTPServerRequest.make(method: "GET", path: "/healthz")).status.code == 200)
        #expect(await respond(HTTPServerRequest.make(method: "HEAD", path: "/readyz")).status.code == 200)
    }

    @Test func kubeconfigIsYAMLByDefaultAndJSONOnRequest() async throws {
        publish()
        let yaml = await respond(HTTPServerRequest.make(method: "GET", path: "/kubeconfig"))
        #expect(yaml.status.code == 200)
        #expect(yaml.header("Content-Type") == "application/yaml")
        #expect(yaml.header("Cache-Control") == "no-store")
        #expect(String(decoding: yaml.body, as: UTF8.self).contains("current-context: central"))
        let json = await respond(
            HTTPServerRequest.make(method: "GET", path: "/kubeconfig", headers: [("accept", "application/json")]))
        #expect(json.header("Content-Type") == "application/json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.body)) as? [String: Any])
        #expect(object["current-context"] as? String == "central")
        #expect(json.header("ETag") != yaml.header("ETag"))
        for etag in [json.header("ETag"), yaml.header("ETag")] {
            // RFC 9110: an entity tag is an opaque string in double quotes, nothing after them.
            #expect(etag?.first == "\"" && etag?.last == "\"" && etag?.dropFirst().dropLast().contains("\"") == false)
        }
    }

    @Test func anUnchangedDocumentAnswers304() async throws {
        publish()
        let first = await respond(HTTPServerRequest.make(method: "GET", path: "/kubeconfig"))
        let etag = try #require(first.header("ETag"))
        let again = await respond(HTTPServerRequest.make(method: "GET", path: "/kubeconfig", headers: [("If-None-Match", etag)]))
        #expect(again.status.code == 304)
        #expect(again.body.isEmpty)
        let other = await respond(
            HTTPServerRequest.make(method: "GET", path: "/kubeconfig", headers: [("If-None-Match", "\"x\"")]))
        #expect(other.status.code == 200)
    }

    @Test func oneSiteByQuery() async {
        publish()
        let site = await respond(HTTPServerRequest.make(method: "GET", path: "/kubeconfig", query: [("site", "central")]))
        #expect(site.status.code == 200)
        #expect(String(decoding: site.body, as: UTF8.self).contains("current-context: central"))
        let unknown = await respond(HTTPServerRequest.make(method: "GET", path: "/kubeconfig", query: [("site", "mars")]))
        #expect(unknown.status.code == 404)
        #expect(errorCode(unknown) == "SiteNotFound")
        let empty = await respond(HTTPServerRequest.make(method: "GET", path: "/kubeconfig", query: [("site", "")]))
        #expect(empty.status.code == 400)
    }

    @Test func ambiguityIsRefusedNotGuessed() async {
        publish()
        let twoSites = await respond(
            HTTPServerRequest.make(method: "GET", path: "/kubeconfig", query: [("site", "central"), ("site", "mars")]))
        #expect(twoSites.status.code == 400)
        #expect(errorCode(twoSites) == "BadRequest")
        for path in ["/kubeconfig", "/status", "/sites", "/healthz"] {
            let twoTokens = await respond(
                HTTPServerRequest.make(
                    method: "GET", path: path,
                    headers: [("Authorization", "Bearer admin-token"), ("Authorization", "Bearer reader-token")]))
            #expect(twoTokens.status.code == 400, "\(path)")
        }
        let twoTypes = await respond(
            HTTPServerRequest.make(
                method: "PUT", path: "/sites/edge",
                headers: [("Content-Type", "application/json"), ("Content-Type", "text/plain")]))
        #expect(twoTypes.status.code == 400)
        let otherRepeat = await respond(HTTPServerRequest.make(method: "GET", path: "/sites", query: [("x", "1"), ("x", "2")]))
        #expect(otherRepeat.status.code == 400)
        #expect(RequestChecks.repeatedParameter([("audience", "a"), ("audience", "b")], allowing: ["audience"]) == nil)
        #expect(
            RequestChecks.repeatedParameter([("audience", "a"), ("site", "b"), ("site", "c")], allowing: ["audience"]) == "site")
        let oneToken = await respond(
            HTTPServerRequest.make(method: "GET", path: "/kubeconfig", headers: [("Authorization", "Bearer admin-token")]))
        #expect(oneToken.status.code == 200)
    }

    @Test func oneSiteIsRenderedOncePerVersionAndHasItsOwnEntityTag() async throws {
        publish()
        let published = try #require(publisher.state.published)
        let first = try #require(published.site(named: "central"))
        // The same bytes, not a second rendering: the buffers are one.
        let second = try #require(published.site(named: "central"))
        first.yaml.withUnsafeBufferPointer { a in
            second.yaml.withUnsafeBufferPointer { b in #expect(a.baseAddress == b.baseAddress) }
        }
        #expect(published.site(named: "mars") == nil)
        let site = await respond(HTTPServerRequest.make(method: "GET", path: "/kubeconfig", query: [("site", "central")]))
        let etag = try #require(site.header("ETag"))
        #expect(etag == first.yamlETag)
        let again = await respond(
            HTTPServerRequest.make(
                method: "GET", path: "/kubeconfig", query: [("site", "central")], headers: [("If-None-Match", etag)]))
        #expect(again.status.code == 304)
        let json = await respond(
            HTTPServerRequest.make(
                method: "GET", path: "/kubeconfig", query: [("site", "central")], headers: [("Accept", "application/json")]))
        #expect(json.header("ETag") == first.jsonETag)
    }

    @Test func postingAnotherSiteIs404AndSaysRegisteringIsPUT() async {
        let response = await respond(HTTPServerRequest.make(method: "POST", path: "/sites/edge1"))
        #expect(response.status.code == 404)
        #expect(errorCode(response) == "SiteNotFound")
        let message = String(decoding: response.body, as: UTF8.self)
        #expect(message.contains("this service publishes site central, not edge1"))
        #expect(message.contains("registered with PUT /sites/edge1"))
    }

    @Test(arguments: [
        "[1,2]", "\"text\"", "{not json", "42", #"{"a":01}"#, #"{"a":1e400}"#, #"{"a":"\ud800"}"#, "{\"a\":\"\t\"}",
    ])
    func aPostBodyMustBeAJSONObject(body: String) async {
        let response = await respond(HTTPServerRequest.make(method: "POST", path: "/sites/central", body: Array(body.utf8)))
        #expect(response.status.code == 400)
        #expect(errorCode(response) == "BadRequest")
    }

    @Test func anyJSONObjectIsAcceptedAsAPostBody() async {
        let body = #"{"a":[1,-2.5e3,true,null,{"b":"\u00e9\n"}],"c":12345678901234567890123,"d":{}}"#
        let response = await respond(HTTPServerRequest.make(method: "POST", path: "/sites/central", body: Array(body.utf8)))
        // Past the body check: the publication itself fails, discovery pointing nowhere.
        #expect(errorCode(response) == "NotInCluster")
    }

    @Test func anOversizedBodyIs413() async {
        let response = await respond(HTTPServerRequest.make(method: "POST", path: "/sites/central", bodyTooLarge: true))
        #expect(response.status.code == 413)
        #expect(errorCode(response) == "PayloadTooLarge")
    }

    @Test func aFailedPublicationAnswersWithItsError() async {
        // Discovery points nowhere: the publication fails before any network call.
        let response = await respond(HTTPServerRequest.make(method: "POST", path: "/sites/central", body: Array("{}".utf8)))
        #expect(response.status.code == 500)
        #expect(errorCode(response) == "NotInCluster")
        #expect(publisher.state.snapshot.lastError?.code == .notInCluster)
    }

    @Test func withAuthorisationMissingTokensAre401WithAChallenge() async {
        let guarded = ServiceRouter(
            publisher: publisher, registry: SiteRegistry(publisher: publisher, renewer: nil), reviewer: reviewer,
            logger: Logger(label: "test"))
        publish()
        for (method, path) in [("GET", "/kubeconfig"), ("POST", "/sites/central"), ("GET", "/status")] {
            for authorization in [nil, "Basic dXNlcjpwYXNz", "Bearer ", "Bearer"] {
                let headers: [(name: String, value: String)] = authorization.map { [("Authorization", $0)] } ?? []
                let response = await respond(guarded, HTTPServerRequest.make(method: method, path: path, headers: headers))
                #expect(response.status.code == 401, "\(method) \(path) \(authorization ?? "none")")
                #expect(response.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            }
        }
        // Probes need no token.
        #expect(await respond(guarded, HTTPServerRequest.make(method: "GET", path: "/healthz")).status.code == 200)
        #expect(await respond(guarded, HTTPServerRequest.make(method: "GET", path: "/livez")).status.code == 200)
    }

    @Test func withAuthorisationAReviewThatCannotRunIsNotAnAllow() async {
        let guarded = ServiceRouter(
            publisher: publisher, registry: SiteRegistry(publisher: publisher, renewer: nil), reviewer: reviewer,
            logger: Logger(label: "test"))
        publish()
        let response = await respond(
            guarded, HTTPServerRequest.make(method: "GET", path: "/kubeconfig", headers: [("Authorization", "Bearer abc")]))
        #expect(response.status.code == 500)
        #expect(!String(decoding: response.body, as: UTF8.self).contains("central-token"))
    }

    @Test func headerNamesCompareWithoutCase() throws {
        let request = HTTPServerRequest.make(method: "GET", path: "/", headers: [("aUtHoRiZaTiOn", "x"), ("X-1", "y")])
        #expect(request.header(.authorization) == "x")
        #expect(request.header(try #require(HTTPField.Name("x-1"))) == "y")
        #expect(request.header(try #require(HTTPField.Name("Authorizatio"))) == nil)
        #expect(HTTPField.Name("X-\u{11}") == nil)
    }

    @Test func acceptNegotiation() {
        #expect(KubeconfigRoute.prefersJSON("application/json"))
        #expect(KubeconfigRoute.prefersJSON("application/yaml;q=0.5, application/json"))
        #expect(!KubeconfigRoute.prefersJSON("application/json;q=0.1, application/yaml"))
        #expect(!KubeconfigRoute.prefersJSON("*/*"))
        #expect(!KubeconfigRoute.prefersJSON(nil))
        #expect(!KubeconfigRoute.prefersJSON("application/json;q=0"))
    }

    @Test func bearerTokensAreParsedStrictly() {
        #expect(Authorization.bearerToken("Bearer abc")?.value == "abc")
        #expect(Authorization.bearerToken("bearer abc")?.value == "abc")
        #expect(Authorization.bearerToken("Basic abc") == nil)
        #expect(Authorization.bearerToken("Bearer") == nil)
        #expect(Authorization.bearerToken("BEARER  abc  ")?.value == "abc")
        #expect(Authorization.bearerToken("Bearerabc") == nil)
        #expect(Authorization.bearerToken("Bearer    ") == nil)
        #expect(Authorization.bearerToken("Bearer é")?.value == "é")
        #expect(Authorization.bearerToken(nil) == nil)
    }

    @Test func statusNeverShowsTheToken() async throws {
        publish()
        let response = await respond(HTTPServerRequest.make(method: "GET", path: "/status"))
        let text = String(decoding: response.body, as: UTF8.self)
        #expect(!text.contains("central-token"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(object["tokenFingerprint"] as? String == BearerToken("central-token").fingerprint)
        #expect(object["resourceVersion"] as? String == "7")
    }
}

extension ServiceRouterTests {
    @Test func aMalformedRequestIs400WhateverItsPath() async {
        let response = await respond(HTTPServerRequest.make(method: "GET", path: "", defect: "NUL byte in a header"))
        #expect(response.status.code == 400)
        #expect(errorCode(response) == "BadRequest")
        #expect(String(decoding: response.body, as: UTF8.self).contains("NUL byte in a header"))
    }
}
