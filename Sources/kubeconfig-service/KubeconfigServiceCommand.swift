import ArgumentParser

@main
struct KubeconfigServiceCommand: AsyncParsableCommand {
    /// The release: the Helm chart's appVersion (a deploy test keeps the two equal).
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "kubeconfig-service",
        abstract: "Keeps a multi-site kubeconfig (one context per site) in a ConfigMap or Secret, for Cloudify.",
        discussion: """
            `serve` publishes this cluster's entry (the in-cluster API server, its CA and an issued token, \
            renewed), registers remote sites (PUT /sites/NAME: a pasted credential, or a managed one whose \
            token is issued and renewed through a bootstrap credential), probes every site's health, and \
            repairs the document when it drifts. `publish` writes this cluster's entry once. Every other \
            entry of the document is kept.
            """,
        version: version,
        subcommands: [ServeCommand.self, PublishCommand.self, CredentialCommand.self, KubeconfigCommand.self, SiteCommand.self])
}
