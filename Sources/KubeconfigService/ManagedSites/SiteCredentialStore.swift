import FoundationEssentials
import HTTPMessages
import KubeconfigBase
import KubernetesAPI
import Logging
import Synchronization

/// The credentials Secret (`--credentials-secret`): one data key per managed registration,
/// `<site>_<registration>`, holding its bootstrap credential and what its tokens are issued for,
/// as JSON. (A key that is a site name alone was written before registrations had ids; it is
/// read, and removed like any other once no record names it.)
///
/// A registration's key is added before the document names it and removed after the document
/// stopped naming it, each by its exact key: a write here can never touch another registration,
/// of the same site or another. Other keys are never touched. The Secret is never created here
/// (the chart creates it empty).
public struct SiteCredentialStore: Sendable {
    public let api: any DataObjectAPI
    public let namespace: String
    public let name: String
    private let logger: Logger
    /// Keys already reported as unreadable: each is logged once, not at every pass.
    private let reported = Reported()

    private final class Reported: Sendable {
        /// Every key ever logged as unreadable.
        let keys = Mutex<Set<String>>([])
        /// The unreadable keys of the last read.
        let unreadable = Mutex<Set<String>>([])
    }

    /// One entry of the Secret: the site, its data key, and the registration it holds.
    public struct Entry: Sendable, Equatable {
        public var site: String
        public var key: String
        public var credential: ManagedCredential
    }

    public init(api: any DataObjectAPI, namespace: String, name: String, logger: Logger) {
        self.api = api
        self.namespace = namespace
        self.name = name
        self.logger = logger
    }

    /// The data key of `registration` of `site`. Site names never hold `_` (DNS-1123), so the
    /// last `_` separates the two.
    public static func key(site: String, registration: String) -> String { "\(site)_\(registration)" }

    /// Every readable entry. One that cannot be read is left out (and logged once, by key only):
    /// it may be another version's, so it is never removed here; `unreadableKeys` lists them.
    public func read() async throws(ServiceError) -> [Entry] {
        try decode(try await object())
    }

    /// The keys of the last read that were not a managed registration.
    public var unreadableKeys: [String] { reported.unreadable.withLock { $0.sorted() } }

    /// Stores a new registration under its own key.
    public func add(_ credential: ManagedCredential, site: String) async throws(ServiceError) {
        let key = Self.key(site: site, registration: credential.registration)
        let value = Data(Self.encode(credential).utf8).base64EncodedString()
        try await patch { _ in [key: value] }
    }

    /// Removes the entries of `site` that hold `registration`, and nothing else: a key named
    /// after the registration as is; an older key named after the site alone only while it still
    /// holds that registration. Returns whether one was there.
    @discardableResult
    public func remove(site: String, registration: String) async throws(ServiceError) -> Bool {
        var found = false
        try await patch { entries in
            let keys = entries.filter { $0.site == site && $0.credential.registration == registration }.map(\.key)
            found = !keys.isEmpty
            return keys.isEmpty ? nil : Dictionary(uniqueKeysWithValues: keys.map { ($0, String?.none) })
        }
        return found
    }

    /// What `replaceBootstrap` found.
    public enum BootstrapReplacement: Sendable, Equatable {
        /// The entry holds the new credential now.
        case written
        /// The entry holds a newer one (a later expiry: another replica renewed it): kept, and
        /// to be adopted instead of the one offered.
        case newer(BearerToken)
        /// No entry holds the registration any more (removed or replaced meanwhile).
        case gone
    }

    /// Writes `token` as the bootstrap credential of `registration` of `site`, into the key that
    /// holds it, conditional on the version read (a conflict is read again). An entry holding a
    /// credential as new (an `exp` as late or later) is left as it is and its credential returned.
    public func replaceBootstrap(
        site: String, registration: String, with token: BearerToken
    ) async throws(ServiceError) -> BootstrapReplacement {
        var outcome = BootstrapReplacement.gone
        try await patch { entries in
            guard let entry = entries.first(where: { $0.site == site && $0.credential.registration == registration })
            else {
                outcome = .gone
                return nil
            }
            let stored = entry.credential.bootstrapToken
            if stored == token {
                outcome = .written
                return nil
            }
            // As late counts as newer: the first writer wins, the others adopt its credential.
            if (stored.claims?.expiresAt ?? .distantPast) >= (token.claims?.expiresAt ?? .distantPast) {
                outcome = .newer(stored)
                return nil
            }
            var credential = entry.credential
            credential.bootstrapToken = token
            outcome = .written
            return [entry.key: Data(Self.encode(credential).utf8).base64EncodedString()]
        }
        return outcome
    }

    /// Reads the Secret, asks `change` for the data keys to set (nil: none), and patches them,
    /// conditional on the version read (`ConditionalWrite`: a conflict is read again).
    private func patch(_ change: ([Entry]) -> [String: String?]?) async throws(ServiceError) {
        try await ConditionalWrite("secret \(namespace)/\(name)", attempts: 10).run { () async throws(ServiceError) in
            let current = try await object()
            guard let data = change(try decode(current)) else { return }
            _ = try await api.patchDataObject(
                .secrets, namespace: namespace, name: name,
                DataObjectPatch(resourceVersion: current.metadata.resourceVersion, data: data))
        }
    }

    private func object() async throws(ServiceError) -> DataObject {
        do throws(ServiceError) {
            return try await api.dataObject(.secrets, namespace: namespace, name: name)
        } catch  where error.code == .apiNotFound {
            throw ServiceError(
                code: .secretNotFound,
                message: "secret \(namespace)/\(name) (--credentials-secret) not found; create it empty, as the Helm "
                    + "chart does: this service never creates it")
        }
    }

    private func decode(_ object: DataObject) throws(ServiceError) -> [Entry] {
        var entries: [Entry] = []
        var unreadable: Set<String> = []
        defer { reported.unreadable.withLock { $0 = unreadable } }
        for (key, value) in object.data ?? [:] {
            let site = key.lastIndex(of: "_").map { String(key[..<$0]) } ?? key
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            guard let bytes = Data(base64Encoded: value),
                let credential = try? decoder.decode(ManagedCredential.self, from: bytes),
                key == site || key == Self.key(site: site, registration: credential.registration)
            else {
                unreadable.insert(key)
                guard reported.keys.withLock({ $0.insert(key).inserted }) else { continue }
                logger.warning(
                    "an entry of the credentials secret is not a managed site's credential; ignoring it",
                    metadata: ["secret": "\(namespace)/\(name)", "key": "\(key.printable)"])
                continue
            }
            entries.append(Entry(site: site, key: key, credential: credential))
        }
        return entries.sorted { $0.key < $1.key }
    }

    static func encode(_ credential: ManagedCredential) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: (try? encoder.encode(credential)) ?? Data(), as: UTF8.self)
    }
}
