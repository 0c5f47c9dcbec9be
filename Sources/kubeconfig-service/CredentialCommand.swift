import ArgumentParser
import FoundationEssentials
import KubeconfigBase
import ServiceAssembly

#if canImport(Glibc)
    import Glibc
#endif

/// kubectl's exec credential plugin: prints a fresh token of one site, minted by the service.
struct CredentialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credential",
        abstract: "kubectl exec credential plugin: print a fresh token of one site, minted by the service.",
        discussion: """
            Asks the service (POST /sites/NAME/token) with your own token, and prints the ExecCredential \
            kubectl reads (the API version KUBERNETES_EXEC_INFO asks for). On failure, exits non-zero with one \
            line on standard error; nothing else is ever printed on standard output. Your token is read from \
            --service-token-file, else the file $KUBECONFIG_SERVICE_TOKEN_FILE names.
            """)

    @Option(help: "The site whose token to print: its context name in the document.")
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
            let credential = try await plugin.credential(execInfo: ProcessInfo.processInfo.environment["KUBERNETES_EXEC_INFO"])
            guard StandardStream.output.write(credential) else {
                throw ServiceClientError(description: "could not write the credential to standard output")
            }
        } catch {
            LogSink.standardError.write("kubeconfig-service credential: \(error.description)\n")
            LogSink.standardError.flush()
            throw ExitCode.failure
        }
    }
}
