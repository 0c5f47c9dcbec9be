import FoundationEssentials
import KubeconfigBase

/// The labels each registered site carries, which the sinks copy onto its Secrets and select
/// sites by: one annotation of the document's object, `kubeconfig-service.onap.org/site-labels`,
/// a JSON object from site name to its labels.
///
/// Kept in the document (as `ClusterIdentities` are), not in the kubeconfig, which a client may
/// not carry unknown fields in: a registration writes them in the same conditional write as the
/// site's entries, every replica reads the same ones, and a site removed by any writer loses
/// them. The central site's labels come from `serve --site-label` instead.
public struct SiteLabels: Sendable, Equatable {
    public static let annotationKey = "kubeconfig-service.onap.org/site-labels"

    /// Site name → labels.
    public private(set) var labels: [String: [String: String]]

    public init(_ labels: [String: [String: String]] = [:]) { self.labels = labels }

    /// The labels the annotation holds; an unreadable annotation holds none.
    public init(annotations: [String: String]) {
        let text = annotations[Self.annotationKey] ?? ""
        labels = (try? JSONDecoder().decode([String: [String: String]].self, from: Data(text.utf8))) ?? [:]
    }

    public subscript(site: String) -> [String: String] { labels[site] ?? [:] }

    /// Sets (or with none, removes) the labels of `site`.
    public mutating func set(_ siteLabels: [String: String], site: String) {
        labels[site] = siteLabels.isEmpty ? nil : siteLabels
    }

    /// Drops the labels of sites that have no context any more.
    mutating func keep(sites: Set<String>) { labels = labels.filter { sites.contains($0.key) } }

    /// Writes the labels into `annotations` (the annotation removed when none is left).
    func write(into annotations: inout [String: String]) {
        guard !labels.isEmpty else {
            annotations[Self.annotationKey] = nil
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        annotations[Self.annotationKey] = String(decoding: (try? encoder.encode(labels)) ?? Data("{}".utf8), as: UTF8.self)
    }

    // MARK: - Validation, as Kubernetes validates labels

    /// Label keys the sinks set themselves, which a registration may not set.
    static let reservedKeys: Set<String> = [
        SinkSecret.managedByLabel, SinkSecret.sinkLabel, SinkSecret.siteLabel, SinkSecret.argoCDSecretTypeLabel,
        SinkSecret.fluxWatchLabel,
    ]

    /// Checks `labels` as Kubernetes checks an object's labels, and refuses the keys the sinks
    /// set themselves.
    /// - Throws: `.invalidSite` naming `field` and the label.
    public static func check(_ labels: [String: String], field: String) throws(ServiceError) {
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            guard isKey(key) else {
                throw SiteRegistration.invalid(
                    field,
                    "\"\(key.prefix(80))\" is not a label key: an optional DNS subdomain prefix and '/', then at most 63 "
                        + "letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
            }
            guard isValue(value) else {
                throw SiteRegistration.invalid(
                    field,
                    "the value of \(key) is not a label value: at most 63 letters, digits, '-', '_' and '.', starting "
                        + "and ending with a letter or digit (or empty)")
            }
            guard !reservedKeys.contains(key) else {
                throw SiteRegistration.invalid(field, "\(key) is set by the service itself")
            }
        }
        guard labels.count <= 64 else { throw SiteRegistration.invalid(field, "at most 64 labels") }
    }

    /// A qualified label key: `[prefix/]name`.
    static func isKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 {
            return SiteRegistration.isDNSSubdomain(String(parts[0])) && isName(parts[1])
        }
        return isName(Substring(key))
    }

    /// A label value: empty, or a name.
    static func isValue(_ value: String) -> Bool {
        value.isEmpty || isName(Substring(value))
    }

    /// At most 63 of `[A-Za-z0-9-_.]`, alphanumeric at both ends.
    private static func isName(_ name: Substring) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return alphanumeric(first) && alphanumeric(last)
            && bytes.allSatisfy {
                alphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
            }
    }
}

extension DocumentContent {
    /// Records `labels` as the labels of `site` (none: removes them), and drops those of sites
    /// gone. Called in the registration's round.
    mutating func registerLabels(_ labels: [String: String], site: String) {
        var siteLabels = SiteLabels(annotations: annotations)
        let before = siteLabels
        siteLabels.keep(sites: Set(kubeconfig.contexts.map(\.name)))
        siteLabels.set(labels, site: site)
        guard siteLabels != before else { return }
        siteLabels.write(into: &annotations)
    }

    /// Forgets the labels of a removed site.
    mutating func removeLabels(site: String) {
        var siteLabels = SiteLabels(annotations: annotations)
        guard !siteLabels[site].isEmpty else { return }
        siteLabels.set([:], site: site)
        siteLabels.write(into: &annotations)
    }
}
