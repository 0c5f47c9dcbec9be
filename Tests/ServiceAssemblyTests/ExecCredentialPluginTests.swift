import Foundation
import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import TestFixtures
import Testing

@testable import ServiceAssembly

/// Real plugins (shell scripts in a folder of their own) run as client-go runs them: what they
/// are told, what they may print, and how they fail, stop and are reaped.
@Suite final class ExecCredentialPluginTests: Sendable {
    static let v1 = "client.authentication.k8s.io/v1"
    static let v1beta1 = "client.authentication.k8s.io/v1beta1"
    /// In every answer a test can put it in: no error and no description may show it.
    static let secret = "exec-plugin-secret-7f3a91c2"
    static let cluster = ExecCredentialPlugin.ClusterInfo(server: "https://site.example:6443")

    let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("exec-plugin-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
    }

    // MARK: - Helpers

    /// Writes an executable `#!/bin/sh` script; returns its path. `$DIR` in `body` is the folder.
    @discardableResult
    func script(_ body: String, named name: String = "plugin", mode: Int = 0o755) throws -> String {
        let url = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Close-on-exec: a plugin another test starts meanwhile must not keep the script open
        // for writing, which would make it unexecutable (ETXTBSY) while that plugin runs.
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown) }
        let text = Array("#!/bin/sh\nDIR='\(folder.path)'\n\(body)\n".utf8)
        let written = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == text.count else { throw CocoaError(.fileWriteUnknown) }
        return url.path
    }

    /// Writes `answer.json`, which `printAnswer` prints.
    func answer(_ text: String) throws {
        try Data(text.utf8).write(to: folder.appendingPathComponent("answer.json"))
    }

    /// An ExecCredential whose status is `status` (a JSON object's text).
    func answer(version: String = v1, kind: String = "ExecCredential", status: String) throws {
        try answer(#"{"apiVersion":"\#(version)","kind":"\#(kind)","status":\#(status)}"#)
    }

    /// A token answer with the secret.
    func tokenAnswer(version: String = v1) throws {
        try answer(version: version, status: #"{"token":"\#(Self.secret)"}"#)
    }

    let printAnswer = #"cat "$DIR/answer.json""#

    func file(_ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
    }

    func plugin(
        _ command: String, apiVersion: String = v1, arguments: [String] = [],
        environment: [ExecCredentialPlugin.EnvironmentVariable] = [], provideClusterInfo: Bool = false,
        mode: ExecCredentialPlugin.InteractiveMode = .never, installHint: String? = nil
    ) throws -> ExecCredentialPlugin {
        try ExecCredentialPlugin(
            apiVersion: apiVersion, command: command, arguments: arguments, environment: environment,
            provideClusterInfo: provideClusterInfo, interactiveMode: mode, installHint: installHint)
    }

    func run(
        _ plugin: ExecCredentialPlugin, cluster: ExecCredentialPlugin.ClusterInfo = cluster, directory: String? = nil,
        timeout: Duration = .seconds(30), terminal: Bool = false
    ) async throws(ServiceClientError) -> ExecCredentialResult {
        try await plugin.run(
            cluster: cluster, kubeconfigDirectory: directory, timeout: timeout, standardInputAvailable: true,
            standardInputIsTerminal: terminal)
    }

    /// The description of the error `plugin` fails with, checked to hold neither the secret nor
    /// a line break.
    func failure(
        of plugin: ExecCredentialPlugin, directory: String? = nil, timeout: Duration = .seconds(30),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> String {
        do {
            let result = try await run(plugin, directory: directory, timeout: timeout)
            Issue.record("the plugin succeeded: \(result)", sourceLocation: sourceLocation)
            return ""
        } catch {
            #expect(!error.description.contains(Self.secret), sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            return error.description
        }
    }

    /// The pid a script wrote to `pid`, once it did.
    func waitForPID() async throws -> pid_t {
        let url = folder.appendingPathComponent("pid")
        for _ in 0..<500 {
            if let text = try? String(contentsOf: url, encoding: .utf8),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                return pid
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CancellationError()
    }

    /// Whether `pid` is gone, reaped: a zombie still answers signal 0.
    func isReaped(_ pid: pid_t) -> Bool {
        kill(pid, 0) == -1 && errno == ESRCH
    }

    // MARK: - Answers

    @Test func aTokenAndItsExpiryAreReadFromTheAnswer() async throws {
        try answer(status: #"{"token":"\#(Self.secret)","expirationTimestamp":"2030-01-02T03:04:05Z"}"#)
        let result = try await run(plugin(try script(printAnswer)))
        #expect(result.token?.value == Self.secret)
        #expect(result.clientIdentity == nil)
        #expect(result.expirationTimestamp == Date(timeIntervalSince1970: 1_893_553_445))
        #expect(!"\(result)".contains(Self.secret))
        #expect(!String(reflecting: result).contains(Self.secret))
        #expect("\(result)".contains(BearerToken(Self.secret).fingerprint))
    }

    @Test func anExpiryWithAnOffsetAndFractionsIsRead() async throws {
        try answer(status: #"{"token":"t","expirationTimestamp":"2030-01-02T03:04:05.5+02:00"}"#)
        let result = try await run(plugin(try script(printAnswer)))
        #expect(result.expirationTimestamp == Date(timeIntervalSince1970: 1_893_546_245.5))
        #expect(result.token == BearerToken("t"))
    }

    @Test func aV1beta1PluginIsAskedAndAnsweredInV1beta1() async throws {
        try tokenAnswer(version: Self.v1beta1)
        let plugin = try ExecCredentialPlugin(
            apiVersion: Self.v1beta1, command: try script(#"printf '%s' "$KUBERNETES_EXEC_INFO" > "$DIR/info"; \#(printAnswer)"#))
        #expect(plugin.interactiveMode == .ifAvailable)
        let result = try await run(plugin)
        #expect(result.token?.value == Self.secret)
        #expect(try file("info") == #"{"kind":"ExecCredential","apiVersion":"\#(Self.v1beta1)","spec":{"interactive":false}}"#)
    }

    @Test func aClientCertificateAndKeyBecomeAClientIdentity() async throws {
        let status: [String: Any] = [
            "clientCertificateData": String(decoding: SiteFixtures.clientCertificatePEM, as: UTF8.self),
            "clientKeyData": String(decoding: SiteFixtures.clientKeyPEM, as: UTF8.self),
        ]
        let object: [String: Any] = ["apiVersion": Self.v1, "kind": "ExecCredential", "status": status]
        try answer(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        let result = try await run(plugin(try script(printAnswer)))
        #expect(result.clientIdentity?.certificate == SiteFixtures.clientCertificatePEM)
        #expect(result.clientIdentity?.key == SiteFixtures.clientKeyPEM)
        #expect(result.token == nil)
        for shown in ["\(result)", String(reflecting: result)] {
            #expect(!shown.contains("PRIVATE KEY"))
            #expect(!shown.contains("BEGIN"))
        }
    }

    @Test func aKeyThatIsNotTheCertificatesIsRefusedUnquoted() async throws {
        let status: [String: Any] = [
            "clientCertificateData": String(decoding: SiteFixtures.clientCertificatePEM, as: UTF8.self),
            "clientKeyData": String(decoding: SiteFixtures.otherKeyPEM, as: UTF8.self),
        ]
        let object: [String: Any] = ["apiVersion": Self.v1, "kind": "ExecCredential", "status": status]
        try answer(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        let message = await failure(of: try plugin(try script(printAnswer)))
        #expect(message.contains("status.clientKeyData"))
        #expect(message.contains("not the private key of the client certificate"))
        #expect(!message.contains("BEGIN"))
    }

    @Test(arguments: [
        ("garbage \(secret)", "printed something other than an ExecCredential in JSON"),
        ("  \n", "printed nothing on standard output"),
        (
            #"{"apiVersion":"\#(v1beta1)","kind":"ExecCredential","status":{"token":"\#(secret)"}}"#,
            "answered in \(v1beta1), but its kubeconfig asks for \(v1)"
        ),
        (
            #"{"apiVersion":"\#(secret)","kind":"ExecCredential","status":{"token":"\#(secret)"}}"#,
            "answered in another version"
        ),
        (#"{"kind":"ExecCredential","status":{"token":"\#(secret)"}}"#, "answered in another version"),
        (
            #"{"apiVersion":"\#(v1)","kind":"Secret","status":{"token":"\#(secret)"}}"#,
            "printed an object whose kind is not ExecCredential"
        ),
        (#"{"apiVersion":"\#(v1)","status":{"token":"\#(secret)"}}"#, "printed an object whose kind is not ExecCredential"),
        (#"{"apiVersion":"\#(v1)","kind":"ExecCredential"}"#, "returned no status"),
        (
            #"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{}}"#,
            "returned neither a token nor a client certificate and key"
        ),
        (
            #"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{"token":""}}"#,
            "returned neither a token nor a client certificate"
        ),
        (
            #"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{"token":7}}"#,
            "printed an ExecCredential whose status.token has the wrong type"
        ),
        (
            #"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{"clientCertificateData":"x"}}"#,
            "returned a client certificate (status.clientCertificateData) without its key"
        ),
        (
            #"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{"token":"\#(secret)","clientKeyData":"k"}}"#,
            "returned a client key (status.clientKeyData) without its certificate"
        ),
        (
            #"{"apiVersion":"\#(v1)","kind":"ExecCredential","status":{"token":"\#(secret)","expirationTimestamp":"soon"}}"#,
            "returned a status.expirationTimestamp that is not an RFC 3339 time"
        ),
    ])
    func anAnswerThatIsNotAUsableCredentialIsRefusedUnquoted(_ output: String, _ reason: String) async throws {
        try answer(output)
        let command = try script(printAnswer)
        let message = await failure(of: try plugin(command))
        #expect(message.hasPrefix("exec credential plugin \(command): \(reason)"), "\(message)")
    }

    // MARK: - KUBERNETES_EXEC_INFO

    @Test func withoutClusterInfoTheExecInfoHoldsOnlyTheSpec() async throws {
        try tokenAnswer()
        _ = try await run(plugin(try script(#"printf '%s' "$KUBERNETES_EXEC_INFO" > "$DIR/info"; \#(printAnswer)"#)))
        #expect(try file("info") == #"{"kind":"ExecCredential","apiVersion":"\#(Self.v1)","spec":{"interactive":false}}"#)
    }

    @Test func theClusterIsSentFieldByFieldWithItsExactNames() async throws {
        try tokenAnswer()
        let authority = Array(CertificateFixtures.siteCA.utf8)
        let cluster = ExecCredentialPlugin.ClusterInfo(
            server: "https://site.example:6443/prefix", certificateAuthority: authority, tlsServerName: "api.site.internal",
            insecureSkipTLSVerify: true, proxyURL: "socks5://proxy.example:1080", disableCompression: true,
            config: #"{ "audience": "06e3fbd18de8",  "n": [1, 2], "s": "a b" }"#)
        let command = try script(#"printf '%s' "$KUBERNETES_EXEC_INFO" > "$DIR/info"; \#(printAnswer)"#)
        _ = try await run(plugin(command, provideClusterInfo: true), cluster: cluster)

        let text = try file("info")
        #expect(text.hasPrefix(#"{"kind":"ExecCredential","apiVersion":"\#(Self.v1)","spec":{"cluster":{"server":"#))
        // The extension as compact JSON, as Go writes a RawExtension; spaces inside strings kept.
        #expect(text.contains(#""config":{"audience":"06e3fbd18de8","n":[1,2],"s":"a b"}"#))
        let info = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let spec = try #require(info["spec"] as? [String: Any])
        #expect(spec["interactive"] as? Bool == false)
        let sent = try #require(spec["cluster"] as? [String: Any])
        #expect(
            Set(sent.keys) == [
                "server", "tls-server-name", "insecure-skip-tls-verify", "certificate-authority-data", "proxy-url",
                "disable-compression", "config",
            ])
        #expect(sent["server"] as? String == "https://site.example:6443/prefix")
        #expect(sent["tls-server-name"] as? String == "api.site.internal")
        #expect(sent["insecure-skip-tls-verify"] as? Bool == true)
        let data = try #require(sent["certificate-authority-data"] as? String)
        #expect(Data(base64Encoded: data).map(Array.init) == authority)
        #expect(sent["proxy-url"] as? String == "socks5://proxy.example:1080")
        #expect(sent["disable-compression"] as? Bool == true)
        let config = try #require(sent["config"] as? [String: Any])
        #expect(config["audience"] as? String == "06e3fbd18de8")
        #expect(config["n"] as? [Int] == [1, 2])
    }

    @Test func aClusterOfOnlyAServerSendsItAndANullConfig() async throws {
        try tokenAnswer()
        let command = try script(#"printf '%s' "$KUBERNETES_EXEC_INFO" > "$DIR/info"; \#(printAnswer)"#)
        _ = try await run(plugin(command, provideClusterInfo: true))
        #expect(
            try file("info")
                == #"{"kind":"ExecCredential","apiVersion":"\#(Self.v1)","spec":{"cluster":{"server":"https://site.example:6443","config":null},"interactive":false}}"#
        )
    }

    @Test func anExtensionThatIsNotJSONIsRefusedBeforeTheRun() async throws {
        let command = try script("touch \"$DIR/ran\"")
        let cluster = ExecCredentialPlugin.ClusterInfo(server: "https://site.example:6443", config: "{audience: x")
        let plugin = try plugin(command, provideClusterInfo: true)
        do {
            _ = try await run(plugin, cluster: cluster)
            Issue.record("a broken extension was sent")
        } catch {
            #expect(error.description.contains("client.authentication.k8s.io/exec extension is not JSON"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("ran").path))
    }

    // MARK: - Environment, command and input

    @Test func theEnvironmentIsTheCLIsWithTheUsersEntriesOverIt() async throws {
        try tokenAnswer()
        let command = try script(#"env > "$DIR/env"; \#(printAnswer)"#)
        let environment: [ExecCredentialPlugin.EnvironmentVariable] = [
            .init(name: "EXEC_PLUGIN_TEST", value: "first"), .init(name: "EXEC_PLUGIN_TEST", value: "second value"),
            .init(name: "HOME", value: "/exec-home"), .init(name: "EXEC_PLUGIN_EMPTY", value: ""),
            .init(name: "KUBERNETES_EXEC_INFO", value: "spoofed"),
        ]
        _ = try await run(plugin(command, environment: environment))
        let lines = try file("env").split(separator: "\n").map(String.init)
        #expect(lines.filter { $0.hasPrefix("EXEC_PLUGIN_TEST=") } == ["EXEC_PLUGIN_TEST=second value"])
        #expect(lines.filter { $0.hasPrefix("HOME=") } == ["HOME=/exec-home"])
        #expect(lines.contains("EXEC_PLUGIN_EMPTY="))
        let path = try #require(ProcessInfo.processInfo.environment["PATH"])
        #expect(lines.filter { $0.hasPrefix("PATH=") } == ["PATH=\(path)"])
        let info = lines.filter { $0.hasPrefix("KUBERNETES_EXEC_INFO=") }
        #expect(
            info == [#"KUBERNETES_EXEC_INFO={"kind":"ExecCredential","apiVersion":"\#(Self.v1)","spec":{"interactive":false}}"#])
    }

    @Test func aRelativeCommandIsResolvedFromTheKubeconfigsDirectory() async throws {
        try tokenAnswer()
        try script(printAnswer, named: "bin/get-token")
        for command in ["bin/get-token", "./bin/../bin/get-token"] {
            let result = try await run(plugin(command), directory: folder.path)
            #expect(result.token?.value == Self.secret)
        }
        // Not from the current directory, which is not the kubeconfig's.
        #expect(FileManager.default.currentDirectoryPath != folder.path)
        let message = await failure(of: try plugin("bin/get-token"), directory: "/nonexistent-kubeconfig-dir")
        #expect(message.hasPrefix("exec credential plugin: executable /nonexistent-kubeconfig-dir/bin/get-token not found"))
    }

    @Test func aBareNameIsLookedUpOnPATHNotBesideTheKubeconfig() async throws {
        try tokenAnswer()
        let answerPath = folder.appendingPathComponent("answer.json").path
        let result = try await run(plugin("sh", arguments: ["-c", "cat '\(answerPath)'"]), directory: folder.path)
        #expect(result.token?.value == Self.secret)

        let name = "get-token-\(UUID().uuidString.prefix(8))"
        try script(printAnswer, named: name)
        let message = await failure(of: try plugin(name), directory: folder.path)
        #expect(message.hasPrefix("exec credential plugin: executable \(name) on PATH not found"))
    }

    @Test func aMissingExecutableNamesTheInstallHintOnOneLine() async throws {
        let command = folder.appendingPathComponent("aws-iam-authenticator").path
        let hinted = await failure(
            of: try plugin(command, installHint: "Install it with:\n\n    brew install aws-iam-authenticator\n"))
        #expect(
            hinted
                == "exec credential plugin: executable \(command) not found: the user's client-go credential plugin "
                + "is not installed. Install it with: brew install aws-iam-authenticator")
        let plain = await failure(of: try plugin(command))
        #expect(plain.hasSuffix("is not installed"))
    }

    @Test func aFileThatIsNotExecutableIsRefused() async throws {
        let command = try script(printAnswer, mode: 0o644)
        #expect(
            await failure(of: try plugin(command)) == "exec credential plugin \(command): \(command) is not an executable file")
        let directory = await failure(of: try plugin(folder.path))
        #expect(directory.hasSuffix("is not an executable file"))
    }

    @Test func standardInputIsDevNullUnlessInteractive() async throws {
        try tokenAnswer()
        let command = try script(
            #"readlink /proc/self/fd/0 > "$DIR/stdin"; printf '%s' "$KUBERNETES_EXEC_INFO" > "$DIR/info"; \#(printAnswer)"#)
        _ = try await run(plugin(command, mode: .ifAvailable))
        #expect(try file("stdin") == "/dev/null\n")
        #expect(try file("info").hasSuffix(#""spec":{"interactive":false}}"#))

        _ = try await run(plugin(command, mode: .ifAvailable), terminal: true)
        let ours = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/0")
        #expect(try file("stdin") == ours + "\n")
        #expect(try file("info").hasSuffix(#""spec":{"interactive":true}}"#))
    }

    @Test func interactivityIsDecidedAsClientGoDecidesIt() throws {
        typealias Plugin = ExecCredentialPlugin
        #expect(try Plugin.interactive(mode: .never, standardInputIsTerminal: true, standardInputAvailable: true) == false)
        #expect(try Plugin.interactive(mode: .ifAvailable, standardInputIsTerminal: true, standardInputAvailable: true))
        #expect(try Plugin.interactive(mode: .ifAvailable, standardInputIsTerminal: false, standardInputAvailable: true) == false)
        #expect(try Plugin.interactive(mode: .ifAvailable, standardInputIsTerminal: true, standardInputAvailable: false) == false)
        #expect(try Plugin.interactive(mode: .always, standardInputIsTerminal: true, standardInputAvailable: true))
        #expect(throws: ServiceClientError.self) {
            try Plugin.interactive(mode: .always, standardInputIsTerminal: false, standardInputAvailable: true)
        }
        #expect(throws: ServiceClientError.self) {
            try Plugin.interactive(mode: .always, standardInputIsTerminal: true, standardInputAvailable: false)
        }
    }

    @Test func anAlwaysInteractivePluginWithoutATerminalIsNotRun() async throws {
        let command = try script("touch \"$DIR/ran\"")
        let message = await failure(of: try plugin(command, mode: .always))
        #expect(
            message
                == "exec credential plugin \(command): cannot run in interactive mode Always: standard input is not a terminal")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("ran").path))
    }

    @Test func thePluginGetsNoEndOfItsPipeAndNoIgnoredOrBlockedSignal() async throws {
        let command = try script(#"echo $$ > "$DIR/pid"; exec sleep 30"#)
        let plugin = try plugin(command)
        // What this process ignores (swift-service-lifecycle ignores SIGINT and SIGTERM) the
        // plugin must not: SIGUSR2, which no test uses, stands for them.
        let previous = signal(SIGUSR2, SIG_IGN)
        let run = Task { try await self.run(plugin, timeout: .seconds(30)) }
        defer { run.cancel() }
        let pid = try await waitForPID()
        signal(SIGUSR2, previous)
        // Signal n is bit n - 1; glibc keeps 32 and 33 (NPTL's own, below SIGRTMIN) to itself.
        let glibcInternal: UInt64 = 0x1_8000_0000
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8).split(separator: "\n")
        for field in ["SigIgn:", "SigBlk:"] {
            let line = try #require(status.first { $0.hasPrefix(field) })
            let mask = try #require(UInt64(line.dropFirst(field.count).trimmingCharacters(in: .whitespaces), radix: 16))
            #expect(mask & ~glibcInternal == 0, "\(line)")
        }
        let descriptors = "/proc/\(pid)/fd"
        let output = try FileManager.default.destinationOfSymbolicLink(atPath: descriptors + "/1")
        #expect(output.hasPrefix("pipe:"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: descriptors + "/0") == "/dev/null")
        for name in try FileManager.default.contentsOfDirectory(atPath: descriptors) where (Int(name) ?? 0) > 2 {
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: descriptors + "/" + name)
            #expect(target != output, "fd \(name) of the plugin is its own output pipe")
        }
        run.cancel()
        _ = await run.result
        #expect(isReaped(pid))
    }

    // MARK: - Failures and limits

    @Test func aFailingPluginNamesItsExitStatusWithoutQuotingItsOutput() async throws {
        try tokenAnswer()
        let command = try script("\(printAnswer); echo 'a message on standard error' >&2; exit 3")
        #expect(
            await failure(of: try plugin(command))
                == "exec credential plugin \(command): exited with status 3 (its own message, if any, is on standard error)")
    }

    @Test func aPluginKilledByASignalIsNamed() async throws {
        try tokenAnswer()
        let command = try script("\(printAnswer); kill -9 $$")
        #expect(await failure(of: try plugin(command)) == "exec credential plugin \(command): was killed by signal 9 (SIGKILL)")
    }

    @Test func aPluginThatOutlivesTheTimeoutIsStoppedAndReaped() async throws {
        let command = try script(#"echo $$ > "$DIR/pid"; exec sleep 30"#)
        let started = ContinuousClock.now
        let message = await failure(of: try plugin(command), timeout: .milliseconds(300))
        #expect(message == "exec credential plugin \(command): did not finish within 300 ms; it was stopped")
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(isReaped(try await waitForPID()))
    }

    @Test func aPluginThatIgnoresSIGTERMIsKilledAfterTheGrace() async throws {
        let command = try script(#"trap '' TERM; echo $$ > "$DIR/pid"; exec sleep 30"#)
        let started = ContinuousClock.now
        let message = await failure(of: try plugin(command), timeout: .milliseconds(300))
        #expect(message.hasSuffix("did not finish within 300 ms; it was stopped"))
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= ExecCredentialPlugin.terminationGrace)
        #expect(elapsed < .seconds(15))
        #expect(isReaped(try await waitForPID()))
    }

    @Test func outputOverTheLimitStopsThePlugin() async throws {
        let command = try script(#"echo $$ > "$DIR/pid"; exec yes '\#(Self.secret)'"#)
        let started = ContinuousClock.now
        let message = await failure(of: try plugin(command))
        #expect(message == "exec credential plugin \(command): printed more than 1 MiB on standard output; it was stopped")
        #expect(ContinuousClock.now - started < .seconds(15))
        #expect(isReaped(try await waitForPID()))
    }

    @Test func aProcessLeftBehindHoldingTheOutputDoesNotHoldTheAnswer() async throws {
        try tokenAnswer()
        // The background sleep keeps the pipe open after the plugin exits (client-go would wait).
        // Bounds far apart, so that a loaded machine cannot blur them: waiting would take 40 s.
        let command = try script("sleep 40 & \(printAnswer)")
        let started = ContinuousClock.now
        let result = try await run(plugin(command))
        #expect(result.token?.value == Self.secret)
        #expect(ContinuousClock.now - started < .seconds(25))
    }

    @Test func cancellingTheRunStopsThePlugin() async throws {
        let command = try script(#"echo $$ > "$DIR/pid"; exec sleep 30"#)
        let plugin = try plugin(command)
        let run = Task { try await self.run(plugin, timeout: .seconds(60)) }
        let pid = try await waitForPID()
        let cancelled = ContinuousClock.now
        run.cancel()
        switch await run.result {
        case .success(let result): Issue.record("a cancelled plugin answered: \(result)")
        case .failure(let error):
            #expect(
                (error as? ServiceClientError)?.description
                    == "exec credential plugin \(command): was stopped: the command was cancelled")
        }
        #expect(ContinuousClock.now - cancelled < .seconds(10))
        #expect(isReaped(pid))
    }

    // MARK: - Configuration

    @Test func theVersionAndInteractiveModeAreCheckedAsClientGoChecksThem() throws {
        #expect(try ExecCredentialPlugin(apiVersion: Self.v1beta1, command: "p").interactiveMode == .ifAvailable)
        #expect(try ExecCredentialPlugin(apiVersion: Self.v1, command: "p", interactiveMode: .always).interactiveMode == .always)
        let refusals: [(() throws(ServiceClientError) -> ExecCredentialPlugin, String)] = [
            (
                { () throws(ServiceClientError) in try ExecCredentialPlugin(apiVersion: Self.v1, command: "p") },
                "interactiveMode must be specified with \(Self.v1)"
            ),
            (
                { () throws(ServiceClientError) in
                    try ExecCredentialPlugin(
                        apiVersion: "client.authentication.k8s.io/v1alpha1", command: "p", interactiveMode: .never)
                }, "removed in Kubernetes 1.24"
            ),
            (
                { () throws(ServiceClientError) in
                    try ExecCredentialPlugin(apiVersion: "v2", command: "p", interactiveMode: .never)
                }, #"invalid apiVersion "v2""#
            ),
            (
                { () throws(ServiceClientError) in
                    try ExecCredentialPlugin(apiVersion: "", command: "p", interactiveMode: .never)
                }, "apiVersion must be specified"
            ),
            (
                { () throws(ServiceClientError) in
                    try ExecCredentialPlugin(apiVersion: Self.v1, command: "", interactiveMode: .never)
                }, "command must be specified"
            ),
            (
                { () throws(ServiceClientError) in
                    try ExecCredentialPlugin(
                        apiVersion: Self.v1, command: "p", environment: [.init(name: "", value: "x")], interactiveMode: .never)
                }, "env variable name must be specified"
            ),
            (
                { () throws(ServiceClientError) in
                    try ExecCredentialPlugin(apiVersion: Self.v1, command: "p", arguments: ["a\0b"], interactiveMode: .never)
                }, "must not hold a NUL character"
            ),
        ]
        for (make, reason) in refusals {
            do {
                let plugin = try make()
                Issue.record("accepted: \(plugin)")
            } catch {
                #expect(error.description.hasPrefix("exec credential plugin: "))
                #expect(error.description.contains(reason))
            }
        }
    }

    @Test func theExecBlockOfAKubeconfigUserIsRead() throws {
        let document = try KubeconfigDocument(
            parsing: """
                apiVersion: v1
                kind: Config
                users:
                - name: alice
                  user:
                    exec:
                      apiVersion: client.authentication.k8s.io/v1
                      command: aws
                      args: [eks, get-token, --cluster-name, edge]
                      env:
                      - name: AWS_PROFILE
                        value: edge
                      - name: EMPTY
                      provideClusterInfo: true
                      interactiveMode: Never
                      installHint: brew install awscli
                - name: bob
                  user:
                    token: abc
                - name: carol
                  user:
                    exec:
                      apiVersion: client.authentication.k8s.io/v1beta1
                      command: kubelogin
                """, origin: "the test")
        let alice = try ExecCredentialPlugin(user: "alice", in: document)
        #expect(
            alice
                == (try ExecCredentialPlugin(
                    apiVersion: Self.v1, command: "aws", arguments: ["eks", "get-token", "--cluster-name", "edge"],
                    environment: [.init(name: "AWS_PROFILE", value: "edge"), .init(name: "EMPTY", value: "")],
                    provideClusterInfo: true, interactiveMode: .never, installHint: "brew install awscli")))
        #expect(try ExecCredentialPlugin(user: "bob", in: document) == nil)
        let carol = try #require(try ExecCredentialPlugin(user: "carol", in: document))
        #expect(carol.interactiveMode == .ifAvailable)
        #expect(carol.provideClusterInfo == false)
        #expect(carol.arguments.isEmpty)
        #expect(throws: ServiceClientError.self) { try ExecCredentialPlugin(user: "dave", in: document) }
    }

    @Test(arguments: [
        ("apiVersion: client.authentication.k8s.io/v1\n      command: p", #"user "u": exec: interactiveMode must be specified"#),
        (
            "apiVersion: client.authentication.k8s.io/v1beta1\n      command: p\n      args: [1]",
            #"user "u": exec.args must be a list of strings"#
        ),
        (
            "apiVersion: client.authentication.k8s.io/v1beta1\n      command: p\n      interactiveMode: Sometimes",
            #"user "u": exec.interactiveMode "Sometimes" is invalid"#
        ),
        (
            "apiVersion: client.authentication.k8s.io/v1beta1\n      command: p\n      env: [{value: x}]",
            #"user "u": exec.env must be a list"#
        ),
        (
            "apiVersion: client.authentication.k8s.io/v1beta1\n      command: p\n      provideClusterInfo: yes please",
            #"user "u": exec.provideClusterInfo must be true or false, not a string"#
        ),
        (
            "apiVersion: client.authentication.k8s.io/v1beta1\n      command: [p]",
            #"user "u": exec.command must be a string, not a list"#
        ),
        ("command: p", #"user "u": exec: apiVersion must be specified"#),
    ])
    func anExecBlockClientGoRefusesIsRefused(_ block: String, _ reason: String) throws {
        let document = try KubeconfigDocument(
            parsing: "users:\n- name: u\n  user:\n    exec:\n      \(block)\n", origin: "the test")
        do {
            let plugin = try ExecCredentialPlugin(user: "u", in: document)
            Issue.record("accepted: \(String(describing: plugin))")
        } catch {
            #expect(error.description.hasPrefix(reason), "\(error.description)")
        }
    }

    @Test func theDescriptionShowsNoEnvValueNorArgument() throws {
        let plugin = try ExecCredentialPlugin(
            apiVersion: Self.v1, command: "get-token", arguments: ["--password=\(Self.secret)"],
            environment: [.init(name: "API_KEY", value: Self.secret)], interactiveMode: .never)
        for shown in ["\(plugin)", String(reflecting: plugin), "\(plugin.environment)", String(reflecting: plugin.environment)] {
            #expect(!shown.contains(Self.secret))
        }
        #expect("\(plugin)".contains("API_KEY"))
    }
}
