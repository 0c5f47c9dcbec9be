import ArgumentParser
import FoundationEssentials
import KubeconfigBase
import ServiceAssembly

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

    @OptionGroup var options: ServiceOptions

    func run() async throws {
        try await options.run("credential") { caller throws(ServiceClientError) in
            let plugin = CredentialPlugin(
                site: site, service: options.service, token: caller.token,
                certificateAuthority: caller.certificateAuthority)
            return try await plugin.credential(execInfo: ProcessInfo.processInfo.environment["KUBERNETES_EXEC_INFO"])
        }
    }
}
