import ArgumentParser
import FoundationEssentials
import KubeconfigBase
import ServiceAssembly

/// `kubeconfig-service site ...`: the sites of a running service, as an operator handles them.
struct SiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site",
        abstract: "The sites of a running service.",
        subcommands: [SiteListCommand.self])
}

/// How the `site` commands reach the service.
struct ServiceOptions: ParsableArguments {
    @Option(help: "The service's URL: https://..., or http:// to a loopback address only.")
    var service: String

    @Option(
        help: """
            File holding your bearer token for the service (default: the file $KUBECONFIG_SERVICE_TOKEN_FILE \
            names).
            """)
    var serviceTokenFile: String?

    @Option(help: "PEM CA bundle the service's certificate must chain to (default: the system's roots).")
    var serviceCaFile: String?
}

struct SiteListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the sites: credential, token and bootstrap expiry, health (GET /sites).",
        discussion: """
            A table by default; -o json prints the service's answer unchanged, for scripts. Your token needs \
            `get` on the document, as GET /sites does.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    @OptionGroup var options: ServiceOptions

    @Option(name: [.customShort("o"), .long], help: "table or json.")
    var output: Format = .table

    func run() async throws {
        do throws(ServiceClientError) {
            let caller = try CallerFiles(tokenFile: options.serviceTokenFile, caFile: options.serviceCaFile)
            let body = try await SiteListing.fetch(
                service: options.service, token: caller.token, certificateAuthority: caller.certificateAuthority)
            let printed =
                switch output {
                case .json: body + [UInt8(ascii: "\n")]
                case .table: Array(try SiteListing(json: body).table(now: Date()).utf8)
                }
            guard StandardStream.output.write(printed) else {
                throw ServiceClientError(description: "could not write to standard output")
            }
        } catch {
            LogSink.standardError.write("kubeconfig-service site list: \(error.description)\n")
            LogSink.standardError.flush()
            throw ExitCode.failure
        }
    }
}
