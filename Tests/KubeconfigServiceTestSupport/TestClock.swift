import Foundation
import Synchronization

/// A wall clock a test moves forward by hand, shared by the code under test and its fakes.
public final class TestClock: Sendable {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    public var now: Date { current.withLock { $0 } }

    /// The clock as the closure `now:` parameters take.
    public var reading: @Sendable () -> Date { { self.now } }

    public func advance(_ seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}
