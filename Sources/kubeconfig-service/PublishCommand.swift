import ArgumentParser
import Foundation
import KubeconfigService
import KubernetesAPI

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish once and exit: for init containers and Jobs.",
        discussion: "Prints the result as JSON on success (exit 0); prints the error on standard error otherwise (exit 1).")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let logger = options.bootstrapLogging()
        let clients = KubernetesClientProvider(requestTimeout: options.apiTimeoutDuration, logger: logger)
        do throws(ServiceError) {
            let publisher = SitePublisher.inCluster(
                configuration: try options.publisherConfiguration(),
                connection: InClusterConnection(discovery: options.discovery, clients: clients), logger: logger)
            let result = try await publisher.publish()
            await clients.shutdown()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write((try? encoder.encode(result)) ?? Data())
            FileHandle.standardOutput.write(Data("\n".utf8))
        } catch {
            await clients.shutdown()
            FileHandle.standardError.write(Data("error: \(error.code): \(error.message)\n".utf8))
            throw ExitCode.failure
        }
    }
}

extension CommonOptions {
    /// `--api-timeout`, per request to the API server.
    var apiTimeoutDuration: Duration { .milliseconds(Int64(apiTimeout * 1000)) }
}
