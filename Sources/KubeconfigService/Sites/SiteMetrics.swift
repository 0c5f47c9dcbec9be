import CoreMetrics
import FoundationEssentials
import KubeconfigBase
import Synchronization

/// The per-site series: made on a site's first probe, destroyed once it leaves the document.
final class SiteMetrics: Sendable {
    private struct Key: Hashable {
        var label: String
        var site: String
        var certificate: String?
    }

    private let gauges = Mutex<[Key: Gauge]>([:])
    private let timers = Mutex<[String: CoreMetrics.Timer]>([:])

    func record(site: String, health: SiteHealth, latency: Duration, summary: SiteSummary) {
        let timer = timers.withLock { timers in
            if let timer = timers[site] { return timer }
            let timer = CoreMetrics.Timer(label: "kubeconfig_site_probe_duration_seconds", dimensions: [("site", site)])
            timers[site] = timer
            return timer
        }
        timer.recordNanoseconds(latency.nanoseconds)
        let values: [Key: Double?] = [
            Key(label: "kubeconfig_site_up", site: site): health.isUp ? 1 : 0,
            Key(label: "kubeconfig_site_token_expiry_timestamp_seconds", site: site):
                summary.tokenExpiresAt?.timeIntervalSince1970,
            Key(label: "kubeconfig_site_certificate_expiry_timestamp_seconds", site: site, certificate: "ca"):
                summary.certificateAuthorityExpiresAt?.timeIntervalSince1970,
            Key(label: "kubeconfig_site_certificate_expiry_timestamp_seconds", site: site, certificate: "client"):
                summary.clientCertificateExpiresAt?.timeIntervalSince1970,
        ]
        gauges.withLock { gauges in
            for (key, value) in values {
                if let value {
                    let gauge = gauges[key] ?? Self.gauge(key)
                    gauges[key] = gauge
                    gauge.record(value)
                } else if let gauge = gauges.removeValue(forKey: key) {
                    gauge.destroy()
                }
            }
        }
    }

    func retain(sites: Set<String>) {
        gauges.withLock { gauges in
            for (key, gauge) in gauges where !sites.contains(key.site) {
                gauge.destroy()
                gauges[key] = nil
            }
        }
        timers.withLock { timers in
            for (site, timer) in timers where !sites.contains(site) {
                timer.destroy()
                timers[site] = nil
            }
        }
    }

    private static func gauge(_ key: Key) -> Gauge {
        var dimensions = [("site", key.site)]
        if let certificate = key.certificate { dimensions.append(("certificate", certificate)) }
        return Gauge(label: key.label, dimensions: dimensions)
    }
}
