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

    /// This document with `arguments` added to the plugin's arguments of every user that runs
    /// `kubeconfig-service credential`; nil when no user does. How the `kubeconfig` command adds
    /// the caller's own token and CA files, which the service cannot know.
    public func addingCredentialPluginArguments(_ arguments: [String]) -> KubeconfigDocument? {
        guard case .sequence(var users)? = root["users"] else { return nil }
        var found = false
        for index in users.indices {
            guard var exec = users[index]["user"]?["exec"], case .sequence(let present)? = exec["args"],
                present.first?.stringValue == "credential"
            else { continue }
            found = true
            exec.set("args", .sequence(present + arguments.map { .string($0) }))
            var user = users[index]["user"]!
            user.set("exec", exec)
            users[index].set("user", user)
        }
        guard found else { return nil }
        var document = self
        document.root.set("users", .sequence(users))
        return document
    }
}
