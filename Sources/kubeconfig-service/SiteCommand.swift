import ArgumentParser
import FoundationEssentials
import KubeconfigBase
import ServiceAssembly

/// `kubeconfig-service site ...`: the sites of a running service, as an operator handles them.
struct SiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site",
        abstract: "The sites of a running service.",
        subcommands: [SiteAddCommand.self, SiteRemoveCommand.self, SiteListCommand.self])
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

/// Where the operator's kubeconfig is, and which context reaches the site's cluster.
struct ClusterContextOptions: ParsableArguments {
    @Option(help: "The kubeconfig to read (default: $KUBECONFIG, else ~/.kube/config).")
    var kubeconfig: String?

    func context(_ name: String) throws(ServiceClientError) -> OperatorKubeconfig.Context {
        try OperatorKubeconfig(path: kubeconfig, environment: ProcessInfo.processInfo.environment).context(name)
    }
}

struct SiteAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Make a cluster a managed site: its accounts and rights, a bootstrap token, the registration.",
        discussion: """
            Reaches the cluster as CONTEXT does (a token, a client certificate or an exec plugin) and keeps there, \
            labelled with the site: the namespace (if missing), the deployer account bound to --cluster-role, and \
            the kubeconfig-bootstrap account, which may only mint tokens for the deployer and for itself. Then it \
            mints the bootstrap token and registers the site (PUT /sites/NAME); the service issues and renews the \
            deployer's tokens, and the bootstrap token, from then on. Objects of those names that are not labelled \
            for the site are never taken over. If the service refuses the site, what this run created is deleted \
            again (not when its answer was lost: run the command again). \
            Running it again is safe: what is there is kept.
            """)

    @Argument(help: "The site's name: its context in the published kubeconfig (Cloudify's location).")
    var name: String

    @Option(help: "The context of your kubeconfig that reaches the site's cluster as an administrator.")
    var context: String

    @OptionGroup var cluster: ClusterContextOptions
    @OptionGroup var options: ServiceOptions

    @Option(help: "Namespace of both accounts (default: the context's namespace, else default).")
    var namespace: String?

    @Option(help: "The deployer account, whose tokens the service issues.")
    var serviceAccount = "kubeconfig-deployer"

    @Option(help: "The ClusterRole the deployer is bound to.")
    var clusterRole = "edit"

    @Flag(help: "Bind the deployer's role in every namespace (a ClusterRoleBinding), not in its own only.")
    var clusterWide = false

    @Option(help: "Seconds the deployer's tokens live (the cluster may grant less).")
    var tokenExpiration = 3600

    @Option(help: "Seconds the bootstrap token lives before the service renews it (the cluster may grant less).")
    var bootstrapExpiration = 2_592_000

    @Flag(help: "Register the site even if the service holds the same cluster under another name.")
    var allowDuplicateCluster = false

    @Flag(help: "Print what would be created and registered; write nothing.")
    var dryRun = false

    @Option(name: .customLong("label"), help: "A label of the site, KEY=VALUE (repeatable): what sinks select sites by.")
    var labels: [String] = []

    func validate() throws {
        for label in labels where !label.contains("=") {
            throw ValidationError("--label must be KEY=VALUE, not \(label)")
        }
        guard (600...4_294_967_296).contains(tokenExpiration) else {
            throw ValidationError("--token-expiration must be from 600 to 4294967296 seconds")
        }
        guard (600...4_294_967_296).contains(bootstrapExpiration) else {
            throw ValidationError("--bootstrap-expiration must be from 600 to 4294967296 seconds")
        }
    }

    func run() async throws {
        try await options.run("site add") { caller throws(ServiceClientError) in
            let context = try cluster.context(self.context)
            var onboarding = SiteOnboarding.Options(site: name, namespace: namespace ?? context.namespace ?? "default")
            onboarding.deployer = serviceAccount
            onboarding.clusterRole = clusterRole
            onboarding.clusterWide = clusterWide
            onboarding.tokenExpiration = tokenExpiration
            onboarding.bootstrapExpiration = bootstrapExpiration
            onboarding.dryRun = dryRun
            onboarding.allowDuplicateCluster = allowDuplicateCluster
            for label in labels {
                let key = label.prefix { $0 != "=" }
                onboarding.labels[String(key)] = String(label.dropFirst(key.count + 1))
            }
            let run = SiteOnboarding(
                options: onboarding, context: context, service: options.service, token: caller.token,
                certificateAuthority: caller.certificateAuthority, say: SiteStepPrinter.say)
            return Array(try await run.run().utf8)
        }
    }
}

struct SiteRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a site from the service, and with --context its accounts and rights from its cluster.",
        discussion: """
            DELETE /sites/NAME; with --context, also deletes on the site's cluster exactly the objects labelled for \
            NAME by site add. Deleting its two accounts ends every token issued for them at once. A namespace site \
            add created is kept unless --delete-namespace is given (that deletes all it holds); one it did not \
            create is never deleted.
            """)

    @Argument(help: "The site's name.")
    var name: String

    @Option(help: "The context of your kubeconfig that reaches the site's cluster as an administrator.")
    var context: String?

    @OptionGroup var cluster: ClusterContextOptions
    @OptionGroup var options: ServiceOptions

    @Flag(help: "Also delete the namespace site add created for the site, with everything in it.")
    var deleteNamespace = false

    func run() async throws {
        try await options.run("site remove") { caller throws(ServiceClientError) in
            let context = try self.context.map { name throws(ServiceClientError) in try cluster.context(name) }
            let run = SiteRemoval(
                site: name, context: context, deleteNamespace: deleteNamespace, service: options.service,
                token: caller.token, certificateAuthority: caller.certificateAuthority, say: SiteStepPrinter.say)
            return Array(try await run.run().utf8)
        }
    }
}

/// Prints each step of `site add` and `site remove` as it happens, on standard output.
enum SiteStepPrinter {
    @Sendable static func say(_ line: String) {
        _ = StandardStream.output.write(Array((line + "\n").utf8))
    }
}
