import Foundation
import KubeconfigBase
import Testing

@testable import KubernetesAPI

@Suite struct InClusterDiscoveryTests {
    @Test(arguments: [
        ("10.96.0.1", "443", "https://10.96.0.1:443"),
        ("fd00::1", "443", "https://[fd00::1]:443"),
        ("kubernetes.default.svc", "6443", "https://kubernetes.default.svc:6443"),
    ])
    func serverIsBuiltLikeClientGo(host: String, port: String, expected: String) throws {
        let discovery = InClusterDiscovery(environment: ["KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port])
        #expect(try discovery.server() == expected)
    }

    @Test(arguments: [
        [:], ["KUBERNETES_SERVICE_HOST": "10.0.0.1"], ["KUBERNETES_SERVICE_PORT": "443"],
        ["KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "443"],
    ])
    func aMissingVariableIsNamedWithItsPartner(environment: [String: String]) {
        #expect {
            try InClusterDiscovery(environment: environment).server()
        } throws: { error in
            let error = error as? ServiceError
            return error?.code == .notInCluster && error?.message.contains("KUBERNETES_SERVICE_HOST") == true
                && error?.message.contains("KUBERNETES_SERVICE_PORT") == true
        }
    }

    @Test func aNonNumericPortIsRefused() {
        let discovery = InClusterDiscovery(environment: ["KUBERNETES_SERVICE_HOST": "h", "KUBERNETES_SERVICE_PORT": "https"])
        #expect(throws: ServiceError.self) { try discovery.server() }
    }

    @Test func tokenAndCAAreReadAnewThroughTheDataSymlink() throws {
        let folder = try ServiceAccountFolder()
        let discovery = InClusterDiscovery(
            environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"],
            serviceAccountDirectory: folder.path)
        try folder.write(token: "first\n")
        #expect(try discovery.readCredentials().token.value == "first")
        try folder.write(token: "second")
        #expect(try discovery.readCredentials().token.value == "second")
        #expect(try discovery.namespace() == "onap")
    }

    @Test func anUnreadableOrInvalidCAIsReported() throws {
        let folder = try ServiceAccountFolder()
        try folder.write(token: "t", ca: "not a certificate")
        let discovery = InClusterDiscovery(
            environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"],
            serviceAccountDirectory: folder.path)
        #expect {
            try discovery.readCredentials()
        } throws: { ($0 as? ServiceError)?.code == .serviceAccountUnreadable }
        let missing = InClusterDiscovery(
            environment: discovery.environment, serviceAccountDirectory: folder.path + "/nowhere")
        #expect {
            try missing.readCredentials()
        } throws: { ($0 as? ServiceError)?.message.contains("nowhere/token") == true }
    }

    @Test(arguments: [("/nowhere/sa", "/nowhere/sa/token"), ("/nowhere/sa/", "/nowhere/sa/token"), ("", "token")])
    func aFileIsNamedInItsFolderWithOneSlash(folder: String, file: String) {
        let discovery = InClusterDiscovery(
            environment: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"],
            serviceAccountDirectory: folder)
        #expect {
            try discovery.readCredentials()
        } throws: { ($0 as? ServiceError)?.message == "cannot read \(file)" }
    }
}

/// A service-account folder laid out as kubelet does: files in a timestamped folder, a `..data`
/// symlink to it, and `token`, `ca.crt`, `namespace` linking through `..data`.
struct ServiceAccountFolder {
    let path: String
    /// A real self-signed certificate (public part only), made once with openssl for these tests.
    private static let ca = """
        -----BEGIN CERTIFICATE-----
        MIIBhjCCASugAwIBAgIUH7O6dfZDovv4OjMo7BD8FXX16uEwCgYIKoZIzj0EAwIw
        FzEVMBMGA1UEAwwMdW5pdC10ZXN0LWNhMCAXDTI2MTEyNjIzMTcxOVoYDzIxMjYx
        MTAyMjMxNzE5WjAXMRUwEwYDVQQDDAx1bml0LXRlc3QtY2EwWTATBgcqhkjOPQIB
        BggqhkjOPQMBBwNCAASsL5XA8J3EOXLKIre0AUA+O+RO4C8iF5uyvEXlJWCfy8Ip
        vGTz5mb/f4qyvfSrwYniFmERiWMsc4LTC9SEIjzyo1MwUTAdBgNVHQ4EFgQUfMub
        3XB5LQKKrOLHvYGczD2rQpIwHwYDVR0jBBgwFoAUfMub3XB5LQKKrOLHvYGczD2r
        QpIwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEA++BRcLfLxW/m
        QI24j4EA/lu2Gxm3/xW7hXR+P6sN+xUCIQCmuA9gjXPzeomt0SzLdFCrnr16+rDb
        PFgQ32udax5LlQ==
        -----END CERTIFICATE-----

        """

    init() throws {
        path = NSTemporaryDirectory() + "sa-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for name in ["token", "ca.crt", "namespace"] {
            try FileManager.default.createSymbolicLink(atPath: "\(path)/\(name)", withDestinationPath: "..data/\(name)")
        }
    }

    func write(token: String, ca: String = Self.ca, namespace: String = "onap\n") throws {
        let version = "\(path)/..\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: version, withIntermediateDirectories: false)
        try token.write(toFile: "\(version)/token", atomically: false, encoding: .utf8)
        try ca.write(toFile: "\(version)/ca.crt", atomically: false, encoding: .utf8)
        try namespace.write(toFile: "\(version)/namespace", atomically: false, encoding: .utf8)
        // Swap ..data atomically, as kubelet's AtomicWriter does: new link, then rename over.
        let temporary = "\(path)/..data_tmp"
        try? FileManager.default.removeItem(atPath: temporary)
        try FileManager.default.createSymbolicLink(
            atPath: temporary, withDestinationPath: (version as NSString).lastPathComponent)
        guard rename(temporary, "\(path)/..data") == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
}
