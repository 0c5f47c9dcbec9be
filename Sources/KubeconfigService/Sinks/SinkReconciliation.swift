import KubeconfigBase
import KubernetesAPI

/// One pass of a sink, as plain values: from what the document wants and what the namespace
/// holds, the writes that make them agree.
///
/// - A wanted Secret that is missing is created; one of ours that differs is replaced on the
///   version read; one that already says it is left alone (replicas converge without writing).
/// - One of ours that no selected site wants any more (the site removed or deselected, while this
///   process ran or not) is deleted, on its uid and version read. A site still selected whose
///   credential cannot be written for now (skipped: another writer put an exec user in it, say)
///   keeps its last Secret: deleting it would make Argo CD drop the cluster's Applications.
/// - One of ours written from a later document version than the one decided on is left alone:
///   this replica has not seen that version yet, and will (no flapping between replicas).
/// - An object of a wanted name that is not ours (not labelled as this sink's, or written for
///   another document) is never touched: the site gets an error naming it.
public struct SinkReconciliation: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case create(SinkSecret)
        case replace(SinkSecret, resourceVersion: String)
        case delete(name: String, site: String?, uid: String, resourceVersion: String)
    }

    public var actions: [Action] = []
    /// Sites whose Secret's name is taken by an object that is not ours: why.
    public var foreign: [String: String] = [:]
    /// Sites whose Secret already says what the document does.
    public var current: Set<String> = []
    /// Sites whose Secret was written from a later document version than this one.
    public var ahead: Set<String> = []

    /// - Parameters:
    ///   - plans: the derivation's plans, by site.
    ///   - observed: the namespace's Secrets labelled as this sink's, by name (the watch's cache),
    ///     and any object of a wanted name found otherwise (a create that found one).
    ///   - version: the resourceVersion of the document version the plans come from.
    public init(
        plans: [String: SitePlan], observed: [String: SecretObject], kind: SinkKind, namespace: String, document: String,
        version: String
    ) {
        var wanted: Set<String> = []
        for (site, plan) in plans.sorted(by: { $0.key < $1.key }) {
            guard case .write(let secret) = plan else {
                wanted.insert(kind.secretName(site: site))
                continue
            }
            wanted.insert(secret.name)
            guard let found = observed[secret.name] else {
                actions.append(.create(secret))
                continue
            }
            guard SinkSecret.isOurs(found, kind: kind, document: document) else {
                foreign[site] = SinkSecret.whyNotOurs(found, kind: kind, namespace: namespace)
                continue
            }
            if secret.isWritten(as: found) {
                current.insert(site)
            } else if SinkSecret.isNewer(found, than: version) {
                ahead.insert(site)
            } else {
                actions.append(.replace(secret, resourceVersion: found.metadata.resourceVersion ?? ""))
            }
        }
        for (name, found) in observed.sorted(by: { $0.key < $1.key }) where !wanted.contains(name) {
            guard SinkSecret.isOurs(found, kind: kind, document: document), !SinkSecret.isNewer(found, than: version),
                let uid = found.metadata.uid, let objectVersion = found.metadata.resourceVersion
            else { continue }
            actions.append(
                .delete(
                    name: name, site: found.metadata.annotations?[SinkSecret.siteAnnotation], uid: uid,
                    resourceVersion: objectVersion))
        }
    }
}
