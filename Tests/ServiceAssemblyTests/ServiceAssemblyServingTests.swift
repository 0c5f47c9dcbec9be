import Foundation
import KubeconfigServiceTestSupport
import Logging
import MicroHTTPServer
import ServiceAssembly
import Testing

/// `listen()` and `serve(on:)` over a loopback socket: the `listening` line, why a start fails,
/// and the shutdown once the service group ends.
@Suite struct ServiceAssemblyServingTests {
    let base = ServiceAssemblyTests()

    func loopback(_ change: (inout ServeConfiguration) -> Void = { _ in }) -> ServeConfiguration {
        base.configuration {
            $0.server.address = "127.0.0.1"
            $0.server.port = 0
            $0.server.threadCount = 1
            $0.watch = false
            $0.siteProbeInterval = nil
            $0.refreshInterval = nil
            change(&$0)
        }
    }

    func listening() throws -> [String: String] {
        base.recorded.sink.flush()
        let line = try #require(base.recorded.lines.first { $0.contains(#""msg":"listening""#) })
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
    }

    @Test func listeningLogsWhereAndWhatItServes() async throws {
        let assembly = base.assemble(loopback { $0.publisher.key = "config" })
        let server = try assembly.listen()
        let port = server.port
        await server.stop()
        let fields = try listening()
        #expect(port != 0)
        #expect(fields["address"] == "127.0.0.1" && fields["port"] == "\(port)")
        #expect(fields["tls"] == "false" && fields["auth"] == "kubernetes")
        #expect(fields["object"] == "configmap onap/multisite-kubeconfig-configmap" && fields["key"] == "config")
        #expect(server.configuration.maxBodyBytes == 64 * 1024)
    }

    @Test func unreadableTLSFilesAndATakenPortAreStartErrorsOfTheirOwn() async throws {
        let missing = TLSFiles(certificate: "/nonexistent/tls.crt", key: "/nonexistent/tls.key")
        #expect {
            try base.assemble(loopback { $0.tls = missing }).listen()
        } throws: { error in
            let error = error as? ServiceAssembly.StartError
            return error?.code == .tlsFilesUnreadable
                && error?.message == "cannot read --tls-cert-file /nonexistent/tls.crt or --tls-key-file /nonexistent/tls.key"
        }
        let first = try base.assemble(loopback()).listen()
        #expect {
            try base.assemble(loopback { $0.server.port = first.port }).listen()
        } throws: { error in
            (error as? ServiceAssembly.StartError)?.code == .cannotListen
        }
        await first.stop()
    }

    @Test func servingEndsWhenCancelledAndThenClosesTheConnections() async throws {
        let assembly = base.assemble(loopback())
        let server = try assembly.listen()
        let serving = Task { try await assembly.serve(on: server, shutdownSignals: []) }
        #expect(await eventually { base.recorded.lines.contains { $0.contains(#""msg":"publication failed""#) } })
        serving.cancel()
        try await serving.value
        #expect(base.shutdowns.count.withLock { $0 } == 1)
        let messages = try base.messages()
        #expect(messages.last == "stopped" && messages.contains("stopping"), "\(messages)")
    }
}
