import FoundationEssentials
import KubeconfigBase
import NIOSSL

/// What Kubernetes hands every pod: the API server address and the service account's files.
public struct ClusterCredentials: Sendable, Equatable {
    /// `https://host:port`, IPv6 literals bracketed.
    public var server: String
    /// The cluster CA bundle, PEM.
    public var certificateAuthority: [UInt8]
    /// The pod's service-account token.
    public var token: BearerToken

    public init(server: String, certificateAuthority: [UInt8], token: BearerToken) {
        self.server = server
        self.certificateAuthority = certificateAuthority
        self.token = token
    }
}

/// Finds the in-cluster API server the way client-go's `rest.InClusterConfig` does.
///
/// Nothing is cached: the token and CA are read anew on every call, because kubelet rotates
/// projected tokens by swapping a `..data` symlink, and opening the path follows it.
public struct InClusterDiscovery: Sendable {
    public static let defaultServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The process environment (or a test's).
    public var environment: [String: String]
    /// Folder with `token`, `ca.crt` and `namespace`.
    public var serviceAccountDirectory: String

    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory: String = Self.defaultServiceAccountDirectory
    ) {
        self.environment = environment
        self.serviceAccountDirectory = serviceAccountDirectory
    }

    /// `https://HOST:PORT` from `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`.
    public func server() throws(ServiceError) -> String {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
            let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw ServiceError(
                code: .notInCluster,
                message:
                    "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"
            )
        }
        guard let portNumber = UInt16(port), portNumber > 0 else {
            throw ServiceError(code: .notInCluster, message: "KUBERNETES_SERVICE_PORT is not a port number: \(port)")
        }
        return "https://\(Self.joinHostPort(host, portNumber))"
    }

    /// As Go's `net.JoinHostPort`: a host containing a colon is an IPv6 literal and is bracketed.
    static func joinHostPort(_ host: String, _ port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Server, CA and token, read now.
    public func readCredentials() throws(ServiceError) -> ClusterCredentials {
        let server = try server()
        let token = try readFile("token")
        let tokenText = String(decoding: token, as: UTF8.self).trimmingWhitespaceAndNewlines()
        guard !tokenText.isEmpty else {
            throw ServiceError(code: .serviceAccountUnreadable, message: "\(path("token")) is empty")
        }
        let ca = try readFile("ca.crt")
        do {
            guard try !NIOSSLCertificate.fromPEMBytes(ca).isEmpty else {
                throw ServiceError(code: .serviceAccountUnreadable, message: "\(path("ca.crt")) holds no certificate")
            }
        } catch let error as ServiceError {
            throw error
        } catch {
            throw ServiceError(code: .serviceAccountUnreadable, message: "\(path("ca.crt")) is not a PEM certificate bundle")
        }
        return ClusterCredentials(server: server, certificateAuthority: ca, token: BearerToken(tokenText))
    }

    /// The pod's namespace, from the service-account folder.
    public func namespace() throws(ServiceError) -> String {
        let text = String(decoding: try readFile("namespace"), as: UTF8.self)
            .trimmingWhitespaceAndNewlines()
        guard !text.isEmpty else {
            throw ServiceError(code: .serviceAccountUnreadable, message: "\(path("namespace")) is empty; pass --namespace")
        }
        return text
    }

    private func path(_ file: String) -> String {
        // One slash between folder and file, and none after an empty folder, as
        // `NSString.appendingPathComponent` joined them.
        serviceAccountDirectory.isEmpty || serviceAccountDirectory.hasSuffix("/")
            ? serviceAccountDirectory + file : serviceAccountDirectory + "/" + file
    }

    private func readFile(_ file: String) throws(ServiceError) -> [UInt8] {
        let path = path(file)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ServiceError(code: .serviceAccountUnreadable, message: "cannot read \(path)")
        }
        return Array(data)
    }
}
