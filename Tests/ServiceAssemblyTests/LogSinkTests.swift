import Foundation
import ServiceAssembly
import Synchronization
import Testing

/// The log writer's thread: every line out, in order, whole; loggers held back, not lines
/// dropped, while it is behind; `flush()` waiting for what is being written. (Writing and
/// flushing block: they run through `blocking`.)
@Suite struct LogSinkTests {
    @Test func everyLineIsWrittenOnceInTheOrderItWasQueued() async throws {
        let recorded = RecordedLines()
        let expected = (0..<20_000).map { "line \($0) " + String(repeating: "x", count: $0 % 97) }
        try await blocking {
            for line in expected { recorded.sink.write(line + "\n") }
            recorded.sink.flush()
        }
        #expect(recorded.lines == expected)
    }

    @Test func linesFromManyThreadsArriveWholeAndInEachThreadsOrder() async throws {
        let recorded = RecordedLines(limit: 4096, delay: .microseconds(200))
        try await blocking {
            DispatchQueue.concurrentPerform(iterations: 8) { thread in
                for index in 0..<2_000 { recorded.sink.write("\(thread) \(index)\n") }
            }
            recorded.sink.flush()
        }
        let lines = recorded.lines
        #expect(lines.count == 16_000)
        for thread in 0..<8 {
            let indices = lines.filter { $0.hasPrefix("\(thread) ") }.map { Int($0.split(separator: " ")[1]) }
            #expect(indices == (0..<2_000).map { $0 }, "thread \(thread)")
        }
    }

    @Test func aSlowWriterHoldsLoggersBackAtTheLimitRatherThanGrowingTheBuffer() async throws {
        // A line is queued only while fewer than `limit` bytes wait: no batch can exceed the
        // limit by more than one line, however far behind the writer is.
        let recorded = RecordedLines(limit: 256, delay: .milliseconds(2))
        let line = String(repeating: "y", count: 31) + "\n"
        try await blocking {
            for _ in 0..<400 { recorded.sink.write(line) }
            recorded.sink.flush()
        }
        #expect(recorded.batches.map(\.count).reduce(0, +) == 400 * 32)
        #expect(recorded.batches.allSatisfy { $0.count <= 256 + 32 }, "\(recorded.batches.map(\.count).max() ?? 0)")
    }

    @Test func flushReturnsOnlyOnceTheLinesQueuedBeforeAreWritten() async throws {
        // The writer takes 50 ms per batch, and each flush starts once the writer has taken the
        // line: the queue is empty then, and a flush that only waited for it to empty would
        // return while the line is still being written.
        let recorded = RecordedLines(delay: .milliseconds(50))
        for round in 0..<5 {
            let last = try await blocking {
                recorded.sink.write("round \(round)\n")
                while recorded.begun <= round { usleep(1_000) }
                recorded.sink.flush()
                return recorded.lines.last
            }
            #expect(last == "round \(round)")
        }
    }

    @Test func flushReturnsThoughOtherThreadsKeepLogging() async throws {
        // Another thread logs without pause; the writer takes 2 ms a batch, so the queue is never
        // empty for long. A flush waits for what was queued before it, not for an empty queue.
        let recorded = RecordedLines(delay: .milliseconds(2))
        let stop = Atomic<Bool>(false)
        let logging = Thread {
            while !stop.load(ordering: .relaxed) { recorded.sink.write("busy\n") }
        }
        logging.start()
        defer { stop.store(true, ordering: .relaxed) }
        let returned = try await blocking {
            recorded.sink.write("mine\n")
            let started = Date()
            recorded.sink.flush()
            return (Date().timeIntervalSince(started), recorded.lines.contains("mine"))
        }
        #expect(returned.1, "flush returned before the line queued before it was written")
        #expect(returned.0 < 5, "flush waited \(returned.0) s")
    }
}
