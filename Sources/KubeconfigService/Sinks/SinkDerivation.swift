import FoundationEssentials
import KubeconfigBase
import Synchronization
import YAML

/// What a sink wants for each site of a document version: derived from the document alone (its
/// entries, its annotations) and the service's flags, so that every replica, after every
/// version, wants the same Secrets.
public enum SitePlan: Sendable, Equatable {
    /// Write this Secret.
    case write(SinkSecret)
    /// The site is selected but its credential cannot be expressed in this format: why.
    case skipped(String)
}

/// Derives every sink's Secrets from a document version.
public struct SinkDerivation: Sendable {
    /// The sink.
    public var sink: SinkConfiguration
    /// The document's object, as `documentAnnotation` names it.
    public var document: String
    /// The site this service publishes, whose labels are `centralLabels`.
    public var location: String
    /// `serve --site-label`.
    public var centralLabels: [String: String]
    /// Each site's kubeconfig as last rendered, kept while its entries are unchanged: a renewal
    /// of one site renders one document, not one per site.
    private let renderings = SiteRenderings()

    public init(sink: SinkConfiguration, document: String, location: String, centralLabels: [String: String] = [:]) {
        self.sink = sink
        self.document = document
        self.location = location
        self.centralLabels = centralLabels
    }

    /// The label a registration may set to say that a managed site's deployer has cluster-wide
    /// rights, so that Argo CD is not limited to the context's namespace.
    public static let clusterWideLabel = "kubeconfig-service.onap.org/cluster-wide"

    /// The plan of every selected site, by site name; sites the selector leaves out have none.
    public func plans(for published: PublishedDocument) -> [String: SitePlan] {
        let labels = SiteLabels(annotations: published.annotations)
        let entries = Entries(published.document)
        var plans: [String: SitePlan] = [:]
        for context in published.document.contexts where plans[context.name] == nil {
            let siteLabels = context.name == location ? centralLabels : labels[context.name]
            guard sink.selector.matches(siteLabels) else { continue }
            plans[context.name] = plan(context, labels: siteLabels, in: published, entries: entries)
        }
        renderings.keep(sites: Set(entries.contexts.keys))
        return plans
    }

    /// The document's entries by name, each section indexed once per version (the first of a
    /// name, as kubectl takes it).
    struct Entries {
        var clusters: [String: DocumentNode] = [:]
        var users: [String: DocumentNode] = [:]
        var contexts: [String: DocumentNode] = [:]
        var preferences: DocumentNode?

        init(_ document: KubeconfigDocument) {
            func index(_ section: String) -> [String: DocumentNode] {
                guard case .sequence(let entries)? = document.root[section] else { return [:] }
                var byName: [String: DocumentNode] = [:]
                for entry in entries {
                    guard let name = entry["name"]?.stringValue, byName[name] == nil else { continue }
                    byName[name] = entry
                }
                return byName
            }
            clusters = index("clusters")
            users = index("users")
            contexts = index("contexts")
            preferences = document.root["preferences"]
        }
    }

    private func plan(
        _ context: KubeconfigDocument.ContextReference, labels siteLabels: [String: String], in published: PublishedDocument,
        entries: Entries
    ) -> SitePlan {
        let site = context.name
        let name = sink.kind.secretName(site: site)
        guard SiteRegistration.isDNSSubdomain(name) else {
            return .skipped("\(name) is not a valid Secret name (a DNS-1123 subdomain of at most 253 characters)")
        }
        let clusterEntry = context.cluster.flatMap { entries.clusters[$0] }
        let userEntry = context.user.flatMap { entries.users[$0] }
        let cluster = clusterEntry?["cluster"]
        let user = userEntry?["user"]
        guard let server = cluster?["server"]?.stringValue else {
            return .skipped("context \(site) names no cluster with a server")
        }
        let credential = KubeconfigDocument.credentialKind(user)
        var data: [String: String]
        switch (sink.kind, credential) {
        case (.argocd, "token"), (.argocd, "client-certificate"):
            guard let config = argoCDConfig(cluster: cluster, user: user) else {
                return .skipped("its client certificate is not embedded (client-certificate-data and client-key-data)")
            }
            data = ["name": site, "server": server, "config": config]
            if let namespace = scope(of: context, labels: siteLabels, in: published) {
                data["namespaces"] = namespace
                data["clusterResources"] = "false"
            }
        case (.kubeconfig, "token"), (.kubeconfig, "client-certificate"):
            guard credential == "token" || user?["client-certificate-data"] != nil,
                let rendered = renderings.yaml(
                    of: site, entries: [entries.contexts[site], clusterEntry, userEntry, entries.preferences],
                    in: published.document)
            else {
                return .skipped("its client certificate is not embedded (client-certificate-data and client-key-data)")
            }
            data = ["value": rendered]
        default:
            return .skipped(Self.unsupported(credential, kind: sink.kind))
        }
        var labels = siteLabels
        labels[SinkSecret.managedByLabel] = SinkSecret.managedByValue
        labels[SinkSecret.sinkLabel] = sink.kind.rawValue
        if SiteLabels.isValue(site) { labels[SinkSecret.siteLabel] = site }
        switch sink.kind {
        case .argocd: labels[SinkSecret.argoCDSecretTypeLabel] = "cluster"
        case .kubeconfig: labels[SinkSecret.fluxWatchLabel] = "Enabled"
        }
        let annotations = [SinkSecret.siteAnnotation: site, SinkSecret.documentAnnotation: self.document]
        return .write(
            SinkSecret(
                name: name, site: site, labels: labels, annotations: annotations, data: data,
                documentVersion: published.resourceVersion))
    }

    /// Why a credential of `kind` is skipped.
    static func unsupported(_ credential: String, kind: SinkKind) -> String {
        switch credential {
        case "exec":
            kind == .argocd
                ? "its user runs an exec credential plugin, which Argo CD would have to run itself: not written"
                : "its user runs an exec credential plugin, which Flux refuses (unless --insecure-kubeconfig-exec): not written"
        case "none": "its user holds no credential: not written"
        default: "its credential (\(credential)) cannot be written in this format: only tokens and client certificates are"
        }
    }

    /// Argo CD's `config`: the bearer token or client certificate and the TLS settings, as its
    /// declarative setup defines them (base64 PEM in `caData`, `certData`, `keyData`). Keys sorted,
    /// so the same credential is always the same bytes.
    private func argoCDConfig(cluster: DocumentNode?, user: DocumentNode?) -> String? {
        struct Config: Encodable {
            struct TLS: Encodable {
                var insecure: Bool
                var serverName: String?
                var caData: String?
                var certData: String?
                var keyData: String?
            }
            var bearerToken: String?
            var tlsClientConfig: TLS
        }
        var config = Config(
            tlsClientConfig: .init(
                insecure: cluster?["insecure-skip-tls-verify"]?.boolValue ?? false,
                serverName: cluster?["tls-server-name"]?.stringValue,
                caData: cluster?["certificate-authority-data"]?.stringValue))
        if let token = user?["token"]?.stringValue {
            config.bearerToken = token
        } else {
            guard let certificate = user?["client-certificate-data"]?.stringValue,
                let key = user?["client-key-data"]?.stringValue
            else { return nil }
            config.tlsClientConfig.certData = certificate
            config.tlsClientConfig.keyData = key
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The namespace Argo CD is limited to, for a managed site's deployer: `site add` binds it
    /// in its context's namespace (unless `--cluster-wide`), and such a credential cannot list
    /// cluster resources, which Argo CD otherwise does. Nil (cluster-wide) for static sites,
    /// whose rights the service does not know, for this service's own site, and for a managed
    /// site labelled `kubeconfig-service.onap.org/cluster-wide=true`.
    private func scope(
        of context: KubeconfigDocument.ContextReference, labels: [String: String], in published: PublishedDocument
    ) -> String? {
        guard context.name != location, let namespace = context.namespace, !namespace.isEmpty,
            published.annotations[TokenRecord.annotationKey(location: context.name)] != nil,
            labels[Self.clusterWideLabel] != "true"
        else { return nil }
        return namespace
    }
}

/// Sites' one-site kubeconfigs (`KubeconfigDocument.site(named:)` as YAML, what `GET
/// /kubeconfig?site=` serves), each kept with the entries it was rendered from.
private final class SiteRenderings: Sendable {
    private struct Rendering {
        var entries: [DocumentNode?]
        var yaml: String
    }

    private let renderings = Mutex<[String: Rendering]>([:])

    /// The site's kubeconfig; `entries` are what it is rendered from (its context, cluster and
    /// user, and the document's preferences).
    func yaml(of site: String, entries: [DocumentNode?], in document: KubeconfigDocument) -> String? {
        if let kept = renderings.withLock({ $0[site] }), kept.entries == entries { return kept.yaml }
        guard let yaml = document.site(named: site)?.yaml() else { return nil }
        renderings.withLock { $0[site] = Rendering(entries: entries, yaml: yaml) }
        return yaml
    }

    /// Forgets sites no longer in the document.
    func keep(sites: Set<String>) {
        renderings.withLock { renderings in
            guard renderings.keys.contains(where: { !sites.contains($0) }) else { return }
            renderings = renderings.filter { sites.contains($0.key) }
        }
    }
}
