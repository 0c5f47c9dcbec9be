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
        try await options.run("site list") { caller throws(ServiceClientError) in
            let body = try await SiteListing.fetch(
                service: options.service, token: caller.token, certificateAuthority: caller.certificateAuthority)
            switch output {
            case .json: return body + [UInt8(ascii: "\n")]
            case .table: return Array(try SiteListing(json: body).table(now: Date()).utf8)
            }
        }
    }
}
