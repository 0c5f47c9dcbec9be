import ArgumentParser
import FoundationEssentials
import KubeconfigBase
import ServiceAssembly

#if canImport(Glibc)
    import Glibc
#endif

/// A kubeconfig for one site with no secret in it: its user runs `kubeconfig-service credential`.
struct KubeconfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeconfig",
        abstract: "Print a kubeconfig of one site with no secret in it: kubectl asks the service for each token.",
        discussion: """
            Reads GET /kubeconfig?site=NAME&credentials=exec with your own token and prints it: the site's server \
            and CA, and a user that runs `kubeconfig-service credential` (which must be on your PATH) against the \
            service's public URL. The token and CA files you name here are named in the plugin's arguments too \
            (as absolute paths), so the kubeconfig works as written. Your token is read from --service-token-file, \
            else the file $KUBECONFIG_SERVICE_TOKEN_FILE names (which the plugin then reads at each run).
            """)

    @Option(help: "The site: its context name in the document.")
    var site: String

    @Option(help: "The service's URL: https://..., or http:// to a loopback address only.")
    var service: String

    @Option(help: "File holding your bearer token for the service (default: $KUBECONFIG_SERVICE_TOKEN_FILE).")
    var serviceTokenFile: String?

    @Option(help: "PEM CA bundle the service's certificate must chain to (default: the system's roots).")
    var serviceCaFile: String?

    func run() async throws {
        do throws(ServiceClientError) {
            let caller = try CallerFiles(tokenFile: serviceTokenFile, caFile: serviceCaFile)
            let plugin = CredentialPlugin(
                site: site, service: service, token: caller.token, certificateAuthority: caller.certificateAuthority)
            var arguments: [String] = []
            if let serviceTokenFile { arguments += ["--service-token-file", Self.absolute(serviceTokenFile)] }
            if let serviceCaFile { arguments += ["--service-ca-file", Self.absolute(serviceCaFile)] }
            let kubeconfig = try await plugin.kubeconfig(pluginArguments: arguments)
            guard StandardStream.output.write(Array(kubeconfig.utf8)) else {
                throw ServiceClientError(description: "could not write the kubeconfig to standard output")
            }
        } catch {
            LogSink.standardError.write("kubeconfig-service kubeconfig: \(error.description)\n")
            LogSink.standardError.flush()
            throw ExitCode.failure
        }
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
