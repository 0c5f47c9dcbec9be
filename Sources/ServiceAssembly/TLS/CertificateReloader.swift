import Logging
import MicroHTTPServer

/// Serves HTTPS and follows the certificate on disk: when the files change (a cert-manager
/// renewal), the listening socket is handed to a server with the new identity and the old one
/// stops gracefully, so clients see no refused or reset connection.
public actor CertificateReloader {
    /// What one check did.
    public enum Outcome: Equatable, Sendable {
        case unchanged
        case reloaded
        /// The files changed but the pair cannot be used; the previous identity stays in service.
        case refused(String)
    }

    /// The files could not be read, or nothing listens any more.
    public struct ReloadError: Error, CustomStringConvertible {
        public var description: String
    }

    private var server: HTTPServer
    private var identity: HTTPServerConfiguration.TLSIdentity?
    private let files: TLSFiles
    private let logger: Logger
    /// The last error reported, so that a lasting failure is logged once, not at every check.
    private var reported: String?

    /// - Parameters:
    ///   - server: listening, with the identity `files` held when it started.
    public init(server: HTTPServer, files: TLSFiles, logger: Logger) {
        self.server = server
        self.identity = server.configuration.tls
        self.files = files
        self.logger = logger
    }

    /// Checks the files every `interval` until cancelled, logging what each check did.
    public func run(every interval: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            do throws(ReloadError) {
                switch try await reloadIfChanged() {
                case .unchanged:
                    break
                case .reloaded:
                    reported = nil
                    logger.info("TLS certificate reloaded", metadata: ["file": "\(files.certificate)"])
                case .refused(let reason):
                    logger.error(
                        "the new TLS certificate or key cannot be used; still serving the previous one",
                        metadata: ["error": "\(reason)"])
                }
            } catch {
                guard reported != error.description else { continue }
                reported = error.description
                logger.warning(
                    "cannot check the TLS certificate; still serving the previous one",
                    metadata: ["error": "\(error)"])
            }
        }
    }

    /// Reads the files and, when they hold a new pair, hands the socket to a server with it.
    public func reloadIfChanged() async throws(ReloadError) -> Outcome {
        let next: HTTPServerConfiguration.TLSIdentity
        do {
            next = try files.read()
        } catch {
            throw ReloadError(description: "\(error)")
        }
        guard next != identity else { return .unchanged }
        // Remember it either way: an unusable pair is reported once, not at every check.
        identity = next
        var configuration = server.configuration
        configuration.tls = next
        do {
            let handOver = try await server.handOver(to: configuration)
            server = handOver.successor
            return handOver.refused.map { .refused("\($0)") } ?? .reloaded
        } catch {
            logger.critical("lost the listening socket while reloading the TLS certificate", metadata: ["error": "\(error)"])
            throw ReloadError(description: "lost the listening socket: \(error)")
        }
    }

    /// Stops the server now serving, gracefully.
    public func stop() async {
        await server.stop()
    }
}
