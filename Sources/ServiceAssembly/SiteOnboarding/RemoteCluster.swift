import FoundationEssentials
import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import Logging
import NIOHTTP1

/// A site's cluster as `site add` and `site remove` reach it: with the operator's credential, and
/// the cluster's CA only. Every failure is one line naming the call and the API's own reason,
/// never the credential.
struct RemoteCluster: Sendable {
    let endpoint: ClusterEndpoint
    private let clusters: RemoteClusters

    init(endpoint: ClusterEndpoint) {
        self.endpoint = endpoint
        var logger = Logger(label: "kubeconfig-service.site")
        logger.logLevel = .critical
        clusters = RemoteClusters(timeout: .seconds(30), logger: logger)
    }

    func shutdown() async {
        await clusters.shutdown()
    }

    /// The object at `path`; nil when there is none.
    func get(_ path: String, what: String) async throws(ServiceClientError) -> [UInt8]? {
        let answer = try await call(.GET, path, nil, what: "read \(what)")
        switch answer.status {
        case 200: return answer.body
        case 404: return nil
        default: throw failure(answer, what: "read \(what)")
        }
    }

    /// A write that must succeed; with `missingIsFine`, a DELETE of what is already gone does.
    /// Returns the answer's body (the object written).
    @discardableResult
    func write(
        _ method: HTTPMethod, _ path: String, _ body: [UInt8]?, what: String, missingIsFine: Bool = false
    ) async throws(ServiceClientError) -> [UInt8] {
        let answer = try await call(method, path, body, what: what)
        if (200..<300).contains(answer.status) || (missingIsFine && answer.status == 404) { return answer.body }
        if answer.status == 409 {
            throw ServiceClientError(
                description: "cannot \(what): someone else changed it meanwhile (\(reason(answer))); run the command again")
        }
        throw failure(answer, what: what)
    }

    /// The uid of an object's body.
    static func uid(of body: [UInt8]) -> String? {
        struct Object: Decodable {
            struct Metadata: Decodable { var uid: String? }
            var metadata: Metadata
        }
        return (try? JSONDecoder().decode(Object.self, from: Data(body)))?.metadata.uid
    }

    /// The resourceVersion of an object's body.
    static func resourceVersion(of body: [UInt8]) -> String? {
        struct Object: Decodable {
            struct Metadata: Decodable { var resourceVersion: String? }
            var metadata: Metadata
        }
        return (try? JSONDecoder().decode(Object.self, from: Data(body)))?.metadata.resourceVersion
    }

    /// `DeleteOptions` that delete only the object of `uid` (at `resourceVersion`, if given):
    /// never one someone made or changed since.
    static func deleteOptions(uid: String, resourceVersion: String? = nil) -> [UInt8] {
        struct Options: Encodable {
            struct Preconditions: Encodable {
                var uid: String
                var resourceVersion: String?
            }
            var apiVersion = "v1"
            var kind = "DeleteOptions"
            var preconditions: Preconditions
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let options = Options(preconditions: .init(uid: uid, resourceVersion: resourceVersion))
        return Array((try? encoder.encode(options)) ?? Data())
    }

    /// Every object labelled for `site` on the cluster (namespaces included), found by label
    /// selector in every namespace.
    func labelled(site: String) async throws(ServiceClientError) -> [RemoteObject] {
        let selector = PercentEncoding.queryValue.encode(SiteOnboardingPlan.selector(site: site))
        var found: [RemoteObject] = []
        for kind in RemoteObject.Kind.allCases {
            let items = try await list("\(kind.clusterWidePath)?labelSelector=\(selector)", what: kind.resource)
            for item in items.sorted(by: { ($0.namespace ?? "", $0.name) < ($1.namespace ?? "", $1.name) }) {
                found.append(
                    RemoteObject(
                        kind: kind, namespace: item.namespace, name: item.name, labels: SiteOnboardingPlan.labels(site: site)))
            }
        }
        return found
    }

    /// The items of a list, as far as names go.
    func list(_ path: String, what: String) async throws(ServiceClientError) -> [(namespace: String?, name: String)] {
        let answer = try await call(.GET, path, nil, what: "list \(what)")
        guard answer.status == 200 else { throw failure(answer, what: "list \(what)") }
        struct List: Decodable {
            struct Item: Decodable {
                struct Metadata: Decodable { var name: String; var namespace: String? }
                var metadata: Metadata
            }
            var items: [Item]?
        }
        guard let list = try? JSONDecoder().decode(List.self, from: Data(answer.body)) else {
            throw ServiceClientError(description: "list \(what): the answer is not a list")
        }
        return (list.items ?? []).map { ($0.metadata.namespace, $0.metadata.name) }
    }

    /// The uid of the cluster's `kube-system` namespace: the cluster's identity, which outlives
    /// its address and certificates (Argo CD and the Cluster Inventory API use it alike). Nil
    /// when the operator may not read it.
    func clusterID(say: @Sendable (String) -> Void) async throws(ServiceClientError) -> String? {
        let answer = try await call(.GET, "/api/v1/namespaces/kube-system", nil, what: "read namespace kube-system")
        guard answer.status == 200 else {
            if answer.status == 403 || answer.status == 404 {
                say(
                    "cluster id unknown (namespace kube-system: \(answer.status)): a second name for this cluster is not detected"
                )
                return nil
            }
            throw failure(answer, what: "read namespace kube-system")
        }
        struct Namespace: Decodable {
            struct Metadata: Decodable { var uid: String? }
            var metadata: Metadata
        }
        let uid = (try? JSONDecoder().decode(Namespace.self, from: Data(answer.body)))?.metadata.uid
        if let uid { say("cluster id \(uid.printable) (the uid of namespace kube-system)") }
        return uid
    }

    /// The bootstrap account's first token, minted with the operator's credential.
    func mintBootstrap(
        _ options: SiteOnboarding.Options, say: @Sendable (String) -> Void
    ) async throws(ServiceClientError)
        -> IssuedToken
    {
        let namespace = options.plan.namespace
        let account = options.plan.bootstrap
        do {
            let issued = try await clusters.requestToken(
                at: endpoint, namespace: namespace, serviceAccount: account,
                expirationSeconds: options.bootstrapExpiration, audiences: [])
            let granted = Int(issued.expiresAt.timeIntervalSinceNow.rounded())
            say(
                "minted the bootstrap token of serviceaccount \(namespace)/\(account): expires "
                    + "\(issued.expiresAt.formatted(.iso8601)) (\(granted) s of the \(options.bootstrapExpiration) s asked)")
            return issued
        } catch {
            throw ServiceClientError(
                description: "cannot mint a token for serviceaccount \(namespace)/\(account): \(error.message)")
        }
    }

    // MARK: - Calls

    private func call(
        _ method: HTTPMethod, _ path: String, _ body: [UInt8]?, what: String
    ) async throws(ServiceClientError) -> RemoteClusters.ObjectAnswer {
        do {
            return try await clusters.call(method, path, body: body, at: endpoint)
        } catch {
            throw ServiceClientError(description: "cannot \(what): \(error.message)")
        }
    }

    private func reason(_ answer: RemoteClusters.ObjectAnswer) -> String {
        clusters.error(answer, at: endpoint).message
    }

    private func failure(_ answer: RemoteClusters.ObjectAnswer, what: String) -> ServiceClientError {
        let hint =
            switch answer.status {
            case 401: ": the context's credential was refused (expired? run a kubectl command with it to log in again)"
            case 403: ": the context's user lacks that right; site add needs a cluster administrator's context"
            default: ""
            }
        return ServiceClientError(description: "cannot \(what): \(answer.status) \(reason(answer))\(hint)")
    }
}
