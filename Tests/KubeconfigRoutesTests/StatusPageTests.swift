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

/// The status page at `/`: open to anyone (it holds no data), served with a policy that lets
/// only its own inline script and style run, and written so that it keeps the token to the tab.
@Suite struct StatusPageTests {
    let api = ScriptedKubernetesAPI()
    let router: ServiceRouter

    init() {
        let logger = Logger(label: "test")
        let reviewer = AccessReviewer(namespace: "onap", name: "kc", api: api, logger: logger)
        let publisher = SitePublisher(
            configuration: PublisherConfiguration(namespace: "onap"),
            credentials: InClusterDiscovery(environment: [:], serviceAccountDirectory: "/nonexistent"),
            updater: DocumentUpdater(store: InMemoryDocumentStore(text: nil), logger: logger), logger: logger)
        router = ServiceRouter(
            publisher: publisher, registry: SiteRegistry(publisher: publisher, renewer: nil), reviewer: reviewer,
            metrics: { "# metrics\n" }, logger: logger)
    }

    func respond(_ method: String, _ path: String) async -> HTTPServerResponse {
        await router.respond(to: .make(method: method, path: path)).response()
    }

    var page: String {
        get async { String(decoding: await respond("GET", "/").body, as: UTF8.self) }
    }

    /// The text of each `<element ...>...</element>` of the page, found by a pattern of this
    /// test's own (attributes allowed, so that an inline element the route cannot hash is seen).
    func inline(_ element: String, in page: String) throws -> [Substring] {
        let pattern = try Regex("<\(element)\\b[^>]*>(.*?)</\(element)>").dotMatchesNewlines()
        return page.matches(of: pattern).compactMap { $0.output[1].substring }
    }

    func sha256Source(_ text: Substring) -> String {
        "'sha256-\(Data(SHA256.hash(data: Array(text.utf8)).bytes).base64EncodedString())'"
    }

    // MARK: - Who may read it

    @Test func thePageAnswersWithoutATokenAndAsksForNoReview() async {
        let response = await respond("GET", "/")
        #expect(response.status == .ok)
        #expect(!response.body.isEmpty)
        #expect(api.calls.isEmpty)
    }

    @Test func onlyTheProbesTheMetricsAndThePageAreOpen() async {
        let open = router.routes.filter { $0.access == .open }.map(\.path.description)
        #expect(open == ["/livez", "/healthz", "/readyz", "/", "/metrics"])
        // Every method of every other route is refused without a token; the open ones are not.
        for route in router.routes {
            let path = route.path.description.replacing("{name}", with: "central")
            for method in route.methods.keys.map(\.rawValue) + (route.methods[.get] == nil ? [] : ["HEAD"]) {
                let status = await respond(method, path).status
                if route.access == .open {
                    #expect(status != .unauthorized, "\(method) \(path)")
                } else {
                    #expect(status == .unauthorized, "\(method) \(path)")
                }
            }
        }
    }

    // MARK: - What it is served with

    @Test func thePageIsServedWithStrictHeaders() async throws {
        let response = await respond("GET", "/")
        #expect(response.header("Content-Type") == "text/html; charset=utf-8")
        #expect(response.header("X-Content-Type-Options") == "nosniff")
        #expect(response.header("Referrer-Policy") == "no-referrer")
        #expect(response.header("Cache-Control") == "no-store")
        let policy = try #require(response.header("Content-Security-Policy"))
        let directives = policy.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(directives.first == "default-src 'none'")
        for directive in ["base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'", "connect-src 'self'"] {
            #expect(directives.contains(directive), "\(directive)")
        }
        #expect(!policy.contains("unsafe-"))
    }

    @Test func thePolicysHashesAreThoseOfThePagesInlineScriptAndStyle() async throws {
        let page = await page
        let scripts = try inline("script", in: page)
        let styles = try inline("style", in: page)
        #expect(scripts.count == 1 && styles.count == 1)
        let response = await respond("GET", "/")
        let expected = [
            "default-src 'none'", "script-src \(scripts.map(sha256Source).joined(separator: " "))",
            "style-src \(styles.map(sha256Source).joined(separator: " "))", "connect-src 'self'", "img-src data:",
            "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
        ]
        #expect(response.header("Content-Security-Policy") == expected.joined(separator: "; "))
    }

    @Test func aHeadAnswersWithTheHeadersOfAGetWithoutAToken() async {
        // The HTTP layer sends no body for HEAD, with GET's length (HTTPServerTests, and on the
        // wire Tests/e2e/test_page.py); here, the route answers it as it answers GET.
        let get = await respond("GET", "/")
        let head = await respond("HEAD", "/")
        #expect(head.status == .ok)
        #expect(head.headerFields == get.headerFields)
        #expect(head.body.count == get.body.count)
        #expect(api.calls.isEmpty)
    }

    @Test func otherMethodsAre405() async {
        for method in ["POST", "PUT", "DELETE", "PATCH"] {
            let response = await respond(method, "/")
            #expect(response.status == .methodNotAllowed, "\(method)")
            #expect(response.header("Allow") == "GET, HEAD")
        }
    }

    // MARK: - What it is

    @Test func theServedPageIsTheFileInTheSources() async throws {
        let file = URL(filePath: #filePath).deletingLastPathComponent()
            .appending(path: "../../Sources/KubeconfigRoutes/Page/status-page.html").standardized
        #expect(await respond("GET", "/").body == Array(try Data(contentsOf: file)))
    }

    @Test func thePageFetchesNoOtherOriginAndWritesNoDataAsMarkup() async {
        let page = await page
        for forbidden in [
            "http://", "https://", "localStorage", "document.cookie", "innerHTML", "outerHTML",
            "insertAdjacentHTML", "document.write", "eval(", "new Function",
        ] {
            #expect(!page.contains(forbidden), "the page contains \(forbidden)")
        }
        // It loads nothing: the one URL attribute is the empty data: favicon.
        #expect(page.matches(of: #/\b(src|href|action)\s*=/#).count == 1)
        #expect(page.contains(#"<link rel="icon" href="data:,">"#))
        // It reads the two routes, relative to where it is served.
        #expect(page.contains("read('sites')") && page.contains("read('status')"))
        #expect(page.contains("sessionStorage"))
    }
}
