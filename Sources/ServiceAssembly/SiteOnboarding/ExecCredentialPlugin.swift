import FoundationEssentials
import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A kubeconfig user's `exec` credential plugin (EKS, GKE, AKS, OIDC logins), run as client-go
/// runs it: the CLI's environment plus the user's `env`, `KUBERNETES_EXEC_INFO` describing the
/// request, standard error shared with the CLI, standard input only when interactive, and an
/// `ExecCredential` of the configured API version read from standard output.
///
/// Unlike client-go, a run is bounded: at most `outputLimit` bytes of output and a timeout, after
/// which the plugin is stopped. Neither a description nor an error ever shows an `env` value or
/// what the plugin printed.
public struct ExecCredentialPlugin: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// When the plugin may read standard input (`interactiveMode`).
    public enum InteractiveMode: String, Sendable, CaseIterable {
        /// The plugin never reads standard input.
        case never = "Never"
        /// The plugin reads standard input when it is a terminal.
        case ifAvailable = "IfAvailable"
        /// The plugin needs standard input, and a terminal on it: it fails without one.
        case always = "Always"
    }

    /// One `env` entry, set for the plugin over the CLI's own environment.
    public struct EnvironmentVariable: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
        public var name: String
        /// Never shown: it may hold a secret (client-go redacts it too).
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }

        public var description: String { "\(name)=<redacted>" }
        public var debugDescription: String { description }
    }

    /// What `KUBERNETES_EXEC_INFO` tells a plugin of the cluster (`spec.cluster`), when the user's
    /// `provideClusterInfo` asks for it: the kubeconfig cluster's fields, the CA as bytes.
    public struct ClusterInfo: Sendable, Equatable {
        /// `server`: `https://host:port[/prefix]`.
        public var server: String
        /// The PEM roots the cluster is verified with (`certificate-authority-data`, or the bytes
        /// of the `certificate-authority` file); nil or empty: none given.
        public var certificateAuthority: [UInt8]?
        /// `tls-server-name`.
        public var tlsServerName: String?
        /// `insecure-skip-tls-verify`.
        public var insecureSkipTLSVerify: Bool
        /// `proxy-url`.
        public var proxyURL: String?
        /// `disable-compression`.
        public var disableCompression: Bool
        /// The cluster's `extensions` entry named `client.authentication.k8s.io/exec` (its
        /// `extension`), as JSON text; nil: none.
        public var config: String?

        public init(
            server: String, certificateAuthority: [UInt8]? = nil, tlsServerName: String? = nil,
            insecureSkipTLSVerify: Bool = false, proxyURL: String? = nil, disableCompression: Bool = false,
            config: String? = nil
        ) {
            self.server = server
            self.certificateAuthority = certificateAuthority
            self.tlsServerName = tlsServerName
            self.insecureSkipTLSVerify = insecureSkipTLSVerify
            self.proxyURL = proxyURL
            self.disableCompression = disableCompression
            self.config = config
        }
    }

    /// The `ExecCredential` versions client-go speaks (v1alpha1 was removed in Kubernetes 1.24).
    public static let apiVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

    /// The `ExecCredential` version the plugin is asked for, and must answer in.
    public let apiVersion: String
    /// An absolute path; a relative path (with a `/`), from the kubeconfig's directory; or a name
    /// looked up on `PATH`.
    public let command: String
    /// `args`.
    public let arguments: [String]
    /// `env`: set over the CLI's environment, a later entry over an earlier one.
    public let environment: [EnvironmentVariable]
    /// Whether `KUBERNETES_EXEC_INFO` describes the cluster (`spec.cluster`).
    public let provideClusterInfo: Bool
    /// `interactiveMode`; v1beta1's default is `ifAvailable`.
    public let interactiveMode: InteractiveMode
    /// `installHint`: how to install the plugin, shown when its executable is not found.
    public let installHint: String?

    /// The most a plugin may print on standard output (the document's own limit).
    public static let outputLimit = 1 << 20
    /// How long a plugin stopped with SIGTERM (timed out, too much output, cancelled) has to
    /// exit before SIGKILL.
    static let terminationGrace: Duration = .seconds(2)

    // MARK: - Configuration

    /// A plugin as a kubeconfig user's `exec` block sets it, checked as client-go checks it.
    ///
    /// - Parameter interactiveMode: required with v1 (client-go refuses v1 without one); v1beta1
    ///   defaults to `ifAvailable`.
    public init(
        apiVersion: String, command: String, arguments: [String] = [], environment: [EnvironmentVariable] = [],
        provideClusterInfo: Bool = false, interactiveMode: InteractiveMode? = nil, installHint: String? = nil
    ) throws(ServiceClientError) {
        try self.init(
            apiVersion: apiVersion, command: command, arguments: arguments, environment: environment,
            provideClusterInfo: provideClusterInfo, interactiveMode: interactiveMode, installHint: installHint,
            origin: "exec credential plugin")
    }

    /// The checks of `init`; messages start with `origin`.
    private init(
        apiVersion: String, command: String, arguments: [String], environment: [EnvironmentVariable],
        provideClusterInfo: Bool, interactiveMode: InteractiveMode?, installHint: String?, origin: String
    ) throws(ServiceClientError) {
        func refuse(_ reason: String) -> ServiceClientError {
            ServiceClientError(description: "\(origin): \(reason)")
        }
        guard !apiVersion.isEmpty else { throw refuse("apiVersion must be specified") }
        guard apiVersion != "client.authentication.k8s.io/v1alpha1" else {
            throw refuse(
                "apiVersion client.authentication.k8s.io/v1alpha1 was removed in Kubernetes 1.24; "
                    + "use client.authentication.k8s.io/v1 (or v1beta1) if the plugin speaks it")
        }
        guard Self.apiVersions.contains(apiVersion) else {
            throw refuse("invalid apiVersion \"\(apiVersion.printable)\" (\(Self.apiVersions.joined(separator: " or ")))")
        }
        guard !command.isEmpty else { throw refuse("command must be specified") }
        guard let mode = interactiveMode ?? (apiVersion == Self.apiVersions[1] ? .ifAvailable : nil) else {
            throw refuse("interactiveMode must be specified with \(apiVersion) (Never, IfAvailable or Always)")
        }
        for variable in environment where variable.name.isEmpty {
            throw refuse("env variable name must be specified")
        }
        // exec(2) takes NUL-terminated strings: a NUL would silently cut one short.
        let strings = [command] + arguments + environment.flatMap { [$0.name, $0.value] }
        guard strings.allSatisfy({ !$0.utf8.contains(0) }) else {
            throw refuse("command, args and env must not hold a NUL character")
        }
        self.apiVersion = apiVersion
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.provideClusterInfo = provideClusterInfo
        self.interactiveMode = mode
        self.installHint = installHint
    }

    /// The plugin of the user entry named `user` in `document`; nil when that user has no `exec`.
    ///
    /// - Throws: when there is no such user, or its `exec` block is not one client-go accepts.
    public init?(user: String, in document: KubeconfigDocument) throws(ServiceClientError) {
        let field = "user \"\(user.printable)\": exec"
        guard case .object(let root)? = try? JSONDecoder().decode(JSONValue.self, from: Data(document.json().utf8)),
            case .array(let users)? = root["users"],
            case .object(let entry)? = users.first(where: { $0.field("name") == .string(user) })
        else {
            throw ServiceClientError(description: "the kubeconfig has no user named \"\(user.printable)\"")
        }
        let block: [String: JSONValue]
        switch entry["user"]?.field("exec") {
        case nil, .null?: return nil
        case .object(let fields)?: block = fields
        case let other?: throw ServiceClientError(description: "\(field) must be a mapping, not \(other.kindName)")
        }
        func string(_ key: String) throws(ServiceClientError) -> String? {
            switch block[key] {
            case nil, .null?: return nil
            case .string(let text)?: return text
            case let other?: throw ServiceClientError(description: "\(field).\(key) must be a string, not \(other.kindName)")
            }
        }
        var arguments: [String] = []
        switch block["args"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard case .string(let text) = item else {
                    throw ServiceClientError(description: "\(field).args must be a list of strings")
                }
                arguments.append(text)
            }
        case let other?: throw ServiceClientError(description: "\(field).args must be a list of strings, not \(other.kindName)")
        }
        var environment: [EnvironmentVariable] = []
        switch block["env"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard case .object(let pair) = item, case .string(let name)? = pair["name"] else {
                    throw ServiceClientError(description: "\(field).env must be a list of {name, value} with string names")
                }
                switch pair["value"] {
                case nil, .null?: environment.append(EnvironmentVariable(name: name, value: ""))
                case .string(let value)?: environment.append(EnvironmentVariable(name: name, value: value))
                case let other?:
                    throw ServiceClientError(
                        description: "\(field).env \"\(name.printable)\" must have a string value, not \(other.kindName)")
                }
            }
        case let other?: throw ServiceClientError(description: "\(field).env must be a list, not \(other.kindName)")
        }
        let provideClusterInfo: Bool
        switch block["provideClusterInfo"] {
        case nil, .null?: provideClusterInfo = false
        case .bool(let value)?: provideClusterInfo = value
        case let other?:
            throw ServiceClientError(description: "\(field).provideClusterInfo must be true or false, not \(other.kindName)")
        }
        var interactiveMode: InteractiveMode?
        if let mode = try string("interactiveMode"), !mode.isEmpty {
            guard let known = InteractiveMode(rawValue: mode) else {
                throw ServiceClientError(
                    description: "\(field).interactiveMode \"\(mode.printable)\" is invalid (Never, IfAvailable or Always)")
            }
            interactiveMode = known
        }
        try self.init(
            apiVersion: try string("apiVersion") ?? "", command: try string("command") ?? "", arguments: arguments,
            environment: environment, provideClusterInfo: provideClusterInfo, interactiveMode: interactiveMode,
            installHint: try string("installHint"), origin: field)
    }

    /// The command, API version and `env` names: never an `env` value (client-go redacts them
    /// too) nor the arguments.
    public var description: String {
        var text = "exec credential plugin \(command.printable) (\(apiVersion), interactiveMode \(interactiveMode.rawValue)"
        if !environment.isEmpty { text += ", env " + environment.map(\.name.printable).joined(separator: " ") }
        return text + ")"
    }

    public var debugDescription: String { description }

    // MARK: - Running

    /// Runs the plugin once and returns the credential it printed.
    ///
    /// - Parameters:
    ///   - cluster: the cluster the credential is for (sent to the plugin with `provideClusterInfo`).
    ///   - kubeconfigDirectory: the directory of the kubeconfig file the user entry came from, which
    ///     a relative `command` with a `/` is relative to (client-go's `ResolvePaths`); nil: the
    ///     current directory.
    ///   - timeout: how long the plugin may run, a browser login included; it is stopped after.
    ///   - standardInputAvailable: false when the CLI reads standard input itself: the plugin
    ///     then never gets it, and an `Always` plugin fails (client-go's `StdinUnavailable`).
    public func run(
        cluster: ClusterInfo, kubeconfigDirectory: String?, timeout: Duration = .seconds(300),
        standardInputAvailable: Bool = true
    ) async throws(ServiceClientError) -> ExecCredentialResult {
        try await run(
            cluster: cluster, kubeconfigDirectory: kubeconfigDirectory, timeout: timeout,
            standardInputAvailable: standardInputAvailable, standardInputIsTerminal: isatty(STDIN_FILENO) == 1)
    }

    /// `run`, told whether standard input is a terminal.
    func run(
        cluster: ClusterInfo, kubeconfigDirectory: String?, timeout: Duration, standardInputAvailable: Bool,
        standardInputIsTerminal: Bool
    ) async throws(ServiceClientError) -> ExecCredentialResult {
        let interactive: Bool
        do {
            interactive = try Self.interactive(
                mode: interactiveMode, standardInputIsTerminal: standardInputIsTerminal,
                standardInputAvailable: standardInputAvailable)
        } catch {
            throw failure("cannot run in interactive mode \(interactiveMode.rawValue): \(error.description)")
        }
        let info = try execInfo(cluster: cluster, interactive: interactive)
        let path = try executablePath(
            kubeconfigDirectory: kubeconfigDirectory, searchPath: getenv("PATH").map { String(cString: $0) })
        let process = PluginProcess(
            path: path, arguments: arguments,
            environment: processEnvironment(parent: Self.currentEnvironment(), execInfo: info),
            inheritsStandardInput: interactive, limit: Self.outputLimit, timeout: timeout, grace: Self.terminationGrace)
        guard !Task.isCancelled else { throw failure("cancelled before it started") }
        let stop = StopRequest()
        let outcome = await withTaskCancellationHandler {
            await process.runOnOwnThread(stop: stop)
        } onCancel: {
            stop.request()
        }
        switch outcome {
        case .notStarted(let code):
            throw failure("cannot start \(path.printable): \(Self.systemError(code))")
        case .noThread(let code):
            throw failure("cannot start a thread to wait for it: \(Self.systemError(code))")
        case .stopped(.timedOut):
            throw failure("did not finish within \(Self.words(timeout)); it was stopped")
        case .stopped(.outputTooLarge):
            throw failure("printed more than \(Self.outputLimit >> 20) MiB on standard output; it was stopped")
        case .stopped(.cancelled):
            throw failure("was stopped: the command was cancelled")
        case .ended(nil, _):
            throw failure("ended, but its exit status could not be read (is SIGCHLD ignored?)")
        case .ended(let status?, let output):
            // WTERMSIG and WEXITSTATUS, which Swift does not import: a signal in the low 7 bits,
            // else the exit status in the next 8.
            let code = status & 0x7F
            if code != 0 {
                throw failure("was killed by signal \(code)\(Self.signalNames[code].map { " (\($0))" } ?? "")")
            }
            let exitStatus = (status >> 8) & 0xFF
            guard exitStatus == 0 else {
                // What it printed is not quoted: it may hold a credential. Its error output went
                // to the CLI's standard error, as client-go lets it.
                throw failure("exited with status \(exitStatus) (its own message, if any, is on standard error)")
            }
            return try credential(fromOutput: output)
        }
    }

    /// Whether the plugin gets standard input, as client-go decides (`isInteractive`).
    static func interactive(
        mode: InteractiveMode, standardInputIsTerminal: Bool, standardInputAvailable: Bool
    ) throws(ServiceClientError) -> Bool {
        switch mode {
        case .never:
            return false
        case .ifAvailable:
            return standardInputAvailable && standardInputIsTerminal
        case .always:
            guard standardInputIsTerminal else { throw ServiceClientError(description: "standard input is not a terminal") }
            guard standardInputAvailable else { throw ServiceClientError(description: "standard input is unavailable") }
            return true
        }
    }

    /// `KUBERNETES_EXEC_INFO`: an `ExecCredential` of the plugin's version with its `spec`, in
    /// client-go's field order (`kind`, `apiVersion`; `cluster`, `interactive`), `cluster` only
    /// with `provideClusterInfo`.
    private func execInfo(cluster: ClusterInfo, interactive: Bool) throws(ServiceClientError) -> String {
        var out = #"{"kind":"ExecCredential","apiVersion":"#
        JSONString.write(apiVersion, to: &out)
        out += #","spec":{"#
        if provideClusterInfo {
            out += #""cluster":{"server":"#
            JSONString.write(cluster.server, to: &out)
            if let name = cluster.tlsServerName, !name.isEmpty {
                out += #","tls-server-name":"#
                JSONString.write(name, to: &out)
            }
            if cluster.insecureSkipTLSVerify { out += #","insecure-skip-tls-verify":true"# }
            if let authority = cluster.certificateAuthority, !authority.isEmpty {
                // Bytes, as Go's encoding/json writes a []byte: standard base64.
                out += #","certificate-authority-data":"# + "\"" + Data(authority).base64EncodedString() + "\""
            }
            if let proxy = cluster.proxyURL, !proxy.isEmpty {
                out += #","proxy-url":"#
                JSONString.write(proxy, to: &out)
            }
            if cluster.disableCompression { out += #","disable-compression":true"# }
            // A runtime.RawExtension, which client-go writes as null when there is none.
            out += #","config":"#
            if let config = cluster.config {
                guard (try? JSONDecoder().decode(JSONValue.self, from: Data(config.utf8))) != nil else {
                    throw failure("the cluster's client.authentication.k8s.io/exec extension is not JSON")
                }
                out += Self.compacted(config)
            } else {
                out += "null"
            }
            out += "},"
        }
        out += #""interactive":"# + (interactive ? "true" : "false") + "}}"
        return out
    }

    /// Valid JSON text without the whitespace between tokens, as Go's encoding/json compacts a
    /// `RawExtension`.
    private static func compacted(_ json: String) -> String {
        var bytes: [UInt8] = []
        var inString = false
        var escaped = false
        for byte in json.utf8 {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
            } else if [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(byte) {
                continue
            }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The executable to run: `command` if absolute; with a `/`, relative to the kubeconfig's
    /// directory (client-go's `ResolvePaths`); otherwise the first executable of that name in an
    /// absolute directory of `searchPath`. Go's `exec.LookPath` skips relative `PATH` entries'
    /// results, and so does this.
    private func executablePath(kubeconfigDirectory: String?, searchPath: String?) throws(ServiceClientError) -> String {
        if command.contains("/") {
            var path = command
            if !command.hasPrefix("/"), let directory = kubeconfigDirectory {
                path = Self.cleaned(Self.absolute(directory) + "/" + command)
            }
            switch Self.executableState(path) {
            case .executable: return path
            case .missing: throw notFound(path.printable)
            case .notExecutable: throw failure("\(path.printable) is not an executable file")
            }
        }
        let directories = (searchPath ?? "").split(separator: ":", omittingEmptySubsequences: true)
        for directory in directories where directory.hasPrefix("/") {
            let path = (directory.hasSuffix("/") ? String(directory) : directory + "/") + command
            if case .executable = Self.executableState(path) { return path }
        }
        throw notFound("\(command.printable) on PATH")
    }

    /// The plugin's environment: the CLI's, then `env`, then `KUBERNETES_EXEC_INFO`; of entries
    /// naming one variable the last wins, as Go's os/exec keeps it.
    private func processEnvironment(parent: [String], execInfo: String) -> [String] {
        // The caller's token for the service is not the plugin's business.
        let parent = parent.filter { !$0.hasPrefix("KUBECONFIG_SERVICE_TOKEN=") }
        let entries = parent + environment.map { "\($0.name)=\($0.value)" } + ["KUBERNETES_EXEC_INFO=" + execInfo]
        var seen: Set<Substring> = []
        var kept: [String] = []
        for entry in entries.reversed() where entry.contains("=") {
            if seen.insert(entry.prefix { $0 != "=" }).inserted { kept.append(entry) }
        }
        return kept.reversed()
    }

    // MARK: - The answer

    /// The credential in what the plugin printed, checked as client-go checks it. Errors never
    /// quote the output.
    private func credential(fromOutput output: [UInt8]) throws(ServiceClientError) -> ExecCredentialResult {
        struct Answer: Decodable {
            struct Status: Decodable {
                var token: String?
                var clientCertificateData: String?
                var clientKeyData: String?
                var expirationTimestamp: String?
            }
            var kind: String?
            var apiVersion: String?
            var status: Status?
        }
        guard output.contains(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else {
            throw failure("printed nothing on standard output")
        }
        let answer: Answer
        do {
            answer = try JSONDecoder().decode(Answer.self, from: Data(output))
        } catch DecodingError.typeMismatch(_, let context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw failure("printed an ExecCredential whose \(path) has the wrong type")
        } catch {
            throw failure("printed something other than an ExecCredential in JSON")
        }
        guard answer.kind == "ExecCredential" else {
            throw failure("printed an object whose kind is not ExecCredential")
        }
        guard answer.apiVersion == apiVersion else {
            // A version is quoted only when it looks like one: this is the plugin's text.
            let returned = answer.apiVersion.flatMap { Self.looksLikeAPIVersion($0) ? $0 : nil } ?? "another version"
            throw failure(
                "answered in \(returned), but its kubeconfig asks for \(apiVersion): set the user's exec "
                    + "apiVersion to the version the plugin speaks")
        }
        guard let status = answer.status else { throw failure("returned no status") }
        let token = status.token ?? ""
        let certificate = status.clientCertificateData ?? ""
        let key = status.clientKeyData ?? ""
        guard !token.isEmpty || !certificate.isEmpty || !key.isEmpty else {
            throw failure("returned neither a token nor a client certificate and key")
        }
        guard certificate.isEmpty == key.isEmpty else {
            throw failure(
                certificate.isEmpty
                    ? "returned a client key (status.clientKeyData) without its certificate"
                    : "returned a client certificate (status.clientCertificateData) without its key")
        }
        var identity: ClientIdentity?
        if !certificate.isEmpty {
            do {
                identity = try ClientIdentity(certificate: Array(certificate.utf8), key: Array(key.utf8))
            } catch {
                let field = error.code == .certificateUnreadable ? "status.clientCertificateData" : "status.clientKeyData"
                throw failure("returned a client certificate and key that cannot be used: \(field) \(error.message)")
            }
        }
        var expiration: Date?
        if let text = status.expirationTimestamp, !text.isEmpty {
            // Go's metav1.Time reads RFC 3339, with or without fractions of a second.
            guard let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) else {
                throw failure("returned a status.expirationTimestamp that is not an RFC 3339 time")
            }
            expiration = date
        }
        return ExecCredentialResult(
            token: token.isEmpty ? nil : BearerToken(token), clientIdentity: identity, expirationTimestamp: expiration)
    }

    // MARK: - Words

    private func failure(_ reason: String) -> ServiceClientError {
        ServiceClientError(description: "exec credential plugin \(command.printable): \(reason)")
    }

    /// client-go's "executable not found", with the user's `installHint` when there is one.
    private func notFound(_ what: String) -> ServiceClientError {
        var text = "exec credential plugin: executable \(what) not found: the user's client-go credential plugin is not installed"
        if let hint = installHint.map(Self.oneLine), !hint.isEmpty { text += ". " + hint }
        return ServiceClientError(description: text)
    }

    /// `text` on one line: control characters as spaces, at most 1000 characters.
    private static func oneLine(_ text: String) -> String {
        let line = String(
            String.UnicodeScalarView(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : $0 }))
        let trimmed = line.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        return trimmed.count > 1000 ? String(trimmed.prefix(1000)) + "..." : trimmed
    }

    private static func looksLikeAPIVersion(_ text: String) -> Bool {
        text.utf8.count <= 100 && text.contains("/")
            && text.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || ".-/".unicodeScalars.contains($0)
            }
    }

    private static func words(_ duration: Duration) -> String {
        let milliseconds = duration.wholeMilliseconds
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(Double(milliseconds) / 1000) s"
    }

    private static func systemError(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static let signalNames: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS",
        SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
    ]

    // MARK: - Files and paths

    private enum ExecutableState { case executable, missing, notExecutable }

    private static func executableState(_ path: String) -> ExecutableState {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        guard info.st_mode & S_IFMT != S_IFDIR, access(path, X_OK) == 0 else { return .notExecutable }
        return .executable
    }

    /// `directory`, from the current directory when relative (Go's `filepath.Abs`).
    private static func absolute(_ directory: String) -> String {
        guard !directory.hasPrefix("/") else { return directory }
        guard let current = getcwd(nil, 0) else { return directory }
        defer { free(current) }
        return String(cString: current) + "/" + directory
    }

    /// An absolute `path` with `.`, `..` and repeated slashes resolved by name (Go's `filepath.Clean`).
    private static func cleaned(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The CLI's own environment.
    private static func currentEnvironment() -> [String] {
        var entries: [String] = []
        // NULL after clearenv(3), which the imported type does not say.
        guard Int(bitPattern: environ) != 0 else { return entries }
        var cursor = environ
        while let entry = cursor.pointee {
            entries.append(String(cString: entry))
            cursor += 1
        }
        return entries
    }
}

/// What an exec credential plugin returned: a token, a client certificate and key, or both
/// (client-go presents both), and when they expire.
///
/// Its description shows the token's fingerprint and never the key.
public struct ExecCredentialResult: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let token: BearerToken?
    public let clientIdentity: ClientIdentity?
    /// nil: the plugin did not say (client-go then keeps the credential until a 401).
    public let expirationTimestamp: Date?

    public init(token: BearerToken?, clientIdentity: ClientIdentity?, expirationTimestamp: Date?) {
        self.token = token
        self.clientIdentity = clientIdentity
        self.expirationTimestamp = expirationTimestamp
    }

    public var description: String {
        var parts: [String] = []
        if let token { parts.append(token.description) }
        if clientIdentity != nil { parts.append("a client certificate and key") }
        if let expirationTimestamp { parts.append("expiring \(Date.ISO8601FormatStyle().format(expirationTimestamp))") }
        return "ExecCredential(" + parts.joined(separator: ", ") + ")"
    }

    public var debugDescription: String { description }
}

// MARK: - The plugin's process

/// One run of a plugin's executable, on a thread of its own (every wait here blocks): spawned
/// without a shell, its standard output read through a pipe up to `limit` bytes, stopped when it
/// outlives `timeout`, prints too much or is cancelled (SIGTERM, then SIGKILL after `grace`), and
/// always reaped. Standard error is the CLI's; standard input the CLI's or /dev/null.
private struct PluginProcess: Sendable {
    var path: String
    var arguments: [String]
    var environment: [String]
    var inheritsStandardInput: Bool
    var limit: Int
    var timeout: Duration
    var grace: Duration

    enum Outcome: Sendable {
        /// The pipe or posix_spawn failed with this errno.
        case notStarted(Int32)
        /// No thread to wait on could be made (pthread_create's error).
        case noThread(Int32)
        case stopped(StopReason)
        /// The wait status (nil when unknown), and what it printed.
        case ended(Int32?, [UInt8])
    }

    enum StopReason: Sendable { case timedOut, outputTooLarge, cancelled }

    /// Serialises making a pipe and spawning, so that no plugin started here inherits another's
    /// pipe before it is marked close-on-exec (Swift's Glibc module does not export `pipe2`).
    private static let spawning = Mutex(())

    /// How often the wait looks at the child and at a cancellation.
    private static let sliceMilliseconds: Int64 = 50

    /// Runs the process on a new thread, the Swift concurrency pool left free meanwhile.
    func runOnOwnThread(stop: StopRequest) async -> Outcome {
        await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            let body = ThreadBody { continuation.resume(returning: run(stop: stop)) }
            let context = Unmanaged.passRetained(body).toOpaque()
            var thread = pthread_t()
            let result = pthread_create(
                &thread, nil,
                { context in
                    Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
                    return nil
                }, context)
            guard result == 0 else {
                Unmanaged<ThreadBody>.fromOpaque(context).release()
                continuation.resume(returning: .noThread(result))
                return
            }
            pthread_detach(thread)
        }
    }

    /// Spawns, reads and waits. Blocks.
    func run(stop: StopRequest) -> Outcome {
        var spawned: (pid: pid_t, output: Int32)?
        // ETXTBSY: a file just written is held open for writing, for an instant, by a child that
        // another thread of its writer is starting (golang/go#22315); it passes within moments.
        for attempt in 1... {
            guard !stop.isRequested else { return .stopped(.cancelled) }
            switch spawn() {
            case .success(let started):
                spawned = started
            case .failure(let failure) where failure.code == ETXTBSY && attempt < 50:
                _ = poll(nil, 0, 10)
                continue
            case .failure(let failure):
                return .notStarted(failure.code)
            }
            break
        }
        guard let child = spawned else { return .stopped(.cancelled) }
        defer { close(child.output) }

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var outputOpen = true
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var reason: StopReason?
        while true {
            if stop.isRequested {
                reason = .cancelled
                break
            }
            if case .ended(let status) = Self.reap(child.pid, blocking: false) {
                // Everything it wrote is in the pipe now. Read it, but not up to the end of the
                // pipe: a process it left behind may hold the pipe open for long.
                while outputOpen, output.count <= limit {
                    let count = read(child.output, &buffer, buffer.count)
                    if count > 0 {
                        output += buffer[0..<count]
                    } else if count < 0, errno == EINTR {
                        continue
                    } else {
                        outputOpen = false
                    }
                }
                if output.count > limit { return .stopped(.outputTooLarge) }
                return .ended(status, output)
            }
            let remaining = deadline - clock.now
            guard remaining > .zero else {
                reason = .timedOut
                break
            }
            let wait = Int32(max(1, min(remaining.wholeMilliseconds, Self.sliceMilliseconds)))
            guard outputOpen else {
                _ = poll(nil, 0, wait)
                continue
            }
            var descriptor = pollfd(fd: child.output, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, wait) > 0 else { continue }
            let count = read(child.output, &buffer, buffer.count)
            if count > 0 {
                output += buffer[0..<count]
                if output.count > limit {
                    reason = .outputTooLarge
                    break
                }
            } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                // The end of its output: it is about to exit (or closed it and goes on).
                outputOpen = false
            }
        }
        terminate(child.pid)
        return .stopped(reason ?? .cancelled)
    }

    private struct SpawnFailure: Error {
        var code: Int32
    }

    /// Starts the executable with its standard output on a new pipe; returns its pid and the
    /// pipe's reading end (non-blocking).
    private func spawn() -> Result<(pid: pid_t, output: Int32), SpawnFailure> {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        guard posix_spawn_file_actions_init(&actions) == 0 else { return .failure(SpawnFailure(code: ENOMEM)) }
        defer { posix_spawn_file_actions_destroy(&actions) }
        guard posix_spawnattr_init(&attributes) == 0 else { return .failure(SpawnFailure(code: ENOMEM)) }
        defer { posix_spawnattr_destroy(&attributes) }

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }

        return Self.spawning.withLock { _ -> Result<(pid: pid_t, output: Int32), SpawnFailure> in
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else { return .failure(SpawnFailure(code: errno)) }
            let (readEnd, writeEnd) = (ends[0], ends[1])
            do throws(SpawnFailure) {
                func check(_ result: Int32) throws(SpawnFailure) {
                    if result != 0 { throw SpawnFailure(code: result == -1 ? errno : result) }
                }
                try check(fcntl(readEnd, F_SETFD, FD_CLOEXEC))
                try check(fcntl(writeEnd, F_SETFD, FD_CLOEXEC))
                let flags = fcntl(readEnd, F_GETFL)
                try check(flags < 0 ? -1 : fcntl(readEnd, F_SETFL, flags | O_NONBLOCK))
                // The child's standard output is the pipe (dup2 clears close-on-exec on it);
                // both ends are closed in it at exec. Standard error stays the CLI's.
                try check(posix_spawn_file_actions_adddup2(&actions, writeEnd, STDOUT_FILENO))
                if !inheritsStandardInput {
                    try check(posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0))
                }
                // Default dispositions and no blocked signal: what this process ignores or blocks
                // (swift-service-lifecycle ignores SIGINT and SIGTERM to catch them) must not
                // make the plugin deaf to ^C or to being stopped.
                var signals = sigset_t()
                sigemptyset(&signals)
                try check(posix_spawnattr_setsigmask(&attributes, &signals))
                sigfillset(&signals)
                try check(posix_spawnattr_setsigdefault(&attributes, &signals))
                try check(posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))
                var pid = pid_t()
                try check(posix_spawn(&pid, path, &actions, &attributes, argv, envp))
                close(writeEnd)
                return .success((pid, readEnd))
            } catch {
                close(readEnd)
                close(writeEnd)
                return .failure(error)
            }
        }
    }

    private enum WaitResult {
        case running
        /// The wait status; nil when the child was reaped elsewhere (SIGCHLD ignored).
        case ended(Int32?)
    }

    private static func reap(_ pid: pid_t, blocking: Bool) -> WaitResult {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
            if result == pid { return .ended(status) }
            if result == 0 { return .running }
            if errno == EINTR { continue }
            return .ended(nil)
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; reaped either way.
    private func terminate(_ pid: pid_t) {
        kill(pid, SIGTERM)
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while clock.now < deadline {
            if case .ended = Self.reap(pid, blocking: false) { return }
            _ = poll(nil, 0, 10)
        }
        kill(pid, SIGKILL)
        _ = Self.reap(pid, blocking: true)
    }
}

/// A request, from a cancelled task, that a plugin's run stop.
private final class StopRequest: Sendable {
    private let requested = Atomic<Bool>(false)

    func request() { requested.store(true, ordering: .relaxed) }
    var isRequested: Bool { requested.load(ordering: .relaxed) }
}

/// The work of a thread, passed to it through `Unmanaged`.
private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

extension JSONValue {
    /// The value at `key` of an object; nil for anything else.
    fileprivate func field(_ key: String) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields[key]
    }

    /// What the value is, for messages: `a string`, `a number`, ...
    fileprivate var kindName: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        case .array: "a list"
        case .object: "a mapping"
        }
    }
}
