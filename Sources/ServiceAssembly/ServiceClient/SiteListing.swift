import FoundationEssentials
import KubeconfigBase
import NIOHTTP1

/// `kubeconfig-service site list`: the sites of `GET /sites` as a table an operator reads at a
/// glance (what each site's credential is, when it and the bootstrap credential expire, whether
/// the site answers), or the service's JSON unchanged for scripts.
public struct SiteListing: Sendable {
    /// One row's fields, as `GET /sites` names them; unknown fields are ignored.
    struct Site: Decodable {
        struct Health: Decodable {
            struct Failure: Decodable { var code: String }
            var reachable: Bool?
            var authenticated: Bool?
            var checkedAt: String?
            var error: Failure?
        }
        var name: String
        var server: String?
        var clusterId: String?
        var credential: String?
        var tokenManagement: String?
        var tokenExpiresAt: String?
        var bootstrapExpiresAt: String?
        var bootstrapManagement: String?
        var bootstrapRenewalError: Health.Failure?
        var renewalError: Health.Failure?
        var health: Health?
    }

    let sites: [Site]

    /// The answer of `GET /sites`.
    public init(json body: [UInt8]) throws(ServiceClientError) {
        struct Body: Decodable { var sites: [Site] }
        guard let decoded = try? JSONDecoder().decode(Body.self, from: Data(body)) else {
            throw ServiceClientError(description: "the service's answer is not a list of sites")
        }
        sites = decoded.sites
    }

    /// The answer of `GET /sites/{name}`: one site.
    init(site body: [UInt8]) throws(ServiceClientError) {
        guard let site = try? JSONDecoder().decode(Site.self, from: Data(body)) else {
            throw ServiceClientError(description: "the service's answer is not a site")
        }
        sites = [site]
    }

    /// Whether every site has had its first health check.
    var checked: Bool { sites.allSatisfy { $0.health?.checkedAt != nil } }

    /// Fetches `GET /sites` with the caller's token.
    public static func fetch(
        service: String, token: BearerToken, certificateAuthority: [UInt8]?
    ) async throws(ServiceClientError) -> [UInt8] {
        let call = ServiceCall(service: service, token: token, certificateAuthority: certificateAuthority, timeout: .seconds(30))
        let answer = try await call.send(.GET, "/sites", accept: "application/json")
        guard answer.status == 200 else {
            throw ServiceClientError(
                description: "the service refused the list of sites: \(answer.status), \(ServiceCall.refusal(answer.body))")
        }
        return answer.body
    }

    static let columns = ["NAME", "CREDENTIAL", "TOKEN EXPIRES", "BOOTSTRAP EXPIRES", "HEALTH", "SERVER"]

    /// The table, columns aligned, times relative to `now` ("in 47m", "expired 2h ago").
    public func table(now: Date) -> String {
        let rows = [Self.columns] + sites.map { row($0, now: now) }
        let widths = Self.columns.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.indices.map { column in
                column == row.count - 1 ? row[column] : row[column].padding(toLength: widths[column] + 3)
            }.joined()
        }.joined(separator: "\n") + "\n"
    }

    private func row(_ site: Site, now: Date) -> [String] {
        [
            site.name.printable, Self.credential(site), Self.relative(site.tokenExpiresAt, now: now),
            Self.bootstrap(site, now: now), Self.health(site), site.server?.printable ?? "-",
        ]
    }

    /// `managed` (issued and renewed here, with the renewal's error if any), or what was pasted.
    static func credential(_ site: Site) -> String {
        switch (site.tokenManagement, site.credential) {
        case ("managed", _): site.renewalError.map { "managed (\($0.code.printable))" } ?? "managed"
        case (_, "token"?): "static token"
        case (_, let kind?): kind.printable
        case (_, nil): "-"
        }
    }

    /// When the bootstrap credential expires; `(static)` when the service cannot renew it, the
    /// renewal's error code when renewing failed.
    static func bootstrap(_ site: Site, now: Date) -> String {
        let expiry = relative(site.bootstrapExpiresAt, now: now)
        if let error = site.bootstrapRenewalError { return "\(expiry) (\(error.code.printable))" }
        return site.bootstrapManagement == "static" ? "\(expiry) (static)" : expiry
    }

    /// `up`; `down (CODE)` when the server did not answer; `unauthenticated (CODE)` when it
    /// answered but refused the credential; `unchecked` before the first probe.
    static func health(_ site: Site) -> String {
        guard let health = site.health, health.checkedAt != nil, let reachable = health.reachable else {
            return "unchecked"
        }
        let code = health.error.map { " (\($0.code.printable))" } ?? ""
        if !reachable { return "down" + code }
        return health.authenticated == false ? "unauthenticated" + code : "up"
    }

    /// An RFC 3339 time as kubectl shows ages: the largest unit, `in 47m` or `expired 2h ago`.
    static func relative(_ time: String?, now: Date) -> String {
        guard let time else { return "-" }
        guard let date = try? Date(time, strategy: .iso8601) else { return time.printable }
        let seconds = Int(date.timeIntervalSince(now).rounded())
        let magnitude = abs(seconds)
        let amount =
            switch magnitude {
            case ..<120: "\(magnitude)s"
            case ..<(120 * 60): "\(magnitude / 60)m"
            case ..<(48 * 3600): "\(magnitude / 3600)h"
            default: "\(magnitude / 86400)d"
            }
        return seconds >= 0 ? "in \(amount)" : "expired \(amount) ago"
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
