import Foundation
import Logging
import MicroHTTPServer

/// Serves HTTPS and follows the certificate on disk: when the files change (a cert-manager
/// renewal), a server with the new identity starts on the same port (`SO_REUSEPORT`) and the
/// old one stops gracefully, so clients see no refused connection.
actor CertificateReloader {
    private var server: HTTPServer
    private var identity: HTTPServerConfiguration.TLSIdentity
    private let certificateFile: String
    private let keyFile: String
    private let logger: Logger

    init(server: HTTPServer, certificateFile: String, keyFile: String, logger: Logger) {
        self.server = server
        self.identity = server.configuration.tls!
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.logger = logger
    }

    /// Checks the files every `interval` until cancelled.
    func run(every interval: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await reloadIfChanged()
        }
    }

    func reloadIfChanged() async {
        guard let next = try? ServeCommand.readTLSIdentity(certificate: certificateFile, key: keyFile), next != identity else {
            return
        }
        var configuration = server.configuration
        configuration.tls = next
        configuration.port = server.port
        let replacement = HTTPServer(configuration: configuration, responder: server.responder, logger: logger)
        do {
            try replacement.start()
        } catch {
            // A half-written pair or a key that does not match: keep serving the old identity.
            logger.error(
                "the new TLS certificate or key cannot be used; still serving the previous one", metadata: ["error": "\(error)"])
            identity = next
            return
        }
        let previous = server
        server = replacement
        identity = next
        await previous.stop()
        logger.info("TLS certificate reloaded", metadata: ["file": "\(certificateFile)"])
    }

    func stop() async {
        await server.stop()
    }
}
