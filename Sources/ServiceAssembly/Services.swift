import KubeconfigService
import Logging
import MicroHTTPServer
import ServiceLifecycle

/// The HTTP server, already listening, as a service: it serves until graceful shutdown, then
/// stops accepting and lets requests under way finish. With TLS it follows the certificate.
struct HTTPServerService: Service {
    let server: HTTPServer
    /// Present when serving TLS from files.
    let reloader: CertificateReloader?
    let reloadInterval: Duration
    let logger: Logger

    func run() async {
        if let reloader {
            await cancelWhenGracefulShutdown { await reloader.run(every: self.reloadInterval) }
        } else {
            try? await gracefulShutdown()
        }
        logger.info("stopping")
        if let reloader {
            await reloader.stop()
        } else {
            await server.stop()
        }
    }
}

/// The publication schedule: publish at start-up until it succeeds, then every refresh interval.
struct PublicationScheduleService: Service {
    let publisher: SitePublisher
    let refreshInterval: Duration?

    func run() async {
        await cancelWhenGracefulShutdown { await self.publisher.runSchedule(refreshInterval: self.refreshInterval) }
    }
}

/// Health probes of every site in the document, every interval.
struct SiteProbeService: Service {
    let monitor: SiteHealthMonitor
    let interval: Duration

    func run() async {
        await cancelWhenGracefulShutdown { await self.monitor.run(every: self.interval) }
    }
}

/// Issues and renews managed remote sites' tokens.
struct SiteRenewalService: Service {
    let renewer: SiteTokenRenewer

    func run() async {
        await cancelWhenGracefulShutdown { await self.renewer.run() }
    }
}

/// The watch on the document's object: other writers' changes served, our entries repaired.
struct DocumentWatchService: Service {
    let watcher: DocumentWatcher

    func run() async {
        await cancelWhenGracefulShutdown { await self.watcher.run() }
    }
}

/// One sink: its site Secrets kept equal to the document.
struct SecretSinkService: Service {
    let sink: SecretSink

    func run() async {
        await cancelWhenGracefulShutdown { await self.sink.run() }
    }
}
