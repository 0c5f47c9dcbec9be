import ArgumentParser
import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import ServiceAssembly

/// Options shared by `serve` and `publish`; the short flags are the old init container's.
struct CommonOptions: ParsableArguments {
    @Option(
        name: [.short, .long],
        help: "Namespace of the document's ConfigMap or Secret. (default: <service-account-dir>/namespace)")
    var namespace: String?

    @Option(name: [.short, .long], help: "Cluster and context name of this site.")
    var location: String = "central"

    @Option(name: [.short, .long], help: "User entry name.")
    var user: String = "user00"

    @Option(
        name: [.customShort("c"), .long],
        help: "ConfigMap that holds the document. (default: multisite-kubeconfig-configmap)")
    var configmap: String?

    @Option(help: "Secret that holds the document instead of a ConfigMap (never created here; not with --configmap).")
    var secret: String?

    @Option(name: [.short, .long], help: "Data key of the document in the ConfigMap or Secret.")
    var key: String = "kubeconfig"

    @Option(
        help: """
            Publish a token issued by the TokenRequest API for this service account (in --namespace), renewed \
            before it expires, instead of this pod's own token.
            """)
    var tokenServiceAccount: String?

    @Option(help: "Lifetime to ask for an issued token, in seconds (600 to 2^32; the API server may grant less).")
    var tokenExpiration: Int = 3600

    @Option(help: "Audience to ask for an issued token (repeatable; none: the API server's own).")
    var tokenAudience: [String] = []

    @Option(help: "Folder with the service account's token, ca.crt and namespace.")
    var serviceAccountDir: String = InClusterDiscovery.defaultServiceAccountDirectory

    @Option(help: "Timeout of each request to the API server, in seconds.")
    var apiTimeout: Double = 10

    @Option(help: "Log format: text or json.")
    var logFormat: LogFormat = .text

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: LogLevelOption = .info

    func validate() throws {
        let named = [
            ("--location", location), ("--user", user), ("--configmap", configmap), ("--secret", secret), ("--key", key),
            ("--token-service-account", tokenServiceAccount),
        ]
        for case (let flag, let value?) in named where value.isEmpty {
            throw ValidationError("\(flag) must not be empty")
        }
        if configmap != nil, secret != nil {
            throw ValidationError("--configmap and --secret are mutually exclusive: the document lives in one object")
        }
        // The API refuses a TokenRequest under 10 minutes or over 2^32 seconds.
        guard (600...(1 << 32)).contains(tokenExpiration) else {
            throw ValidationError("--token-expiration must be at least 600 seconds (the API's minimum) and at most 2^32")
        }
        if tokenAudience.contains(where: \.isEmpty) { throw ValidationError("--token-audience must not be empty") }
        if tokenServiceAccount != nil, !TokenRecord.isUsable(location: location) {
            throw ValidationError(
                "--location must be at most 57 letters, digits, '-', '_' or '.' to record an issued token's expiry")
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
        configuration.configMapName = configmap ?? configuration.configMapName
        configuration.secretName = secret
        configuration.key = key
        return configuration
    }

    /// The issued-token source's settings; nil publishes the pod's own token.
    func issuedTokens(namespace: String) -> IssuedTokenSource.Configuration? {
        guard let tokenServiceAccount else { return nil }
        var configuration = IssuedTokenSource.Configuration(namespace: namespace, serviceAccount: tokenServiceAccount)
        configuration.expirationSeconds = tokenExpiration
        configuration.audiences = tokenAudience
        return configuration
    }
}
