import Foundation
import Testing

@testable import ServiceAssembly

/// `kubeconfig-service site list`'s table from `GET /sites` answers: what each site's credential
/// is, when things expire relative to now, and its health in a word.
@Suite struct SiteListingTests {
    static let now = Date(timeIntervalSince1970: 1_796_000_000)

    static func time(_ offset: TimeInterval) -> String {
        (now + offset).formatted(.iso8601)
    }

    @Test func eachSiteIsOneRowWithItsCredentialExpiriesAndHealth() throws {
        let body = """
            {"sites":[
             {"name":"central","credential":"token","tokenManagement":"managed","tokenExpiresAt":"\(Self.time(2820))",
              "server":"https://10.0.0.1:443","ours":true,
              "health":{"reachable":true,"authenticated":true,"checkedAt":"\(Self.time(-5))"}},
             {"name":"edge-1","credential":"token","tokenManagement":"managed","tokenExpiresAt":"\(Self.time(-90))",
              "bootstrapExpiresAt":"\(Self.time(30 * 86400))","renewalError":{"code":"BootstrapCredentialRejected","message":"m"},
              "server":"https://edge-1:6443",
              "health":{"reachable":true,"authenticated":false,"checkedAt":"\(Self.time(-5))",
                        "error":{"code":"SiteUnauthorized","message":"m"}}},
             {"name":"static-1","credential":"token","tokenManagement":"static","server":"https://s:6443",
              "health":{"reachable":false,"authenticated":null,"checkedAt":"\(Self.time(-5))",
                        "error":{"code":"SiteTimeout","message":"m"}}},
             {"name":"cert-1","credential":"client-certificate","server":"https://c:6443","futureField":[1,2]},
             {"name":"pasted-1","credential":"token","tokenManagement":"managed","tokenExpiresAt":"\(Self.time(3000))",
              "bootstrapExpiresAt":"\(Self.time(6 * 86400))","bootstrapManagement":"static","server":"https://p:6443"},
             {"name":"down-1","credential":"token","tokenManagement":"managed","tokenExpiresAt":"\(Self.time(3000))",
              "bootstrapExpiresAt":"\(Self.time(3 * 3600))","bootstrapManagement":"managed",
              "bootstrapRenewalError":{"code":"SiteConnectionRefused","message":"m"},"server":"https://d:6443"}
            ]}
            """
        let table = try SiteListing(json: Array(body.utf8)).table(now: Self.now)
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines.count == 7)
        let cells = lines.map { $0.split(separator: "   ").map { $0.trimmingCharacters(in: .whitespaces) } }
        #expect(cells[0] == ["NAME", "CREDENTIAL", "TOKEN EXPIRES", "BOOTSTRAP EXPIRES", "HEALTH", "SERVER"])
        #expect(cells[1] == ["central", "managed", "in 47m", "-", "up", "https://10.0.0.1:443"])
        #expect(
            cells[2] == [
                "edge-1", "managed (BootstrapCredentialRejected)", "expired 90s ago", "in 30d",
                "unauthenticated (SiteUnauthorized)",
                "https://edge-1:6443",
            ])
        #expect(cells[3] == ["static-1", "static token", "-", "-", "down (SiteTimeout)", "https://s:6443"])
        #expect(cells[4] == ["cert-1", "client-certificate", "-", "-", "unchecked", "https://c:6443"])
        // A bootstrap credential the service cannot renew says so; one whose renewal fails says why.
        #expect(cells[5] == ["pasted-1", "managed", "in 50m", "in 6d (static)", "unchecked", "https://p:6443"])
        #expect(
            cells[6] == ["down-1", "managed", "in 50m", "in 3h (SiteConnectionRefused)", "unchecked", "https://d:6443"])
        // Columns line up: every row's SERVER starts where the header's does.
        let column = try #require(lines[0].range(of: "SERVER")).lowerBound.utf16Offset(in: lines[0])
        for line in lines.dropFirst() {
            #expect(line.dropFirst(column).hasPrefix("https://"), "\(line)")
        }
    }

    static let ages: [(TimeInterval, String)] = [
        (59, "in 59s"), (119, "in 119s"), (120, "in 2m"), (7199, "in 119m"), (7200, "in 2h"), (47 * 3600, "in 47h"),
        (48 * 3600, "in 2d"), (-1, "expired 1s ago"), (-3 * 3600, "expired 3h ago"),
    ]

    @Test(arguments: ages)
    func timesAreShownAsKubectlShowsAges(_ offset: TimeInterval, _ shown: String) {
        #expect(SiteListing.relative(Self.time(offset), now: Self.now) == shown)
    }

    @Test func anAnswerThatIsNoListIsRefusedWithoutEchoingIt() {
        for body in [#"{"token":"secret"}"#, "secret-token"] {
            let error = #expect(throws: ServiceClientError.self) { try SiteListing(json: Array(body.utf8)) }
            #expect(error?.description.contains("secret") == false)
        }
    }
}
