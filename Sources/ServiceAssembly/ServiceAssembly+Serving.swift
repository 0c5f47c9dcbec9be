import KubeconfigRoutes
import KubeconfigService
import Logging
import MicroHTTPServer
import ServiceLifecycle
import UnixSignals

extension ServiceAssembly {
    /// Why the service could not start serving.
    public struct StartError: Error, Sendable, CustomStringConvertible {
        public enum Code: String, Sendable {
            /// `--tls-cert-file` or `--tls-key-file` cannot be read.
            case tlsFilesUnreadable
            /// The server could not listen (address in use, a TLS pair that does not match).
            case cannotListen
        }

        public let code: Code
        public let message: String
        public var description: String { message }
    }

    /// Reads the TLS files, if any, and starts the HTTP server on the configured address; logs
    /// `listening` with the port bound.
    public func listen() throws(StartError) -> HTTPServer {
        var server = configuration.server
        server.maxBodyBytes = ServiceRouter.maxBodyBytes
        if let files = configuration.tls {
            do {
                server.tls = try files.read()
            } catch {
                throw StartError(code: .tlsFilesUnreadable, message: error.description)
            }
        }
        let listening = HTTPServer(configuration: server, responder: router, logger: logger)
        do {
            try listening.start()
        } catch {
            throw StartError(code: .cannotListen, message: "\(error)")
        }
        let document = configuration.publisher
        logger.info(
            "listening",
            metadata: [
                "address": "\(server.address)", "port": "\(listening.port)", "tls": "\(server.tls != nil)",
                "auth": "\(configuration.auth.rawValue)", "object": "\(document.objectReference)",
                "key": "\(document.key)",
            ])
        return listening
    }

    /// The services that run beside `server` (already listening), in the order they start. They
    /// stop in reverse: the server stops accepting and finishes its requests (publications
    /// included) before the schedule is cancelled.
    public func services(serving server: HTTPServer) -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let schedule = PublicationScheduleService(publisher: publisher, refreshInterval: configuration.refreshInterval)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: schedule, successTerminationBehavior: .ignore, serviceName: "publication-schedule")
        ]
        if let watcher {
            services.append(
                .init(
                    service: DocumentWatchService(watcher: watcher), successTerminationBehavior: .ignore,
                    serviceName: "document-watch"))
        }
        if let renewer {
            services.append(
                .init(
                    service: SiteRenewalService(renewer: renewer), successTerminationBehavior: .ignore,
                    serviceName: "site-token-renewal"))
        }
        if let monitor, let interval = configuration.siteProbeInterval {
            services.append(
                .init(
                    service: SiteProbeService(monitor: monitor, interval: interval), successTerminationBehavior: .ignore,
                    serviceName: "site-probes"))
        }
        for sink in sinks {
            services.append(
                .init(
                    service: SecretSinkService(sink: sink), successTerminationBehavior: .ignore,
                    serviceName: "sink-\(sink.derivation.sink.kind.rawValue)"))
        }
        let reloader = configuration.tls.map { CertificateReloader(server: server, files: $0, logger: logger) }
        let http = HTTPServerService(
            server: server, reloader: reloader, reloadInterval: configuration.tlsReloadInterval, logger: logger)
        services.append(.init(service: http, serviceName: "http-server"))
        return services
    }

    /// Serves on `server` (from `listen()`) until one of `shutdownSignals` arrives or the task is
    /// cancelled, then stops every service and closes the connections to the clusters; logs
    /// `stopped`.
    /// - Parameter shutdownSignals: once handled here, these signals no longer end the process,
    ///   even after serving ends (libdispatch keeps its handler): a test passes none.
    public func serve(on server: HTTPServer, shutdownSignals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services(serving: server),
                gracefulShutdownSignals: shutdownSignals,
                logger: logger))
        try await group.run()
        await connections.shutdown()
        logger.info("stopped")
    }
}
