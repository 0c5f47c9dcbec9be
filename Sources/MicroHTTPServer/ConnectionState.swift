import Synchronization

/// What the server tracks of one connection, from microhttpd's notice that it started to the
/// one that it closed.
final class ConnectionState: Sendable {
    private let awaitingRequest = Atomic<Bool>(true)

    /// Takes the connection out of `HTTPServer.connectionsAwaitingRequest`, once: at its first
    /// request, or when it closes without one.
    func stopAwaitingRequest(in server: HTTPServer) {
        if awaitingRequest.exchange(false, ordering: .relaxed) {
            server.connectionsAwaitingRequest.subtract(1, ordering: .releasing)
        }
    }
}
