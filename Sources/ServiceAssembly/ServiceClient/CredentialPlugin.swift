import AsyncHTTPClient
import FoundationEssentials
import KubeconfigBase
import KubeconfigService
import NIOHTTP1

/// kubectl's exec credential plugin for one site (`kubeconfig-service credential`): asks the
/// service for a fresh token of the site (`POST /sites/{name}/token`) with the caller's own
/// token, and hands it to client-go as an `ExecCredential` of the API version client-go asked
/// for (`KUBERNETES_EXEC_INFO`). Failures are one line for kubectl to show; nothing but the
/// credential is ever written to standard output.
public struct CredentialPlugin: Sendable {
    public var site: String
    /// The service's base URL: `https://...`, or `http://` on a loopback address only.
    public var service: String
    /// The caller's own token for the service (never the site's).
    public var token: BearerToken
    /// PEM roots the service's certificate must chain to; nil: the system's.
    public var certificateAuthority: [UInt8]?
    public var timeout: Duration = .seconds(30)

    public init(site: String, service: String, token: BearerToken, certificateAuthority: [UInt8]?) {
        self.site = site
        self.service = service
        self.token = token
        self.certificateAuthority = certificateAuthority
    }

    /// The API versions of `ExecCredential` client-go speaks, and this plugin answers in.
    static let apiVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

    /// The version `KUBERNETES_EXEC_INFO` asks for (v1 without one, as client-go always sets it).
    static func apiVersion(execInfo: String?) throws(ServiceClientError) -> String {
        guard let execInfo, !execInfo.isEmpty else { return apiVersions[0] }
        struct Info: Decodable { var apiVersion: String? }
        guard let info = try? JSONDecoder().decode(Info.self, from: Data(execInfo.utf8)), let version = info.apiVersion
        else { throw ServiceClientError(description: "KUBERNETES_EXEC_INFO is not an ExecCredential") }
        guard apiVersions.contains(version) else {
            throw ServiceClientError(
                description: "KUBERNETES_EXEC_INFO asks for \(version.printable); this plugin speaks "
                    + apiVersions.joined(separator: " and "))
        }
        return version
    }

    /// The `ExecCredential` to print for `execInfo`.
    public func credential(execInfo: String?) async throws(ServiceClientError) -> [UInt8] {
        let version = try Self.apiVersion(execInfo: execInfo)
        let answer = try await call.send(.POST, Self.tokenPath(site), accept: "application/json")
        return try Self.credential(status: answer.status, body: answer.body, apiVersion: version, site: site)
    }

    /// A kubeconfig of the site whose user runs this plugin (`GET /kubeconfig?site=NAME&credentials=exec`),
    /// with `arguments` added to the plugin's own (the caller's token and CA files, say): no secret in it.
    public func kubeconfig(pluginArguments arguments: [String]) async throws(ServiceClientError) -> String {
        let path = "/kubeconfig?site=" + PercentEncoding.queryValue.encode(site) + "&credentials=exec"
        let answer = try await call.send(.GET, path, accept: "application/yaml")
        guard answer.status == 200 else {
            throw ServiceClientError(
                description: "the service refused the kubeconfig of site \(site.printable): \(answer.status), "
                    + ServiceCall.refusal(answer.body))
        }
        guard let text = String(validating: answer.body, as: UTF8.self),
            let document = try? KubeconfigDocument(parsing: text, origin: "the service's answer"),
            let completed = document.addingCredentialPluginArguments(arguments)
        else {
            throw ServiceClientError(description: "the service's answer is not a kubeconfig whose user runs this plugin")
        }
        return completed.yaml()
    }

    /// `/sites/{site}/token`.
    static func tokenPath(_ site: String) -> String {
        "/sites/" + PercentEncoding.pathSegment.encode(site) + "/token"
    }

    private var call: ServiceCall {
        ServiceCall(service: service, token: token, certificateAuthority: certificateAuthority, timeout: timeout)
    }

    /// The answer of `POST /sites/{name}/token` as the plugin's output, or why there is none.
    static func credential(status: UInt, body: [UInt8], apiVersion: String, site: String) throws(ServiceClientError) -> [UInt8] {
        struct Answer: Decodable {
            struct Status: Decodable {
                var token: String
                var expirationTimestamp: String
            }
            var status: Status
        }
        guard status == 200 else {
            throw ServiceClientError(
                description: "the service refused a token for site \(site.printable): \(status), \(ServiceCall.refusal(body))")
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body)) else {
            throw ServiceClientError(description: "the service's answer is not an ExecCredential")
        }
        var output = "{\"apiVersion\":"
        JSONString.write(apiVersion, to: &output)
        output += ",\"kind\":\"ExecCredential\",\"status\":{\"expirationTimestamp\":"
        JSONString.write(answer.status.expirationTimestamp, to: &output)
        output += ",\"token\":"
        JSONString.write(answer.status.token, to: &output)
        output += "}}\n"
        return Array(output.utf8)
    }

    /// `{service}/sites/{site}/token`, when a token may be sent there.
    func tokenURL() throws(ServiceClientError) -> String {
        try call.url(Self.tokenPath(site))
    }

    /// Whether a token may be sent to `url`: HTTPS, or HTTP to a loopback address (the plugin's
    /// `--service`, and the `--public-url` that exec kubeconfigs name). The host is the URL's
    /// real one: no user part (`http://127.0.0.1:x@evil.example` goes to evil.example), and no
    /// query or fragment, which would swallow the path the clients append.
    public static func sendsTokensSafely(to url: String) -> Bool {
        let lowered = url.lowercased()
        let secure = lowered.hasPrefix("https://")
        guard secure || lowered.hasPrefix("http://") else { return false }
        let rest = lowered.dropFirst(secure ? 8 : 7)
        guard !rest.contains("?"), !rest.contains("#") else { return false }
        let authority = rest.prefix { $0 != "/" }
        // Letters, digits and what hosts and ports are made of: no user part, no backslash a
        // browser-style parser would take for a slash, no space.
        let hostCharacters = authority.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || ".-_:[]".contains($0)) }
        guard !authority.isEmpty, hostCharacters else { return false }
        if secure { return true }
        let host: Substring
        let port: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return false }
            host = authority[...close]
            port = authority[authority.index(after: close)...]
        } else {
            host = authority.prefix { $0 != ":" }
            port = authority.dropFirst(host.count)
        }
        let portIsValid = port.isEmpty || (port.first == ":" && port.count > 1 && port.dropFirst().allSatisfy(\.isNumber))
        return ["127.0.0.1", "localhost", "[::1]"].contains(host) && portIsValid
    }
}
