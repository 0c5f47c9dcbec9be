import Foundation
import HTTPMessages
import KubeconfigServiceTestSupport
import Testing

@testable import KubeconfigService

/// A registration's labels: in JSON, as a kubeconfig import's `?label=`, shown by `GET /sites`,
/// kept in the document's annotation and dropped with the site.
extension SiteRoutesTests {
    /// A `PUT` of a kubeconfig with query parameters (decoded, as the HTTP layer hands them on).
    func putKubeconfig(_ name: String, _ query: [(name: String, value: String)]) async -> HTTPServerResponse {
        await router.respond(
            to: .make(
                method: "PUT", path: "/sites/\(name)", query: query, headers: [("Content-Type", "application/yaml")],
                body: Self.kubeconfig(name))
        ).response()
    }

    static func kubeconfig(_ name: String) -> [UInt8] {
        Array(
            """
            apiVersion: v1
            kind: Config
            clusters:
            - {name: \(name), cluster: {server: 'https://\(name).example:6443', certificate-authority-data: \(ca)}}
            users:
            - {name: \(name), user: {token: token-of-\(name)}}
            contexts:
            - {name: \(name), context: {cluster: \(name), user: \(name)}}
            current-context: \(name)
            """.utf8)
    }

    @Test func labelsAreRegisteredShownAndRemovedWithTheSite() async throws {
        let body = Array(
            #"{"server":"https://site-a.example:6443","certificateAuthorityData":"\#(Self.ca)","token":"t","labels":{"env":"prod"}}"#
                .utf8)
        #expect(await send("PUT", "/sites/site-a", body: body).status == .created)
        let imported = await putKubeconfig("site-b", [("label", "env=dev"), ("label", "example.org/team=a")])
        #expect(imported.status == .created)
        let labels = SiteLabels(annotations: store.stored?.annotations ?? [:])
        #expect(labels["site-a"] == ["env": "prod"])
        #expect(labels["site-b"] == ["env": "dev", "example.org/team": "a"])
        let shown = json(await send("GET", "/sites/site-b"))
        #expect(shown["labels"] as? [String: String] == ["env": "dev", "example.org/team": "a"])
        #expect(await send("DELETE", "/sites/site-a").status == .ok)
        let remaining = SiteLabels(annotations: store.stored?.annotations ?? [:])
        #expect(remaining["site-a"].isEmpty && remaining["site-b"] == ["env": "dev", "example.org/team": "a"])
    }

    @Test func labelsKubernetesWouldRefuseAreRefusedAndNothingIsWritten() async throws {
        let writes = store.writes.count
        let queries: [[(name: String, value: String)]] = [
            [("label", "env")], [("label", "bad key=x")], [("label", "env=a"), ("label", "env=b")],
            [("label", "app.kubernetes.io/managed-by=x")],
        ]
        for query in queries {
            let refused = await putKubeconfig("site-c", query)
            #expect(refused.status == .badRequest, "\(query)")
        }
        let json = Array(
            #"{"server":"https://c.example:6443","certificateAuthorityData":"\#(Self.ca)","token":"t","labels":{"env":"-x"}}"#
                .utf8)
        #expect(await send("PUT", "/sites/site-c", body: json).status == .badRequest)
        #expect(store.writes.count == writes)
    }
}
