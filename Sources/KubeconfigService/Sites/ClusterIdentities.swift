import FoundationEssentials
import KubeconfigBase

/// Which cluster each registered site is, by its cluster id (the remote's `kube-system`
/// namespace UID, which `site add` reads): one annotation of the document's object,
/// `kubeconfig-service.onap.org/cluster-ids`, a JSON object from site name to id.
///
/// It lives in the document, not in the credentials Secret, so that a registration checks it and
/// writes it in the same conditional write as the site's entries: two registrations of one
/// cluster under two names, at once in two replicas, cannot both land (the second round re-reads
/// after its 409 and finds the first). Static sites have no Secret entry, and are covered too.
///
/// The invariant: no two sites hold the same id, unless the later one was registered with
/// `allowDuplicateCluster`. An id is kept only while its site's context is in the document.
public struct ClusterIdentities: Sendable, Equatable {
    public static let annotationKey = "kubeconfig-service.onap.org/cluster-ids"

    /// Site name → cluster id.
    public private(set) var ids: [String: String]

    public init(_ ids: [String: String] = [:]) { self.ids = ids }

    /// The ids the annotation holds; an unreadable annotation holds none (it is written anew by
    /// the next registration, with what it then knows).
    public init(annotations: [String: String]) {
        let text = annotations[Self.annotationKey] ?? ""
        ids = (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }

    public subscript(site: String) -> String? { ids[site] }

    /// Sets (or with nil, removes) the id of `site`.
    public mutating func set(_ id: String?, site: String) { ids[site] = id }

    /// Drops the ids of sites that have no context any more (removed by another writer).
    mutating func keep(sites: Set<String>) { ids = ids.filter { sites.contains($0.key) } }

    /// The other site, of those in `sites`, registered as the cluster `id`, when registering it
    /// as `site` would make a second name for it. Registering a site again under the same id is
    /// never a conflict (even when a duplicate was allowed meanwhile): it adds no name.
    func conflict(registering site: String, as id: String, among sites: Set<String>) -> String? {
        guard ids[site] != id else { return nil }
        return ids.filter { $0.key != site && $0.value == id && sites.contains($0.key) }.keys.sorted().first
    }

    /// Writes the ids into `annotations` (the annotation removed when none is left).
    func write(into annotations: inout [String: String]) {
        guard !ids.isEmpty else {
            annotations[Self.annotationKey] = nil
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        annotations[Self.annotationKey] = String(decoding: (try? encoder.encode(ids)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The refusal of registering `site` as the cluster `other` is already registered as.
    static func conflictError(site: String, other: String, id: String) -> ServiceError {
        ServiceError(
            code: .siteClusterConflict,
            message: "site \(site) was not registered: that cluster (kube-system uid \(id)) is already registered as site "
                + "\(other); remove \(other) first, or register with allowDuplicateCluster: true")
    }

    // MARK: - The registration's field

    /// A cluster id: 1 to 128 printable ASCII characters, no whitespace.
    static func check(_ id: String, field: String) throws(ServiceError) {
        guard !id.isEmpty, id.utf8.count <= 128, id.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw SiteRegistration.invalid(
                field, "must be 1 to 128 printable ASCII characters without whitespace (the kube-system namespace's uid)")
        }
    }
}

extension DocumentContent {
    /// Records `site` as the cluster `id` (nil: no id), refusing a second name for a cluster
    /// unless `allowDuplicate`. Called in the registration's round, before it writes.
    mutating func registerCluster(_ id: String?, site: String, allowDuplicate: Bool) throws(ServiceError) {
        var identities = ClusterIdentities(annotations: annotations)
        let sites = Set(kubeconfig.contexts.map(\.name))
        if let id, !allowDuplicate, let other = identities.conflict(registering: site, as: id, among: sites) {
            throw ClusterIdentities.conflictError(site: site, other: other, id: id)
        }
        let before = identities
        identities.keep(sites: sites)
        identities.set(id, site: site)
        guard identities != before else { return }
        identities.write(into: &annotations)
    }

    /// Forgets the cluster id of a removed site.
    mutating func removeCluster(site: String) {
        var identities = ClusterIdentities(annotations: annotations)
        guard identities[site] != nil else { return }
        identities.set(nil, site: site)
        identities.write(into: &annotations)
    }
}
