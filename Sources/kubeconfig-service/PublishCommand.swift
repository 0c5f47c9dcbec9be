import ArgumentParser
import KubeconfigBase
import KubeconfigService
import ServiceAssembly

struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish once and exit: for init containers and Jobs.",
        discussion: "Prints the result as JSON on success (exit 0); prints the error on standard error otherwise (exit 1).")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let logger = options.bootstrapLogging()
        // Log lines are written by a thread of their own: every one is out before the process ends.
        defer { LogSink.standardError.flush() }
        let connections = ClusterConnections.inCluster(
            discovery: options.discovery, requestTimeout: options.apiTimeoutDuration, logger: logger)
        let json: [UInt8]
        do throws(ServiceError) {
            let configuration = try options.publisherConfiguration()
            let publisher = connections.publisher(
                configuration: configuration, issuedTokens: options.issuedTokens(namespace: configuration.namespace),
                logger: logger)
            let result = try await publisher.publish()
            await connections.shutdown()
            json = Array(result.json)
        } catch {
            await connections.shutdown()
            LogSink.standardError.write("error: \(error.code): \(error.message)\n")
            throw ExitCode.failure
        }
        // The JSON is the command's result: a truncated one must not exit 0.
        guard StandardStream.output.write(json) else {
            LogSink.standardError.write("error: could not write the result to standard output\n")
            throw ExitCode.failure
        }
    }
}

extension CommonOptions {
    /// `--api-timeout`, per request to the API server.
    var apiTimeoutDuration: Duration { .milliseconds(Int64(apiTimeout * 1000)) }
}
