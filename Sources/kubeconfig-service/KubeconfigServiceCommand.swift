import ArgumentParser

@main
struct KubeconfigServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeconfig-service",
        abstract: "Publishes this cluster's kubeconfig entries into a multi-site kubeconfig kept in a ConfigMap.",
        discussion: """
            Discovers the in-cluster API server (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, and the \
            service account's ca.crt and token) and merges this site's cluster, user and context into the \
            document under one key of an existing ConfigMap, keeping every other entry.
            """,
        subcommands: [ServeCommand.self, PublishCommand.self])
}
