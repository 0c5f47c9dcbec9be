import HTTPMessages
import Synchronization

/// State of one request across microhttpd's callbacks.
///
/// `@unchecked Sendable`: `headers`, `body`, `bodyTooLarge`, `defect` and `dispatched` are touched only from the
/// callbacks of this request's connection, which microhttpd runs one at a time on one thread;
/// the answer, which a Task sets on another thread, sits behind a Mutex.
final class RequestContext: @unchecked Sendable {
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var bodyTooLarge = false
    /// Bytes of an oversized body read and thrown away.
    var drained = 0
    var defect: String?
    var dispatched = false
    private let response = Mutex<HTTPServerResponse?>(nil)

    func setResponse(_ value: HTTPServerResponse) {
        response.withLock { $0 = value }
    }

    func takeResponse() -> HTTPServerResponse? {
        response.withLock { value in
            defer { value = nil }
            return value
        }
    }
}
