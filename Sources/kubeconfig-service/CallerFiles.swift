import FoundationEssentials
import KubeconfigBase
import ServiceAssembly

/// The caller's own token for the service and the CA of its certificate, read from the files the
/// `credential` and `kubeconfig` commands name: the token from `--service-token-file`, else the
/// file `$KUBECONFIG_SERVICE_TOKEN_FILE` names.
struct CallerFiles {
    var token: BearerToken
    var certificateAuthority: [UInt8]?

    init(tokenFile: String?, caFile: String?) throws(ServiceClientError) {
        let environment = ProcessInfo.processInfo.environment
        let token: String
        let source: String
        if let tokenFile = tokenFile ?? environment["KUBECONFIG_SERVICE_TOKEN_FILE"] {
            token = try Self.read(tokenFile, what: "the token file").trimmingWhitespaceAndNewlines()
            source = "the token file \(tokenFile)"
        } else if let value = environment["KUBECONFIG_SERVICE_TOKEN"] {
            token = value.trimmingWhitespaceAndNewlines()
            source = "KUBECONFIG_SERVICE_TOKEN"
        } else {
            throw ServiceClientError(
                description: "no token for the service: give --service-token-file, or set KUBECONFIG_SERVICE_TOKEN_FILE "
                    + "or KUBECONFIG_SERVICE_TOKEN")
        }
        guard !token.isEmpty, !token.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
            throw ServiceClientError(
                description: "\(source) holds no token (empty, or spaces or control characters inside)")
        }
        self.token = BearerToken(token)
        certificateAuthority = try caFile.map { file throws(ServiceClientError) in
            Array(try Self.read(file, what: "--service-ca-file").utf8)
        }
    }

    private static func read(_ path: String, what: String) throws(ServiceClientError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ServiceClientError(description: "cannot read \(what) \(path)")
        }
        return text
    }
}
