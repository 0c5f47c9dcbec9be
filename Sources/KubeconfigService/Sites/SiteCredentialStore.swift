import FoundationEssentials
import HTTPMessages
import KubernetesAPI
import Logging
import Synchronization

/// The credentials Secret (`--credentials-secret`): one data key per managed site, holding its
/// bootstrap credential and what its tokens are issued for, as JSON.
///
/// Written with the same discipline as the document: a JSON merge patch of one key, conditional
/// on the `resourceVersion` read, read again and retried on a conflict; other keys are never
/// touched. The Secret is never created here (the chart creates it empty).
public struct SiteCredentialStore: Sendable {
    public let api: any DataObjectAPI
    public let namespace: String
    public let name: String
    private let logger: Logger
    /// Keys already reported as unreadable: each is logged once, not at every pass.
    private let reported = Reported()

    private final class Reported: Sendable {
        let keys = Mutex<Set<String>>([])
    }

    public init(api: any DataObjectAPI, namespace: String, name: String, logger: Logger) {
        self.api = api
        self.namespace = namespace
        self.name = name
        self.logger = logger
    }

    /// Every managed site's credential. An entry that cannot be read is left out (and logged,
    /// by key only): that site is then renewed by nobody, which its expiry metric shows.
    public func read() async throws(ServiceError) -> [String: ManagedCredential] {
        try decode(try await object())
    }

    /// Sets (or, with nil, removes) the credential of `site`.
    public func set(_ site: String, _ credential: ManagedCredential?) async throws(ServiceError) {
        let value: String? = credential.map { Data(Self.encode($0).utf8).base64EncodedString() }
        var lastConflict: ServiceError?
        for _ in 0..<10 {
            let current = try await object()
            if current.data?[site] == value { return }
            do throws(ServiceError) {
                _ = try await api.patchDataObject(
                    .secrets, namespace: namespace, name: name,
                    DataObjectPatch(resourceVersion: current.metadata.resourceVersion, data: [site: value]))
                return
            } catch  where error.code == .apiConflict {
                lastConflict = error
            }
        }
        throw ServiceError(
            code: .conflict, message: "secret \(namespace)/\(name) kept changing: \(lastConflict?.message ?? "conflict")")
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

    private func decode(_ object: DataObject) throws(ServiceError) -> [String: ManagedCredential] {
        var credentials: [String: ManagedCredential] = [:]
        for (key, value) in object.data ?? [:] {
            guard let bytes = Data(base64Encoded: value),
                let credential = try? JSONDecoder().decode(ManagedCredential.self, from: bytes)
            else {
                guard reported.keys.withLock({ $0.insert(key).inserted }) else { continue }
                logger.warning(
                    "an entry of the credentials secret is not a managed site's credential; ignoring it",
                    metadata: ["secret": "\(namespace)/\(name)", "key": "\(HTTPServerRequest.printable(key))"])
                continue
            }
            credentials[key] = credential
        }
        return credentials
    }

    static func encode(_ credential: ManagedCredential) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(credential)) ?? Data(), as: UTF8.self)
    }
}
