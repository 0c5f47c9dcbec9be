import FoundationEssentials
import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import NIOHTTP1

/// `kubeconfig-service site remove`: the site leaves the service (`DELETE /sites/{name}`), and with
/// a context, its cluster loses exactly the objects labelled for it. Deleting the two accounts
/// ends every token issued for them at once. Nothing unlabelled is touched, nor a namespace the
/// command did not create; one it created is deleted only when asked, as that deletes all it holds.
public struct SiteRemoval: Sendable {
    let site: String
    let context: OperatorKubeconfig.Context?
    let deleteNamespace: Bool
    let service: ServiceCall
    let say: @Sendable (String) -> Void

    public init(
        site: String, context: OperatorKubeconfig.Context?, deleteNamespace: Bool, service: String, token: BearerToken,
        certificateAuthority: [UInt8]?, say: @escaping @Sendable (String) -> Void
    ) {
        self.site = site
        self.context = context
        self.deleteNamespace = deleteNamespace
        self.service = ServiceCall(
            service: service, token: token, certificateAuthority: certificateAuthority, timeout: .seconds(60))
        self.say = say
    }

    /// Bindings before roles before accounts: no moment where an account holds a right whose
    /// binding outlives it, and the namespace last.
    static let order: [RemoteObject.Kind] = [.clusterRoleBinding, .roleBinding, .role, .serviceAccount, .namespace]

    /// The cluster id the service holds for the site; nil when it has none or no such site.
    private func registeredClusterID() async throws(ServiceClientError) -> String? {
        let answer = try await service.send(.GET, "/sites/\(site)")
        guard answer.status == 200 else { return nil }
        return try? SiteListing(site: answer.body).sites.first?.clusterId
    }

    public func run() async throws(ServiceClientError) -> String {
        guard SiteOnboardingPlan.isSiteName(site) else {
            throw ServiceClientError(description: "\(site.printable) is not a site name (a DNS-1123 subdomain)")
        }
        guard SiteOnboardingPlan.isLabelValue(site) else {
            throw ServiceClientError(description: "\(site.printable) is not the name of a site site add made (a label value)")
        }
        // The context must reach the site's cluster: labelled objects of the same site name on
        // another cluster (staging's edge-1, say) are not this site's.
        var cluster: RemoteCluster?
        if let context {
            let reached = RemoteCluster(endpoint: try await SiteOnboarding.endpoint(of: context))
            cluster = reached
            let registered = try await registeredClusterID()
            let reachedID = try await reached.clusterID(say: { _ in })
            if let registered, let reachedID, registered != reachedID {
                await reached.shutdown()
                throw ServiceClientError(
                    description: "context \(context.name.printable) reaches cluster \(reachedID.printable), but site \(site) "
                        + "is cluster \(registered.printable): nothing was removed; use the context of the site's cluster")
            }
        }
        let answer = try await service.send(.DELETE, "/sites/\(site)")
        switch answer.status {
        case 200: say("removed site \(site) from the service")
        case 404: say("the service has no site \(site)")
        default:
            throw ServiceClientError(
                description: "the service did not remove site \(site) (\(answer.status) \(ServiceCall.refusal(answer.body)))")
        }
        guard let cluster else { return "site \(site) removed; its cluster was not touched (no --context)\n" }
        defer { Task { await cluster.shutdown() } }
        let labelled = try await cluster.labelled(site: site)
        var deleted = 0
        for kind in Self.order {
            for object in labelled where object.kind == kind {
                if kind == .namespace && !deleteNamespace {
                    say("kept \(object.description) (created by site add; --delete-namespace deletes it and all it holds)")
                    continue
                }
                try await cluster.write(.DELETE, object.path, nil, what: "delete \(object.description)", missingIsFine: true)
                say("deleted \(object.description)")
                deleted += 1
            }
        }
        return "site \(site) removed; \(deleted) object\(deleted == 1 ? "" : "s") labelled for it deleted from its cluster\n"
    }
}
