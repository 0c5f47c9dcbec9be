import CoreMetrics
import KubeconfigBase
import Logging

/// Repairs, one publication each, slowed down when they keep being undone; and the watch's metrics.
extension DocumentWatcher {
    /// Runs a publication whenever the watch asks for one, until cancelled.
    func repairLoop() async {
        var recent: [ContinuousClock.Instant] = []
        let clock = ContinuousClock()
        while !Task.isCancelled {
            await repairs.wait(for: .seconds(3600))
            guard !Task.isCancelled else { return }
            recent.removeAll { clock.now - $0 > configuration.repairWindow }
            let excess = recent.count - configuration.repairBurst
            if excess >= 0 {
                let wait = min(configuration.initialBackoff * (1 << min(excess, 10)), configuration.maxBackoff)
                if excess == 0 {
                    logger.warning(
                        "our entries keep being changed by another writer; slowing repairs down",
                        metadata: [
                            "origin": "\(store.origin)", "repairs": "\(recent.count)",
                            "window_s": "\(Int(configuration.repairWindow.seconds))",
                        ])
                }
                try? await Task.sleep(for: wait)
            }
            do {
                let result = try await publisher.publish()
                if result.changed {
                    recent.append(clock.now)
                    metrics.repairs.increment()
                }
            } catch {
                // The publication logged it and /status shows it; the next change or pass retries.
            }
        }
    }

    /// Metric handles, made once.
    struct Metrics: Sendable {
        enum Restart: String { case ended, expired, forbidden, error }
        enum Event: String { case stored, deleted, bookmark }

        private let restartCounters = Dictionary(
            uniqueKeysWithValues: [Restart.ended, .expired, .forbidden, .error].map {
                ($0.rawValue, Counter(label: "kubeconfig_watch_restarts_total", dimensions: [("reason", $0.rawValue)]))
            })
        private let eventCounters = Dictionary(
            uniqueKeysWithValues: [Event.stored, .deleted, .bookmark].map {
                ($0.rawValue, Counter(label: "kubeconfig_watch_events_total", dimensions: [("type", $0.rawValue)]))
            })
        let repairs = Counter(label: "kubeconfig_watch_repairs_total")

        func restarts(_ reason: Restart) -> Counter { restartCounters[reason.rawValue]! }
        func events(_ type: Event) -> Counter { eventCounters[type.rawValue]! }
    }
}
