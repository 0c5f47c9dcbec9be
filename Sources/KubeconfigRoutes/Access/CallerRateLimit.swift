import KubeconfigBase
import Synchronization

/// At most `perMinute` requests per caller and site (a token bucket each, refilled evenly over
/// the minute): what keeps one caller from having a site mint tokens in a loop.
final class CallerRateLimit: Sendable {
    struct Key: Hashable {
        var caller: String
        var site: String
    }

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let perMinute: Int
    private let buckets = Mutex<[Key: Bucket]>([:])
    /// Buckets kept at most; full buckets are dropped first (they hold nothing a new one would not).
    private let maxBuckets = 4096

    init(perMinute: Int) {
        self.perMinute = max(1, perMinute)
    }

    /// Takes one request from `key`'s bucket: nil when allowed, else the whole seconds until one
    /// is (for `Retry-After`).
    func take(_ key: Key, now: ContinuousClock.Instant = .now) -> Int? {
        let capacity = Double(perMinute)
        let perSecond = capacity / 60
        return buckets.withLock { buckets in
            if buckets.count >= maxBuckets, buckets[key] == nil {
                buckets = buckets.filter { refill($0.value, now, perSecond, capacity).tokens < capacity }
                if buckets.count >= maxBuckets { buckets.removeAll(keepingCapacity: true) }
            }
            var bucket = refill(buckets[key] ?? Bucket(tokens: capacity, updated: now), now, perSecond, capacity)
            guard bucket.tokens >= 1 else {
                buckets[key] = bucket
                return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up)))
            }
            bucket.tokens -= 1
            buckets[key] = bucket
            return nil
        }
    }

    private func refill(_ bucket: Bucket, _ now: ContinuousClock.Instant, _ perSecond: Double, _ capacity: Double) -> Bucket {
        let elapsed = max(0, (now - bucket.updated).seconds)
        return Bucket(tokens: min(capacity, bucket.tokens + elapsed * perSecond), updated: max(now, bucket.updated))
    }
}
