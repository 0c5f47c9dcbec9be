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

/// `GET /sites`, `GET|PUT|DELETE /sites/{name}` through the router, against a document in memory.
@Suite struct SiteRoutesTests {
    let store: InMemoryDocumentStore
    let publisher: SitePublisher
    let router: ServiceRouter
    static let ca = SiteFixtures.base64(SiteFixtures.caPEM)

    init() {
        let service = PublishedRouter()
        (store, publisher, router) = (service.store, service.publisher, service.router)
    }

    static func body(_ name: String, token: String = "token-of-site") -> [UInt8] {
        Array(#"{"server":"https://\#(name).example:6443","certificateAuthorityData":"\#(ca)","token":"\#(token)"}"#.utf8)
    }

    func send(
        _ method: String, _ path: String, body: [UInt8] = [], contentType: String? = "application/json"
    ) async
        -> HTTPServerResponse
    {
        let headers = contentType.map { [("Content-Type", $0)] } ?? []
        return await router.respond(to: .make(method: method, path: path, headers: headers, body: body)).response()
    }

    func json(_ response: HTTPServerResponse) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    func storedDocument() throws -> KubeconfigDocument {
        try KubeconfigDocument(parsing: store.stored?.text ?? "", origin: "test")
    }

    @Test func aSiteIsCreatedThenReplacedThenFoundUnchanged() async throws {
        let created = await send("PUT", "/sites/site-a", body: Self.body("site-a"))
        #expect(created.status == .created)
        #expect(json(created)["created"] as? Bool == true)
        #expect(try storedDocument().token(ofUser: "site-a") == "token-of-site")
        let replaced = await send("PUT", "/sites/site-a", body: Self.body("site-a", token: "another"))
        #expect(replaced.status == .ok)
        #expect(json(replaced)["changed"] as? Bool == true)
        let writes = store.writes.count
        let same = await send("PUT", "/sites/site-a", body: Self.body("site-a", token: "another"))
        #expect(same.status == .ok)
        #expect(json(same)["changed"] as? Bool == false)
        #expect(store.writes.count == writes, "an identical registration writes nothing")
        // The served document follows at once.
        #expect(publisher.state.published?.document.token(ofUser: "site-a") == "another")
        for response in [created, replaced, same] {
            #expect(!String(decoding: response.body, as: UTF8.self).contains("token-of-site"))
            #expect(!String(decoding: response.body, as: UTF8.self).contains("another"))
        }
    }

    @Test func badInputIs400AndLeavesTheDocumentByteIdentical() async throws {
        let before = store.stored
        let cases: [(String, [UInt8], String?, Int, String)] = [
            (
                "/sites/site-a", Array(#"{"server":"http://x","certificateAuthorityData":"\#(Self.ca)","token":"t"}"#.utf8),
                "application/json", 400, "InvalidSite"
            ),
            ("/sites/Bad_Name", Self.body("x"), "application/json", 400, "InvalidSite"),
            ("/sites/site-a", Array("not json".utf8), nil, 400, "InvalidSite"),
            ("/sites/site-a", Array("contexts: []".utf8), "application/yaml", 400, "InvalidSite"),
            ("/sites/site-a", Self.body("site-a"), "text/plain", 415, "UnsupportedMediaType"),
            ("/sites/central", Self.body("central"), "application/json", 409, "SiteReserved"),
        ]
        for (path, body, type, status, code) in cases {
            let response = await send("PUT", path, body: body, contentType: type)
            #expect(response.status.code == status, "\(path) \(type ?? "-")")
            #expect((json(response)["error"] as? [String: Any])?["code"] as? String == code)
        }
        let user00 = Array(#"{"server":"https://x:1","certificateAuthorityData":"\#(Self.ca)","token":"t","user":"user00"}"#.utf8)
        let conflict = await send("PUT", "/sites/site-b", body: user00)
        #expect(conflict.status == .conflict)
        #expect(store.stored == before)
        #expect(store.writes.isEmpty)
    }

    @Test func twoContentTypesAreRefused() async {
        let request = HTTPServerRequest.make(
            method: "PUT", path: "/sites/site-a",
            headers: [("Content-Type", "application/json"), ("Content-Type", "application/yaml")], body: Self.body("site-a"))
        let response = await router.respond(to: request).response()
        #expect(response.status == .badRequest)
    }

    @Test func aKubeconfigBodyIsImported() async throws {
        let kubeconfig = """
            apiVersion: v1
            kind: Config
            clusters:
            - {name: remote, cluster: {server: 'https://remote:6443', certificate-authority-data: \(Self.ca)}}
            users:
            - {name: admin, user: {token: remote-token}}
            contexts:
            - {name: remote, context: {cluster: remote, user: admin, namespace: apps}}
            current-context: remote
            """
        let response = await send(
            "PUT", "/sites/remote", body: Array(kubeconfig.utf8), contentType: "application/yaml; charset=utf-8")
        #expect(response.status == .created)
        let document = try storedDocument()
        #expect(document.token(ofUser: "remote") == "remote-token")
        #expect(document.contexts.first { $0.name == "remote" }?.namespace == "apps")
        #expect(document.root["current-context"]?.stringValue == "central")
    }

    @Test func sitesAreListedAndShownWithoutCredentials() async throws {
        _ = await send("PUT", "/sites/site-a", body: Self.body("site-a", token: "secret-a"))
        let list = await send("GET", "/sites")
        #expect(list.status == .ok)
        let sites = try #require(json(list)["sites"] as? [[String: Any]])
        #expect(sites.map { $0["name"] as? String } == ["central", "site-a"])
        #expect(sites[0]["ours"] as? Bool == true)
        #expect(sites[1]["credential"] as? String == "token")
        #expect(sites[1]["health"] == nil, "no probe has run")
        let one = await send("GET", "/sites/site-a")
        #expect(json(one)["server"] as? String == "https://site-a.example:6443")
        for response in [list, one] {
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(!text.contains("secret-a") && !text.contains(Fixtures.central.token.value))
        }
        #expect(await send("GET", "/sites/absent").status == .notFound)
    }

    @Test func deletingRemovesTheSiteAnd404sWhenAbsent() async throws {
        _ = await send("PUT", "/sites/site-a", body: Self.body("site-a"))
        let deleted = await send("DELETE", "/sites/site-a")
        #expect(deleted.status == .ok)
        #expect(try !storedDocument().contextNames.contains("site-a"))
        let writes = store.writes.count
        let absent = await send("DELETE", "/sites/site-a")
        #expect(absent.status == .notFound)
        #expect((json(absent)["error"] as? [String: Any])?["code"] as? String == "SiteNotFound")
        #expect(store.writes.count == writes)
        #expect(await send("DELETE", "/sites/central").status == .conflict)
        #expect(try storedDocument().contextNames == ["central"])
    }

    @Test func concurrentRegistrationsAndRemovalsAllLand() async throws {
        let names = (0..<20).map { "site-\($0)" }
        await withTaskGroup(of: Void.self) { group in
            for name in names { group.addTask { _ = await send("PUT", "/sites/\(name)", body: Self.body(name)) } }
        }
        #expect(try Set(storedDocument().contextNames) == Set(names + ["central"]))
        await withTaskGroup(of: Void.self) { group in
            for name in names where name.hasSuffix("1") || name.hasSuffix("5") {
                group.addTask { _ = await send("DELETE", "/sites/\(name)") }
            }
            group.addTask { _ = await send("PUT", "/sites/late", body: Self.body("late")) }
        }
        let expected = Set(names.filter { !$0.hasSuffix("1") && !$0.hasSuffix("5") } + ["central", "late"])
        #expect(try Set(storedDocument().contextNames) == expected)
    }

    @Test func aRegistrationAndARemovalOfOneSiteInOneRoundBothAnswer() async throws {
        let updater = publisher.updater
        let (gate, open) = AsyncStream<Void>.makeStream()
        let held = Task {
            try await updater.update(
                DocumentEdit("held") { (_: inout DocumentContent) throws(ServiceError) in
                    for await _ in gate { break }
                })
        }
        while store.calls.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        let put = Task { await send("PUT", "/sites/site-x", body: Self.body("site-x")) }
        while updater.waitingEdits < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let delete = Task { await send("DELETE", "/sites/site-x") }
        while updater.waitingEdits < 2 { try await Task.sleep(for: .milliseconds(5)) }
        open.yield()
        _ = try await held.value
        // The registration describes the site as it wrote it, though the removal followed it; the
        // two cancel out, so the round writes nothing and says so.
        let registered = await put.value
        #expect(registered.status == .ok)
        #expect(json(registered)["changed"] as? Bool == false)
        #expect((json(registered)["site"] as? [String: Any])?["name"] as? String == "site-x")
        #expect(await delete.value.status == .ok)
        #expect(try !storedDocument().contextNames.contains("site-x"))
    }

    @Test func aRegistrationLosingARaceIsMadeAgainOnTheOtherWritersDocument() async throws {
        let logger = Logger(label: "test")
        let base = store
        let registry = SiteRegistry(
            location: "central",
            updater: DocumentUpdater(
                store: InterleavingStore(base) {
                    // Another replica registers site-b between our read and our write.
                    let other = SiteRegistry(
                        location: "central", updater: DocumentUpdater(store: base, logger: logger), state: PublicationState())
                    _ = try? await other.register(SiteFixtures.registration("site-b"))
                }, logger: logger),
            state: publisher.state)
        let result = try await registry.register(SiteFixtures.registration("site-a"))
        #expect(result.created)
        #expect(try storedDocument().contextNames == ["central", "site-b", "site-a"])
    }
}

/// Who may read and change sites: `get` to read, `patch` to change, as for the document.
@Suite struct SiteAuthorizationTests {
    let api = ScriptedKubernetesAPI()
    let router: ServiceRouter

    init() {
        router =
            PublishedRouter(reviewer: AccessReviewer(namespace: "onap", name: "kc", api: api, logger: Logger(label: "test")))
            .router
        api.identify("reader", as: "reader", allowed: ["get"])
        api.identify("writer", as: "writer", allowed: ["get", "patch"])
        api.identify("nobody", as: "nobody", allowed: [])
    }

    @Test(arguments: [
        ("GET", "/sites"), ("HEAD", "/sites"), ("GET", "/sites/central"), ("HEAD", "/sites/central"),
        ("PUT", "/sites/site-a"), ("DELETE", "/sites/site-a"), ("POST", "/sites/central"),
    ])
    func eachRouteAnswers401Or403OrLetsThrough(method: String, path: String) async {
        func send(_ token: String?) async -> Int {
            let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
            return await router.respond(
                to: .make(method: method, path: path, headers: headers, body: SiteRoutesTests.body("site-a"))
            ).response().status.code
        }
        let changes = method != "GET" && method != "HEAD"
        #expect(await send(nil) == 401)
        #expect(await send("unknown") == 401)
        #expect(await send("nobody") == 403)
        let reader = await send("reader")
        #expect(changes ? reader == 403 : reader == 200)
        let writer = await send("writer")
        #expect(writer != 401 && writer != 403)
    }
}

extension SiteRoutesTests {
    @Test func aSecondNameForAClusterIs409NamingTheFirstAndEverySiteShowsItsClusterId() async throws {
        func body(_ name: String, _ extra: String) -> [UInt8] {
            Array(
                #"{"server":"https://\#(name).example:6443","certificateAuthorityData":"\#(Self.ca)","token":"t",\#(extra)}"#
                    .utf8)
        }
        let first = await send("PUT", "/sites/edge-1", body: body("edge-1", #""clusterId":"uid-1""#))
        #expect(first.status == .created)
        #expect((json(first)["site"] as? [String: Any])?["clusterId"] as? String == "uid-1")
        let before = store.stored
        let second = await send("PUT", "/sites/edge-2", body: body("edge-2", #""clusterId":"uid-1""#))
        #expect(second.status == .conflict)
        let error = json(second)["error"] as? [String: Any]
        #expect(error?["code"] as? String == "SiteClusterConflict")
        #expect((error?["message"] as? String)?.contains("already registered as site edge-1; remove edge-1 first") == true)
        #expect(store.stored == before)
        let allowed = await send(
            "PUT", "/sites/edge-2", body: body("edge-2", #""clusterId":"uid-1","allowDuplicateCluster":true"#))
        #expect(allowed.status == .created)
        let sites = (json(await send("GET", "/sites"))["sites"] as? [[String: Any]]) ?? []
        let ids = Dictionary(uniqueKeysWithValues: sites.map { ($0["name"] as? String ?? "", $0["clusterId"] as? String) })
        #expect(ids == ["central": nil, "edge-1": "uid-1", "edge-2": "uid-1"])
        #expect(json(await send("GET", "/sites/edge-1"))["clusterId"] as? String == "uid-1")
    }
}
