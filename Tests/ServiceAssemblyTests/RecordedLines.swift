import ServiceAssembly
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A `LogSink` whose writer records each batch it is given; with a `delay`, each write takes
/// that long (a slow standard error) and the batch counts as written only after it.
final class RecordedLines: Sendable {
    private final class Batches: Sendable {
        let batches = Mutex<[[UInt8]]>([])
        /// Batches handed to the writer, written or not yet.
        let begun = Mutex(0)
    }

    private let recorded: Batches
    let sink: LogSink

    init(limit: Int = 1 << 20, delay: Duration = .zero) {
        let recorded = Batches()
        self.recorded = recorded
        let microseconds = UInt32(delay.components.seconds * 1_000_000 + delay.components.attoseconds / 1_000_000_000_000)
        sink = LogSink(limit: limit) { batch in
            recorded.begun.withLock { $0 += 1 }
            if microseconds > 0 { usleep(microseconds) }
            recorded.batches.withLock { $0.append(batch) }
        }
    }

    /// How many batches the writer has begun to write.
    var begun: Int { recorded.begun.withLock { $0 } }

    /// Every batch written so far, in order.
    var batches: [[UInt8]] { recorded.batches.withLock { $0 } }

    /// Everything written so far, as text.
    var text: String { String(decoding: batches.joined(), as: UTF8.self) }

    /// The lines written so far, without their newlines.
    var lines: [String] { text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
}
