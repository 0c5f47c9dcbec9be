import Foundation
import Logging
import MicroHTTPServer

/// Serves HTTPS and follows the certificate on disk: when the files change (a cert-manager
/// renewal), the listening socket is handed to a server with the new identity and the old one
/// stops gracefully, so clients see no refused or reset connection.
actor CertificateReloader {
    private var server: HTTPServer
    private var identity: HTTPServerConfiguration.TLSIdentity?
    private let certificateFile: String
    private let keyFile: String
    private let logger: Logger

    init(server: HTTPServer, certificateFile: String, keyFile: String, logger: Logger) {
        self.server = server
        self.identity = server.configuration.tls
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
        // Remember it either way: an unusable pair is reported once, not at every check.
        identity = next
        var configuration = server.configuration
        configuration.tls = next
        do {
            let handOver = try await server.handOver(to: configuration)
            server = handOver.successor
            if let refused = handOver.refused {
                logger.error(
                    "the new TLS certificate or key cannot be used; still serving the previous one",
                    metadata: ["error": "\(refused)"])
            } else {
                logger.info("TLS certificate reloaded", metadata: ["file": "\(certificateFile)"])
            }
        } catch {
            logger.critical("lost the listening socket while reloading the TLS certificate", metadata: ["error": "\(error)"])
        }
    }

    func stop() async {
        await server.stop()
    }
}
