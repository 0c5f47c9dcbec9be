import FoundationEssentials
import KubeconfigBase
import KubernetesAPI

/// A site's last probe, as `GET /sites` shows it.
public struct SiteHealth: Sendable, Equatable, Encodable {
    public var reachable: Bool
    public var authenticated: Bool?
    public var user: String?
    public var latencyMs: Int
    public var checkedAt: Date
    public var error: ReportedError?

    init(_ report: ProbeReport, checkedAt: Date) {
        reachable = report.reachable
        authenticated = report.authenticated
        user = report.user
        latencyMs = Int(report.latency.wholeMilliseconds)
        self.checkedAt = checkedAt
        error = report.error.map(ReportedError.init)
    }

    /// What `kubeconfig_site_up` says: reachable, and the credential not rejected.
    var isUp: Bool { reachable && authenticated != false }

    /// Why the site is not up, in a sentence: the probe's error, else the rejection.
    var problem: String {
        if let error { return "\(error.code): \(error.message)" }
        return reachable ? "the site rejected its credential" : "the site could not be reached"
    }

    enum CodingKeys: String, CodingKey {
        case reachable, authenticated, user, latencyMs, checkedAt, error
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(reachable, forKey: .reachable)
        // `authenticated: null` says "not known", which an absent key would not.
        try container.encode(authenticated, forKey: .authenticated)
        try container.encodeIfPresent(user, forKey: .user)
        try container.encode(latencyMs, forKey: .latencyMs)
        try container.encode(checkedAt, forKey: .checkedAt)
        try container.encodeIfPresent(error, forKey: .error)
    }
}
