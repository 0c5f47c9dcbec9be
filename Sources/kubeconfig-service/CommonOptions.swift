import ArgumentParser
import KubeconfigService
import KubernetesAPI

/// Options shared by `serve` and `publish`; the short flags are the old init container's.
struct CommonOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "Namespace of the ConfigMap. (default: <service-account-dir>/namespace)")
    var namespace: String?

    @Option(name: [.short, .long], help: "Cluster and context name of this site.")
    var location: String = "central"

    @Option(name: [.short, .long], help: "User entry name.")
    var user: String = "user00"

    @Option(name: [.customShort("c"), .long], help: "ConfigMap that holds the document.")
    var configmap: String = "multisite-kubeconfig-configmap"

    @Option(name: [.short, .long], help: "Data key of the document in the ConfigMap.")
    var key: String = "kubeconfig"

    @Option(help: "Folder with the service account's token, ca.crt and namespace.")
    var serviceAccountDir: String = InClusterDiscovery.defaultServiceAccountDirectory

    @Option(help: "Timeout of each request to the API server, in seconds.")
    var apiTimeout: Double = 10

    @Option(help: "Log format: text or json.")
    var logFormat: LogFormat = .text

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: LogLevelOption = .info

    func validate() throws {
        for (flag, value) in [("--location", location), ("--user", user), ("--configmap", configmap), ("--key", key)]
        where value.isEmpty {
            throw ValidationError("\(flag) must not be empty")
        }
        guard apiTimeout > 0, apiTimeout <= 300 else { throw ValidationError("--api-timeout must be in (0, 300] seconds") }
        if let namespace, namespace.isEmpty { throw ValidationError("--namespace must not be empty") }
    }

    var discovery: InClusterDiscovery {
        InClusterDiscovery(serviceAccountDirectory: serviceAccountDir)
    }

    /// The publisher's configuration; the namespace falls back to the service account's.
    func publisherConfiguration() throws(ServiceError) -> PublisherConfiguration {
        let resolvedNamespace: String
        if let namespace {
            resolvedNamespace = namespace
        } else {
            resolvedNamespace = try discovery.namespace()
        }
        var configuration = PublisherConfiguration(namespace: resolvedNamespace)
        configuration.location = location
        configuration.user = user
        configuration.configMapName = configmap
        configuration.key = key
        return configuration
    }
}
