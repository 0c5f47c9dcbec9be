import ArgumentParser
import FoundationEssentials
import KubeconfigBase
import ServiceAssembly

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

    @OptionGroup var options: ServiceOptions

    func run() async throws {
        try await options.run("kubeconfig") { caller throws(ServiceClientError) in
            let plugin = CredentialPlugin(
                site: site, service: options.service, token: caller.token,
                certificateAuthority: caller.certificateAuthority)
            var arguments: [String] = []
            if let file = options.serviceTokenFile { arguments += ["--service-token-file", Self.absolute(file)] }
            if let file = options.serviceCaFile { arguments += ["--service-ca-file", Self.absolute(file)] }
            return Array(try await plugin.kubeconfig(pluginArguments: arguments).utf8)
        }
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}
