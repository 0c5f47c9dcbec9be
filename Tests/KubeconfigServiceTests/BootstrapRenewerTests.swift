import Foundation
import KubeconfigBase
import KubeconfigServiceTestSupport
import KubernetesAPI
import Logging
import Synchronization
import TestFixtures
import Testing

@testable import KubeconfigService

/// A managed site's bootstrap credential renewing itself through the renewer: at the site's
/// registered server, with itself, written into its registration's key of the credentials Secret,
/// swapped into the registration's token source; replicas converge; a site that is down keeps it.
@Suite struct BootstrapRenewerTests {
    /// One remote site issuing service-account JWTs: a token authenticates while it is one the
    /// site issued (or was told of) and has not expired.
    final class ServiceAccountSite: RemoteTokenRequestAPI {
        struct Call: Equatable {
            var account: String
            /// The credential the request was made with.
            var credential: String
            var expirationSeconds: Int
            var audiences: [String]
        }

        struct State {
            var valid: Set<String> = []
            var calls: [Call] = []
            var down = false
            /// The bootstrap account may not create its own tokens.
            var selfForbidden = false
            /// How far the site's clock is ahead of ours: tokens are issued then (time passing, in
            /// whole seconds, as JWT claims count it).
            var clock: TimeInterval = 0
        }

        let state = Mutex(State())
        /// The site's clock starts here, in whole seconds, so that two tokens issued at one
        /// moment of the test expire at the same second.
        let start = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))

        func accept(_ token: BearerToken) { state.withLock { _ = $0.valid.insert(token.value) } }
        var calls: [Call] { state.withLock { $0.calls } }
        func calls(of account: String) -> [Call] { calls.filter { $0.account == account } }

        func requestToken(
            at endpoint: ClusterEndpoint, namespace: String, serviceAccount: String, expirationSeconds: Int,
            audiences: [String]
        ) async throws(ServiceError) -> IssuedToken {
            guard case .token(let credential) = endpoint.credential else {
                throw ServiceError(code: .apiUnauthorized, message: "unauthorized: Unauthorized")
            }
            let realNow = Date()
            let result: Result<IssuedToken, ServiceError> = state.withLock { state in
                guard !state.down else {
                    return .failure(ServiceError(code: .siteConnectionRefused, message: "connection refused"))
                }
                state.calls.append(
                    Call(
                        account: "\(namespace)/\(serviceAccount)", credential: credential.value,
                        expirationSeconds: expirationSeconds, audiences: audiences))
                let now = start.addingTimeInterval(state.clock)
                guard state.valid.contains(credential.value), (credential.claims?.expiresAt ?? .distantFuture) > realNow
                else {
                    return .failure(ServiceError(code: .apiUnauthorized, message: "unauthorized: Unauthorized"))
                }
                if state.selfForbidden, serviceAccount == "kubeconfig-bootstrap" {
                    return .failure(
                        ServiceError(
                            code: .apiForbidden,
                            message: "serviceaccounts \"kubeconfig-bootstrap\" is forbidden: cannot create resource "
                                + "\"serviceaccounts/token\""))
                }
                let token = ServiceAccountTokens.token(
                    namespace: namespace, name: serviceAccount, issuedAt: now, lifetime: TimeInterval(expirationSeconds),
                    audiences: audiences.isEmpty ? ["https://kubernetes.default.svc.cluster.local"] : audiences)
                state.valid.insert(token.value)
                return .success(
                    IssuedToken(token: token, expiresAt: now.addingTimeInterval(TimeInterval(expirationSeconds))))
            }
            return try result.get()
        }
    }

    /// One replica: its updater, registry and renewer, over the shared store and Secret.
    struct Replica {
        let state = PublicationState()
        let renewer: SiteTokenRenewer
        let registry: SiteRegistry

        init(store: InMemoryDocumentStore, central: ScriptedKubernetesAPI, remote: ServiceAccountSite) {
            let logger = Logger(label: "test")
            let updater = DocumentUpdater(store: store, logger: logger)
            renewer = SiteTokenRenewer(
                credentials: SiteCredentialStore(api: central, namespace: "onap", name: "site-credentials", logger: logger),
                remote: remote, updater: updater, state: state, logger: logger)
            registry = SiteRegistry(location: "central", updater: updater, state: state, renewer: renewer)
        }
    }

    let central = ScriptedKubernetesAPI()
    let remote = ServiceAccountSite()
    let store = InMemoryDocumentStore(text: "")
    let first: Replica
    let second: Replica
    static let ca = SiteFixtures.base64(SiteFixtures.caPEM)
    static let bootstrapAccount = "apps/kubeconfig-bootstrap"

    init() {
        central.put(.secrets, namespace: "onap", name: "site-credentials", data: nil)
        first = Replica(store: store, central: central, remote: remote)
        second = Replica(store: store, central: central, remote: remote)
    }

    /// A bootstrap token the site issued `age` seconds ago for `lifetime` seconds.
    func bootstrap(age: TimeInterval = 0, lifetime: TimeInterval = 1000) -> BearerToken {
        let token = ServiceAccountTokens.token(issuedAt: Date().addingTimeInterval(-age), lifetime: lifetime)
        remote.accept(token)
        return token
    }

    func register(_ bootstrap: BearerToken, through replica: Replica? = nil) async throws {
        let body = #"""
            {"server":"https://edge.example:6443","certificateAuthorityData":"\#(Self.ca)","bootstrapToken":"\#(bootstrap.value)",
             "tokenRequest":{"serviceAccount":"deployer","namespace":"apps","expirationSeconds":3600}}
            """#
        _ = try await (replica ?? first).registry.register(SiteRegistration(name: "edge", json: Array(body.utf8)))
    }

    /// The bootstrap credentials the Secret holds, by key.
    func storedBootstraps() throws -> [String: BearerToken] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var result: [String: BearerToken] = [:]
        for (key, value) in central.object(.secrets, namespace: "onap", name: "site-credentials")?.data ?? [:] {
            let data = try #require(Data(base64Encoded: value))
            result[key] = try decoder.decode(ManagedCredential.self, from: data).bootstrapToken
        }
        return result
    }

    var secretWrites: Int { central.calls.filter { $0.hasPrefix("PATCH secrets:") }.count }

    func current(_ renewer: SiteTokenRenewer) -> BearerToken? {
        renewer.bootstraps.withLock { $0.values.first }?.token
    }

    /// Well past the bootstrap's renewal point (80 % of 1000 s), before its expiry; the site's
    /// clock is moved there too.
    var due: Date {
        remote.state.withLock { $0.clock = 850 }
        return Date().addingTimeInterval(850)
    }

    // MARK: - Tests

    @Test func aServiceAccountBootstrapIsShownManagedWithItsRenewalPoint() async throws {
        let token = bootstrap()
        try await register(token)
        let status = try #require(first.renewer.status(of: "edge"))
        #expect(status.bootstrapManagement == .managed)
        #expect(status.bootstrapExpiresAt == token.claims?.expiresAt)
        let issuedAt = try #require(token.claims?.issuedAt)
        let renewsAt = try #require(status.bootstrapRenewsAt)
        #expect(renewsAt >= issuedAt.addingTimeInterval(750) && renewsAt < issuedAt.addingTimeInterval(800))
        #expect(status.bootstrapRenewalError == nil)
    }

    @Test func aDueBootstrapRenewsItselfIntoItsKeyAndTheNextTokenRequestPresentsIt() async throws {
        let old = bootstrap()
        try await register(old)
        let key = try #require(try storedBootstraps().keys.first)
        let writes = secretWrites
        #expect(remote.calls(of: "apps/deployer").map(\.credential) == [old.value])

        await first.renewer.renewDueBootstraps(at: due)

        let renewals = remote.calls(of: Self.bootstrapAccount)
        #expect(renewals.count == 1)
        #expect(renewals.first?.credential == old.value, "asked with the bootstrap credential itself")
        #expect(renewals.first?.expirationSeconds == 1000, "for as long as it was granted")
        #expect(renewals.first?.audiences == ["https://kubernetes.default.svc.cluster.local"], "for the same audiences")
        let renewed = try #require(current(first.renewer))
        #expect(renewed != old)
        #expect(try storedBootstraps() == [key: renewed], "the same key, the new credential")
        #expect(secretWrites == writes + 1, "one conditional write")
        // The next deployer token is asked for with the renewed credential.
        let tokens = try #require(first.renewer.tokenSource(ofSite: "edge"))
        _ = try await tokens.mint(expirationSeconds: 600, audiences: [])
        #expect(remote.calls(of: "apps/deployer").last?.credential == renewed.value)
        #expect(first.renewer.status(of: "edge")?.bootstrapExpiresAt == renewed.claims?.expiresAt)
        // Neither credential is in the document, its annotations or the site's status.
        let stored = try #require(store.stored)
        for bootstrap in [old, renewed] {
            #expect(!(stored.text ?? "").contains(bootstrap.value))
            #expect(!stored.annotations.values.contains { $0.contains(bootstrap.value) })
            #expect(!String(describing: first.renewer.status(of: "edge")).contains(bootstrap.value))
        }
        // Not due again before its own point.
        await first.renewer.renewDueBootstraps(at: Date().addingTimeInterval(600))
        #expect(remote.calls(of: Self.bootstrapAccount).count == 1)
    }

    @Test func replicasConvergeOnOneRenewedCredentialWithOneWrite() async throws {
        try await register(bootstrap())
        await second.renewer.check()  // the second replica loads the registration from the Secret
        #expect(current(second.renewer) == current(first.renewer))
        let writes = secretWrites

        await first.renewer.renewDueBootstraps(at: due)
        // The second replica, due too, mints one but finds the newer one in the Secret: adopts it.
        await second.renewer.renewDueBootstraps(at: due)
        let renewed = try #require(current(first.renewer))
        #expect(current(second.renewer) == renewed)
        #expect(try storedBootstraps().values.map { $0 } == [renewed])
        #expect(secretWrites == writes + 1, "a lost race costs a TokenRequest, never a write")
        #expect(remote.calls(of: Self.bootstrapAccount).count == 2)

        // A replica that checks before its own point adopts without asking at all.
        remote.state.withLock { $0.clock = 1700 }
        await first.renewer.renewDueBootstraps(at: Date().addingTimeInterval(1700))
        let third = try #require(current(first.renewer))
        await second.renewer.check()
        #expect(current(second.renewer) == third)
        await second.renewer.renewDueBootstraps(at: Date().addingTimeInterval(1000))
        #expect(remote.calls(of: Self.bootstrapAccount).count == 3)
    }

    @Test func aSiteDownAtTheRenewalPointKeepsTheCredentialAndRenewsOnceBack() async throws {
        let old = bootstrap()
        try await register(old)
        remote.state.withLock { $0.down = true }
        await first.renewer.renewDueBootstraps(at: due)
        var status = try #require(first.renewer.status(of: "edge"))
        #expect(status.bootstrapManagement == .managed)
        #expect(status.bootstrapRenewalError?.code == .siteConnectionRefused)
        #expect(current(first.renewer) == old, "kept while valid")
        #expect(try storedBootstraps().values.map { $0 } == [old])
        // Retried with backoff: not before its step.
        let failing = try #require(first.renewer.bootstraps.withLock { $0.values.first }?.renewal.withLock { $0 })
        guard case .failing(1, let retryAt, _) = failing.phase else {
            Issue.record("not failing: \(failing.phase)")
            return
        }
        #expect(retryAt.timeIntervalSinceNow > 1 && retryAt.timeIntervalSinceNow < 2.5)
        remote.state.withLock { $0.down = false }
        await first.renewer.renewDueBootstraps(at: retryAt)
        status = try #require(first.renewer.status(of: "edge"))
        #expect(status.bootstrapRenewalError == nil)
        #expect(current(first.renewer) != old)
    }

    @Test func anAccountWithoutTheRightIsStaticAndNotAskedAgainAtEveryCheck() async throws {
        try await register(bootstrap())
        remote.state.withLock { $0.selfForbidden = true }
        await first.renewer.renewDueBootstraps(at: due)
        let status = try #require(first.renewer.status(of: "edge"))
        #expect(status.bootstrapManagement == .static)
        #expect(status.bootstrapRenewsAt == nil)
        #expect(status.bootstrapRenewalError?.code == .tokenRequestForbidden)
        #expect(status.bootstrapRenewalError?.message.contains("create on serviceaccounts/token") == true)
        await first.renewer.renewDueBootstraps(at: due.addingTimeInterval(60))
        await first.renewer.renewDueBootstraps(at: due.addingTimeInterval(2500))
        #expect(remote.calls(of: Self.bootstrapAccount).count == 1)
        #expect(status.renewalError == nil, "the deployer's token renews as before")
    }

    @Test func aPastedBootstrapIsStaticAndALapsedOneSaysHowToRecover() async throws {
        let pasted = BearerToken("pasted-bootstrap")
        remote.accept(pasted)
        try await register(pasted)
        let status = try #require(first.renewer.status(of: "edge"))
        #expect(status.bootstrapManagement == .static)
        #expect(status.bootstrapRenewalError == nil && status.bootstrapExpiresAt == nil)
        await first.renewer.renewDueBootstraps(at: Date().addingTimeInterval(100_000))
        #expect(remote.calls(of: Self.bootstrapAccount).isEmpty)

        let lapsing = bootstrap(lifetime: 1000)
        try await register(lapsing)
        let later = try #require(lapsing.claims?.expiresAt).addingTimeInterval(1)
        let lapsed = try #require(first.renewer.status(of: "edge", at: later)?.bootstrapRenewalError)
        #expect(lapsed.code == .bootstrapExpired)
        #expect(lapsed.message.contains("run kubeconfig-service site add edge again"))
    }

    @Test func aRemovedSiteLeavesNoBootstrapBehind() async throws {
        try await register(bootstrap())
        #expect(first.renewer.bootstraps.withLock { $0.count } == 1)
        _ = try await first.registry.remove("edge")
        #expect(first.renewer.bootstraps.withLock { $0.isEmpty })
        await first.renewer.renewDueBootstraps(at: due)
        #expect(remote.calls(of: Self.bootstrapAccount).isEmpty)
    }
}
