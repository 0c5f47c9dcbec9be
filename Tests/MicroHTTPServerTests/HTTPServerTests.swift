import Foundation
import HTTPMessages
import HTTPTypes
import Logging
import Testing

@testable import MicroHTTPServer

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP layer over real loopback sockets, with a responder that echoes what it was given.
@Suite(.serialized) struct HTTPServerTests {
    struct Echo: HTTPResponder {
        func respond(to request: HTTPServerRequest) -> HTTPServerResult {
            let query = request.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
            let summary =
                "\(request.method) \(request.path) ?\(query) body=\(request.body.count) tooLarge=\(request.bodyTooLarge)"
            let response = HTTPServerResponse(
                status: request.bodyTooLarge ? .contentTooLarge : .ok, headerFields: [HTTPField.Name("X-Test")!: "1"],
                body: Array(summary.utf8))
            if request.path == "/slow" {
                return .deferred {
                    try? await Task.sleep(for: .milliseconds(200))
                    return response
                }
            }
            return .response(response)
        }
    }

    func withServer(
        address: String = "127.0.0.1", _ body: (HTTPServer) async throws -> Void
    ) async throws {
        var configuration = HTTPServerConfiguration()
        configuration.address = address
        configuration.port = 0
        configuration.maxBodyBytes = 1024
        let server = HTTPServer(configuration: configuration, responder: Echo(), logger: Logger(label: "test"))
        try server.start()
        #expect(server.port != 0)
        do {
            try await body(server)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test func answersWithStatusHeadersAndBody() async throws {
        try await withServer { server in
            let answer = try RawClient.exchange(port: server.port, "GET /a%20b?x=1&y=%2F HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            #expect(answer.contains("X-Test: 1"))
            #expect(answer.hasSuffix("GET /a b ?x=1&y=/ body=0 tooLarge=false"))
        }
    }

    @Test func headGetsHeadersWithoutBody() async throws {
        try await withServer { server in
            let answer = try RawClient.exchange(port: server.port, "HEAD /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            #expect(answer.hasSuffix("\r\n\r\n"))
        }
    }

    @Test func bodiesAreCollectedAndOversizeIsFlagged() async throws {
        try await withServer { server in
            let small = String(repeating: "a", count: 1000)
            let answer = try RawClient.exchange(
                port: server.port, "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n\(small)")
            #expect(answer.hasSuffix("body=1000 tooLarge=false"))
            let large = String(repeating: "a", count: 2000)
            let chunked = try RawClient.exchange(
                port: server.port,
                "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n\(large)\r\n0\r\n\r\n")
            #expect(chunked.hasPrefix("HTTP/1.1 413"))
            #expect(chunked.hasSuffix("body=0 tooLarge=true"))
        }
    }

    @Test func aDeclaredOversizeBodyIsRefusedBeforeItIsSent() async throws {
        try await withServer { server in
            let answer = try RawClient.exchange(
                port: server.port, "POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 999999999\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 413"))
        }
    }

    @Test func deferredAnswersArriveAfterTheConnectionIsResumed() async throws {
        try await withServer { server in
            let answer = try RawClient.exchange(port: server.port, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 200"))
            #expect(answer.hasSuffix("GET /slow ? body=0 tooLarge=false"))
        }
    }

    /// A running server on a free loopback port; the test stops it.
    func startedServer() throws -> HTTPServer {
        var configuration = HTTPServerConfiguration()
        configuration.port = 0
        configuration.address = "127.0.0.1"
        let server = HTTPServer(configuration: configuration, responder: Echo(), logger: Logger(label: "test"))
        try server.start()
        return server
    }

    @Test func stopLetsADeferredAnswerFinish() async throws {
        let server = try startedServer()
        let port = server.port
        let pending = Task.detached { try RawClient.exchange(port: port, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n") }
        try await Task.sleep(for: .milliseconds(50))
        await server.stop()
        let answer = try await pending.value
        #expect(answer.hasPrefix("HTTP/1.1 200"))
        #expect(throws: (any Error).self) { try RawClient.exchange(port: port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n") }
    }

    @Test func aHandOverLetsAConnectionTheOldServerAcceptedSendItsRequest() async throws {
        let server = try startedServer()
        let port = server.port
        // A client the old server accepted that is slow to send its request (a TLS handshake on a
        // loaded machine): the old server answers it before it stops, rather than closing it.
        let slow = Task.detached {
            try RawClient.exchange(port: port, ["GET /late HTTP/1.1\r\n", "Host: t\r\n\r\n"], pausing: .milliseconds(1500))
        }
        let patience = ContinuousClock.now + .seconds(5)
        while server.connectionsAwaitingRequest.load(ordering: .acquiring) == 0, ContinuousClock.now < patience {
            try? await Task.sleep(for: .milliseconds(5))
        }
        #expect(server.connectionsAwaitingRequest.load(ordering: .acquiring) == 1, "the old server accepted the connection")
        let handOver = try await server.handOver(to: server.configuration)
        let answer: String
        do { answer = try await slow.value } catch { answer = "\(error)" }
        let next = try? RawClient.exchange(port: port, "GET /next HTTP/1.1\r\nHost: t\r\n\r\n")
        await handOver.successor.stop()
        #expect(handOver.refused == nil)
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        #expect(next?.hasPrefix("HTTP/1.1 200") == true)
    }

    @Test func servesIPv6Loopback() async throws {
        try await withServer(address: "::1") { server in
            let answer = try RawClient.exchange(port: server.port, family: AF_INET6, "GET /six HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func aHostNameIsNotAnAddress() {
        var configuration = HTTPServerConfiguration()
        configuration.address = "localhost"
        let server = HTTPServer(configuration: configuration, responder: Echo(), logger: Logger(label: "test"))
        #expect(throws: HTTPServerError.self) { try server.start() }
    }
}

/// A blocking HTTP/1.1 client on a raw socket: sends bytes, reads one response.
enum RawClient {
    struct Failure: Error { let what: String }

    static func exchange(port: UInt16, family: Int32 = AF_INET, _ request: String) throws -> String {
        try exchange(port: port, family: family, [request], pausing: .zero)
    }

    /// Sends the request in `parts`, `pause` apart, then reads one response.
    static func exchange(
        port: UInt16, family: Int32 = AF_INET, _ parts: [String], pausing pause: Duration
    ) throws
        -> String
    {
        let request = parts.joined()
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(what: "socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected: Int32
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_loopback
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard connected == 0 else { throw Failure(what: "connect") }
        for (index, part) in parts.enumerated() {
            if index > 0 { usleep(useconds_t(pause / .microseconds(1))) }
            let bytes = Array(part.utf8)
            guard send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw Failure(what: "send") }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[0..<count]
            if let text = complete(received, expectBody: !request.hasPrefix("HEAD ")) { return text }
        }
        guard let text = complete(received, expectBody: !request.hasPrefix("HEAD ")) else {
            throw Failure(what: "incomplete response")
        }
        return text
    }

    /// The response once its head and `Content-Length` bytes of body are in; nil before.
    static func complete(_ bytes: [UInt8], expectBody: Bool) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        let head = text[..<headEnd.lowerBound].lowercased()
        if !expectBody { return text }
        let length =
            head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        let body = text[headEnd.upperBound...]
        return body.utf8.count >= length ? text : nil
    }
}
