#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Log lines, written to their destination (standard error) by a thread of their own.
///
/// Every `GET /kubeconfig` logs an audit line; written from the request's thread, each line cost
/// a `write(2)` and contention on the stream's lock on the request path. Here a request only
/// appends to a buffer and, when the writer is idle, wakes it; what arrives while the writer is
/// writing goes out with its next call, so a burst costs a few writes, not one a line. Lines keep
/// their order. The writer lets a burst gather for `gatherMicroseconds` after its first line, so
/// that many requests' lines go out in one write and one wake-up: a line reaches the log at most
/// that much later. When the buffer holds `limit` bytes (standard error blocked: a full pipe
/// nobody reads), loggers wait for it, as a blocking write would have made them wait, rather than
/// drop lines. `flush()` returns once everything logged before it is written (lines logged
/// meanwhile by other threads do not hold it back): the commands call it before they exit and
/// before writing to standard error themselves.
// @unchecked: `pending`, `writerStarted`, `writerWaiting`, `waitingForWritten`,
// `queuedBytes` and `writtenBytes` are only touched with `mutex` held; the rest is immutable
// after init.
public final class LogSink: @unchecked Sendable {
    /// The process's standard error.
    public static let standardError = LogSink { StandardStream.error.write($0) }

    /// Bytes held before loggers wait for the writer.
    public let limit: Int

    /// Writes a batch of whole lines, on the writer's thread.
    private let destination: @Sendable ([UInt8]) -> Void
    // pthread primitives need stable addresses: allocated once, never freed (a sink, and its
    // writer thread, live as long as the process).
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let arrived = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let written = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by `mutex`.
    private var pending: [UInt8] = []
    private var writerStarted = false
    /// The writer sleeps on `arrived`: a line must wake it. Otherwise it is busy or about to
    /// look, and a signal would only cost a system call.
    private var writerWaiting = false
    /// Callers sleeping on `written` (a full buffer, a flush): only then is it broadcast.
    private var waitingForWritten = 0
    /// Bytes ever queued, and ever written: a flush waits for what was queued before it.
    private var queuedBytes: UInt64 = 0
    private var writtenBytes: UInt64 = 0

    /// How long the writer waits after the first line of a batch: at most this much later in
    /// the log, for far fewer system calls under load.
    static let gatherMicroseconds: UInt32 = 500

    /// - Parameters:
    ///   - limit: bytes held before loggers wait for the writer.
    ///   - destination: writes a batch of whole lines; called on the sink's own thread, one call
    ///     at a time.

    public init(limit: Int = 1 << 20, destination: @escaping @Sendable ([UInt8]) -> Void) {
        self.limit = limit
        self.destination = destination
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(arrived, nil)
        pthread_cond_init(written, nil)
    }

    /// Queues one line (with its newline) for writing.
    public func write(_ line: String) {
        write(line.utf8)
    }

    /// Queues `line`'s bytes, as `write(_:)` does a string's.
    public func write(_ line: some Collection<UInt8>) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        startWriterIfNeeded()
        while pending.count >= limit { waitForWritten() }
        let before = pending.count
        pending.append(contentsOf: line)
        queuedBytes &+= UInt64(pending.count - before)
        if writerWaiting {
            writerWaiting = false
            pthread_cond_signal(arrived)
        }
    }

    /// Waits until every line queued before is written.
    public func flush() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let target = queuedBytes
        while writtenBytes < target { waitForWritten() }
    }

    /// Sleeps until the writer wrote a batch. Called with `mutex` held.
    private func waitForWritten() {
        waitingForWritten += 1
        pthread_cond_wait(written, mutex)
        waitingForWritten -= 1
    }

    private func startWriterIfNeeded() {
        guard !writerStarted else { return }
        writerStarted = true
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(
            &thread, nil,
            { context in
                Unmanaged<LogSink>.fromOpaque(context!).takeRetainedValue().run()
            }, context)
        precondition(result == 0, "could not start the log writer thread: error \(result)")
        pthread_detach(thread)
    }

    private func run() -> Never {
        var batch: [UInt8] = []
        while true {
            pthread_mutex_lock(mutex)
            while pending.isEmpty {
                writerWaiting = true
                pthread_cond_wait(arrived, mutex)
            }
            writerWaiting = false
            // Let a burst gather: one write and one wake-up for the lines of many requests
            // (an audit line each) rather than a system call and a wake-up per line.
            pthread_mutex_unlock(mutex)
            if Self.gatherMicroseconds > 0 { usleep(Self.gatherMicroseconds) }
            pthread_mutex_lock(mutex)
            swap(&batch, &pending)
            pthread_mutex_unlock(mutex)

            destination(batch)
            let count = UInt64(batch.count)
            batch.removeAll(keepingCapacity: batch.capacity <= limit)

            pthread_mutex_lock(mutex)
            writtenBytes &+= count
            if waitingForWritten > 0 { pthread_cond_broadcast(written) }
            pthread_mutex_unlock(mutex)
        }
    }
}
