import Foundation
import HTTPMessages
import KubeconfigServiceTestSupport
import Logging
import MicroHTTPServer
import ServiceAssembly
import Testing

/// The certificate reload over a real loopback socket: what each check did, which certificate
/// is served after it, and what is logged while the files are renewed, broken or missing.
@Suite struct CertificateReloaderTests {
    struct Hello: HTTPResponder {
        func respond(to request: HTTPServerRequest) -> HTTPServerResult {
            .response(HTTPServerResponse(status: .ok, body: Array("hello\n".utf8)))
        }
    }

    /// Runs `body` with a reloader of an HTTPS server on 127.0.0.1 that serves the identity
    /// `tls.files` holds now, and the port it listens on; stops the server however `body` ends.
    func withReloader(
        _ tls: TLSTestFiles, logger: Logger = Logger(label: "test"),
        _ body: (CertificateReloader, UInt16) async throws -> Void
    ) async throws {
        var configuration = HTTPServerConfiguration()
        configuration.address = "127.0.0.1"
        configuration.port = 0
        configuration.threadCount = 1
        configuration.tls = try tls.files.read()
        let server = HTTPServer(configuration: configuration, responder: Hello(), logger: Logger(label: "test"))
        try server.start()
        // The port stays across hand-overs; the first server's own `port` reads 0 once it stopped.
        let port = server.port
        let reloader = CertificateReloader(server: server, files: tls.files, logger: logger)
        do {
            try await body(reloader, port)
        } catch {
            await reloader.stop()
            throw error
        }
        await reloader.stop()
    }

    @Test func eachCheckSaysWhetherTheFilesChangedAndARenewedPairIsServed() async throws {
        let tls = try TLSTestFiles()
        defer { try? tls.remove() }
        let alpha = try await tls.makePair(commonName: "alpha")
        let beta = try await tls.makePair(commonName: "beta")
        try tls.install(alpha)
        try await withReloader(tls) { reloader, port in
            #expect(try await reloader.reloadIfChanged() == .unchanged)
            #expect(try await TLSTestFiles.servedSubject(port: port).contains("alpha"))

            try tls.install(beta)
            #expect(try await reloader.reloadIfChanged() == .reloaded)
            #expect(try await TLSTestFiles.servedSubject(port: port).contains("beta"))
            #expect(try await reloader.reloadIfChanged() == .unchanged)

            // A certificate with another's key cannot be served: the previous pair stays.
            try tls.install(certificate: alpha.certificate, key: beta.key)
            let refused = try await reloader.reloadIfChanged()
            #expect(refused != .reloaded && refused != .unchanged, "a mismatched pair was \(refused)")
            #expect(try await TLSTestFiles.servedSubject(port: port).contains("beta"))
            #expect(try await reloader.reloadIfChanged() == .unchanged, "a refused pair is not tried again")

            try FileManager.default.removeItem(atPath: tls.files.key)
            await #expect {
                try await reloader.reloadIfChanged()
            } throws: { error in
                "\(error)" == "cannot read --tls-cert-file \(tls.files.certificate) or --tls-key-file \(tls.files.key)"
            }
            #expect(try await TLSTestFiles.servedSubject(port: port).contains("beta"))
        }
    }

    @Test func runningItLogsAReloadAndALastingFailureOnce() async throws {
        let tls = try TLSTestFiles()
        defer { try? tls.remove() }
        try tls.install(try await tls.makePair(commonName: "alpha"))
        let renewed = try await tls.makePair(commonName: "gamma")
        let recorded = RecordedLines()
        func messages() -> [String] {
            recorded.sink.flush()
            return recorded.lines.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["msg"] as? String
            }
        }
        let logger = Logger(label: "test") { LineLogHandler(label: $0, format: .json, sink: recorded.sink) }
        try await withReloader(tls, logger: logger) { reloader, port in
            let running = Task { await reloader.run(every: .milliseconds(20)) }
            defer { running.cancel() }

            try FileManager.default.removeItem(atPath: tls.files.certificate)
            #expect(await eventually { messages().count == 1 })
            try await Task.sleep(for: .milliseconds(200))  // some ten checks more, all failing alike
            #expect(messages() == ["cannot check the TLS certificate; still serving the previous one"])

            try tls.install(renewed)
            #expect(await eventually { messages().count == 2 })
            #expect(messages().last == "TLS certificate reloaded")
            #expect(recorded.lines.last?.contains(#""file":"\#(tls.files.certificate)""#) == true)
            #expect(try await TLSTestFiles.servedSubject(port: port).contains("gamma"))
            running.cancel()
            await running.value
        }
    }
}
