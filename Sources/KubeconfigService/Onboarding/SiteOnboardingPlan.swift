import FoundationEssentials
import KubeconfigBase
import KubernetesAPI

/// What `site add` keeps on a site's cluster so that the service can issue its tokens, and nothing
/// more: the deployer account and its role, and a bootstrap account that may only mint tokens for
/// the deployer and for itself. Every object is labelled with the site; one found without those
/// labels is never taken over.
///
/// Plain values: the objects in the order they are created (a binding after its account and role),
/// and for each object found on the cluster the step that makes it what the plan says.
public struct SiteOnboardingPlan: Sendable, Equatable {
    public struct Options: Sendable, Equatable {
        /// The site's name: its context in the document, and the value of its label.
        public var site: String
        /// Where both accounts live: the context's namespace, else `default`.
        public var namespace: String
        /// The account whose tokens the service issues for deployers.
        public var deployer = "kubeconfig-deployer"
        /// The ClusterRole the deployer is bound to.
        public var clusterRole = "edit"
        /// Whether that binding is cluster-wide (a ClusterRoleBinding), not in `namespace` only.
        public var clusterWide = false
        /// The account whose token the service holds to mint the deployer's (and its own).
        public var bootstrap = "kubeconfig-bootstrap"

        public init(site: String, namespace: String) {
            self.site = site
            self.namespace = namespace
        }
    }

    /// What to do about one object, given what the cluster holds under its name.
    public enum Step: Sendable, Equatable {
        /// It is missing: create it.
        case create
        /// It is as planned (`ours`: labelled for this site; a namespace may be someone else's).
        case keep(ours: Bool)
        /// Ours, with other rules or subjects: write `object` (the plan's fields, the labels and
        /// annotations found kept) on the version read; `previous` restores what was found.
        case update(RemoteObject, resourceVersion: String, previous: RemoteObject)
        /// Ours, bound to another role, which a binding cannot change: delete the version read
        /// (`uid`, `resourceVersion`: preconditions) and create it; `previous` recreates what was found.
        case replace(uid: String, resourceVersion: String, previous: RemoteObject)
    }

    public static let managedByLabel = "app.kubernetes.io/managed-by"
    public static let managedByValue = "kubeconfig-service"
    public static let siteLabel = "kubeconfig-service.onap.org/site"

    public let options: Options
    /// In creation order; removal goes the other way.
    public let objects: [RemoteObject]

    /// - Throws: `ServiceError` (`.invalidSite`) naming the flag whose value Kubernetes would refuse.
    public init(_ options: Options) throws(ServiceError) {
        try SiteRegistration.checkName(options.site)
        guard options.site.utf8.count <= 63, Self.isLabelValue(options.site) else {
            throw SiteRegistration.invalid("name", "a site added by site add has a name of at most 63 characters (a label value)")
        }
        for (flag, value) in [
            ("--namespace", options.namespace), ("--service-account", options.deployer),
            ("bootstrap account", options.bootstrap),
        ] where !SiteRegistration.isDNSLabel(Substring(value)) {
            throw SiteRegistration.invalid(flag, "must be a DNS-1123 label: at most 63 lowercase letters, digits and '-'")
        }
        guard options.deployer != options.bootstrap else {
            throw SiteRegistration.invalid("--service-account", "must not be \(options.bootstrap), the bootstrap account's name")
        }
        guard !options.clusterRole.isEmpty, options.clusterRole != ".", options.clusterRole != "..",
            !options.clusterRole.contains("/"), !options.clusterRole.contains("%"),
            options.clusterRole.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else {
            throw SiteRegistration.invalid("--cluster-role", "is not a ClusterRole name")
        }
        self.options = options
        let labels = Self.labels(site: options.site)
        let namespace = options.namespace
        func account(_ name: String) -> RemoteObject {
            RemoteObject(kind: .serviceAccount, namespace: namespace, name: name, labels: labels)
        }
        let deployerSubject = [RemoteObject.Subject(name: options.deployer, namespace: namespace)]
        let deployerBinding =
            options.clusterWide
            ? RemoteObject(
                kind: .clusterRoleBinding, name: "kubeconfig-service:\(namespace):\(options.deployer)", labels: labels,
                roleRef: .init(kind: "ClusterRole", name: options.clusterRole), subjects: deployerSubject)
            : RemoteObject(
                kind: .roleBinding, namespace: namespace, name: options.deployer, labels: labels,
                roleRef: .init(kind: "ClusterRole", name: options.clusterRole), subjects: deployerSubject)
        objects = [
            RemoteObject(kind: .namespace, name: namespace, labels: labels),
            account(options.deployer),
            deployerBinding,
            account(options.bootstrap),
            RemoteObject(
                kind: .role, namespace: namespace, name: options.bootstrap, labels: labels,
                rules: [
                    .init(
                        apiGroups: [""], resources: ["serviceaccounts/token"], verbs: ["create"],
                        resourceNames: [options.deployer, options.bootstrap])
                ]),
            RemoteObject(
                kind: .roleBinding, namespace: namespace, name: options.bootstrap, labels: labels,
                roleRef: .init(kind: "Role", name: options.bootstrap),
                subjects: [.init(name: options.bootstrap, namespace: namespace)]),
        ]
    }

    /// Whether `name` may name a site (a DNS-1123 subdomain).
    public static func isSiteName(_ name: String) -> Bool {
        SiteRegistration.isDNSSubdomain(name)
    }

    /// The labels of every object kept for `site`.
    public static func labels(site: String) -> [String: String] {
        [managedByLabel: managedByValue, siteLabel: site]
    }

    /// The label selector of exactly the objects kept for `site`.
    public static func selector(site: String) -> String {
        "\(managedByLabel)=\(managedByValue),\(siteLabel)=\(site)"
    }

    // MARK: - Steps

    /// The step that makes `object` what the plan says, given the body of the object of its name
    /// the cluster holds (nil: none).
    ///
    /// - Throws: `ServiceError` (`.objectNotOurs`) when that object is not labelled for this site:
    ///   it is someone else's, and is never changed.
    public func step(for object: RemoteObject, existing body: [UInt8]?) throws(ServiceError) -> Step {
        guard let body else { return .create }
        let found: RemoteObject.Body
        do {
            found = try JSONDecoder().decode(RemoteObject.Body.self, from: Data(body))
        } catch {
            throw ServiceError(
                code: .apiProtocol, message: "the cluster's \(object.description) is not an object this command reads")
        }
        let labels = found.metadata.labels ?? [:]
        let ours = labels[Self.managedByLabel] == Self.managedByValue && labels[Self.siteLabel] == options.site
        if object.kind == .namespace { return .keep(ours: ours) }
        guard ours else {
            let owner =
                labels[Self.managedByLabel] == Self.managedByValue
                ? labels[Self.siteLabel].map { "it belongs to site \($0.printable)" } ?? "it names no site"
                : "it is not labelled \(Self.managedByLabel)=\(Self.managedByValue), \(Self.siteLabel)=\(options.site)"
            throw ServiceError(
                code: .objectNotOurs,
                message: "\(object.description) exists and \(owner): it is not taken over. Delete it, or choose "
                    + "another --namespace or --service-account")
        }
        let changed =
            found.roleRef != object.roleRef || (found.rules ?? []) != (object.rules ?? [])
            || (found.subjects ?? []) != (object.subjects ?? [])
        guard changed else { return .keep(ours: true) }
        guard let resourceVersion = found.metadata.resourceVersion, !resourceVersion.isEmpty,
            let uid = found.metadata.uid, !uid.isEmpty
        else {
            throw ServiceError(
                code: .apiProtocol, message: "the cluster's \(object.description) has no resourceVersion or uid to write it on")
        }
        let previous = RemoteObject(
            kind: object.kind, namespace: object.namespace, name: object.name, labels: labels,
            annotations: found.metadata.annotations, rules: found.rules, roleRef: found.roleRef, subjects: found.subjects)
        if found.roleRef != object.roleRef {
            return .replace(uid: uid, resourceVersion: resourceVersion, previous: previous)
        }
        var updated = object
        updated.labels = labels.merging(object.labels) { _, ours in ours }
        updated.annotations = found.metadata.annotations
        return .update(updated, resourceVersion: resourceVersion, previous: previous)
    }

    /// The objects labelled for this site on the cluster that the plan no longer holds (kept by an
    /// earlier run with other flags: another account, a cluster-wide binding): deleted once the
    /// site is registered, so that the rights are exactly the plan's. Namespaces are never among them.
    public func stale(_ labelled: [RemoteObject]) -> [RemoteObject] {
        labelled.filter { found in
            found.kind != .namespace && !objects.contains { $0.names(sameAs: found) }
        }
    }

    /// A label value: at most 63 characters, alphanumerics with '-', '_' or '.' inside.
    public static func isLabelValue(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count <= 63 else { return false }
        guard let first = bytes.first, let last = bytes.last else { return true }
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

extension ServiceError.Code {
    /// An object `site add` would keep exists on the site's cluster without the site's labels.
    public static let objectNotOurs = Self(rawValue: "ObjectNotOurs")
}
