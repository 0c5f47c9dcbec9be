import Foundation
import KubernetesAPI

extension SitePublisher {
    /// What `serve` does in the background until cancelled.
    ///
    /// Publishes at once and keeps retrying with backoff (capped at `maxRetryWait`) until that
    /// succeeds, since the ConfigMap may not exist yet. Then, every `refreshInterval`, publishes
    /// again: the token and CA are re-read, so a rotation reaches the ConfigMap, and entries
    /// someone removed or altered come back. A pass that finds nothing to change writes nothing.
    public func runSchedule(refreshInterval: Duration?, maxRetryWait: Duration = .seconds(10)) async {
        var failures = 0
        let retry = RetryPolicy(budget: .seconds(3600), initialBackoff: .milliseconds(500), maxBackoff: maxRetryWait)
        while !Task.isCancelled {
            let wait: Duration
            do {
                _ = try await publish()
                failures = 0
                guard let refreshInterval, refreshInterval > .zero else {
                    state.scheduled(nextRefresh: nil)
                    return
                }
                wait = refreshInterval
            } catch {
                failures += 1
                // Before the first success, retry fast; after it, the document is in place and
                // the next regular pass is soon enough, unless that is longer than the cap.
                let backoff = retry.backoff(attempt: failures, jitter: .random(in: 0...1))
                wait = min(backoff, refreshInterval.flatMap { $0 > .zero ? $0 : nil } ?? backoff)
            }
            let seconds = Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18
            state.scheduled(nextRefresh: Date().addingTimeInterval(seconds))
            do { try await Task.sleep(for: wait) } catch { return }
        }
    }
}
