import KubeconfigBase
import YAML

extension KubeconfigDocument {
    /// How a kubeconfig's user runs the exec credential plugin (`kubeconfig-service credential`)
    /// against the service: the command on the user's path, the service's public URL.
    public struct CredentialPlugin: Sendable, Equatable {
        public var command = "kubeconfig-service"
        public var serviceURL: String

        public init(serviceURL: String) {
            self.serviceURL = serviceURL
        }
    }

    /// The site `name` alone, its user an `exec` entry running `plugin` for it: a kubeconfig with
    /// no secret in it, whose every use asks the service for a fresh token (`interactiveMode:
    /// Never`: the plugin never prompts). Nil when no context has that name.
    public func site(named name: String, credentialPlugin plugin: CredentialPlugin) -> KubeconfigDocument? {
        guard var site = site(named: name), let user = site.contexts.first?.user else { return nil }
        let arguments = ["credential", "--site", name, "--service", plugin.serviceURL]
        site.replace(
            section: "users", name: user, body: "user",
            with: [
                (
                    "exec",
                    .mapping([
                        "apiVersion": .string("client.authentication.k8s.io/v1"), "command": .string(plugin.command),
                        "args": .sequence(arguments.map { .string($0) }), "interactiveMode": .string("Never"),
                    ])
                )
            ])
        return site
    }
}
