import FoundationEssentials
import KubeconfigBase

extension SitePublisher {
    /// What `serve` does in the background until cancelled.
    ///
    /// Publishes at once and keeps retrying with backoff (capped at `maxRetryWait`) until that
    /// succeeds, since the object may not exist yet. Then, every `refreshInterval`, publishes
    /// again: the token and CA are re-read, so a rotation reaches the document, and entries
    /// someone removed or altered come back. A pass that finds nothing to change writes nothing.
    /// An issued token is renewed at its renewal point, whatever the interval (even with none),
    /// and a failed renewal is retried with backoff while the stored token stays in place.
    public func runSchedule(refreshInterval: Duration?, maxRetryWait: Duration = .seconds(10)) async {
        var failures = 0
        let backoff = Backoff(initial: .milliseconds(500), maximum: maxRetryWait)
        let interval = refreshInterval.flatMap { $0 > .zero ? $0 : nil }
        while !Task.isCancelled {
            let wait: Duration?
            do {
                let result = try await publish()
                if result.renewalError != nil {
                    failures += 1
                    wait = backoff.wait(afterFailures: failures, jitter: .random(in: 0...1))
                } else {
                    failures = 0
                    wait = Self.nextPass(after: interval, renewsAt: result.tokenRenewsAt, now: Date())
                }
            } catch {
                failures += 1
                // Before the first success, retry fast; after it, the document is in place and
                // the next regular pass is soon enough, unless that is longer than the cap.
                let retry = backoff.wait(afterFailures: failures, jitter: .random(in: 0...1))
                wait = min(retry, interval ?? retry)
            }
            guard let wait else {
                state.scheduled(nextRefresh: nil)
                return
            }
            state.scheduled(nextRefresh: Date().addingTimeInterval(wait.seconds))
            do { try await Task.sleep(for: wait) } catch { return }
        }
    }

    /// The wait before the next pass: the refresh interval, or less when a token renewal falls
    /// due sooner; nil when neither asks for another pass.
    static func nextPass(after interval: Duration?, renewsAt: Date?, now: Date) -> Duration? {
        guard let renewsAt else { return interval }
        // Not before the renewal point: waking early would find nothing due and sleep again.
        let untilRenewal = Duration.milliseconds(max(Int64((renewsAt.timeIntervalSince(now) * 1000).rounded(.up)), 100))
        return min(interval ?? untilRenewal, untilRenewal)
    }
}
