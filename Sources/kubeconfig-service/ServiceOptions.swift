import ArgumentParser
import FoundationEssentials
import KubeconfigBase
import ServiceAssembly

/// How the commands that are clients of a running service (`credential`, `kubeconfig`, `site
/// ...`) reach it, with the caller's own token.
struct ServiceOptions: ParsableArguments {
    @Option(help: "The service's URL: https://..., or http:// to a loopback address only.")
    var service: String

    @Option(help: "File holding your bearer token for the service (default: $KUBECONFIG_SERVICE_TOKEN_FILE).")
    var serviceTokenFile: String?

    @Option(help: "PEM CA bundle the service's certificate must chain to (default: the system's roots).")
    var serviceCaFile: String?

    /// Reads the caller's files, runs `work` and prints what it returns. A failure is one line on
    /// standard error, `kubeconfig-service COMMAND: reason`, and exit 1; standard output then
    /// holds nothing.
    func run(
        _ command: String, _ work: (CallerFiles) async throws(ServiceClientError) -> [UInt8]
    ) async throws {
        do throws(ServiceClientError) {
            let output = try await work(try CallerFiles(tokenFile: serviceTokenFile, caFile: serviceCaFile))
            guard StandardStream.output.write(output) else {
                throw ServiceClientError(description: "could not write to standard output")
            }
        } catch {
            LogSink.standardError.write("kubeconfig-service \(command): \(error.description)\n")
            LogSink.standardError.flush()
            throw ExitCode.failure
        }
    }
}
