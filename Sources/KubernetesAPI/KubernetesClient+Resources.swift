import FoundationEssentials
import KubeconfigBase
import NIOHTTP1

extension KubernetesClient {
    // MARK: - ConfigMaps and Secrets

    static func objectPath(_ resource: DataObjectResource, namespace: String, name: String) -> String {
        "/api/v1/namespaces/\(Self.pathSegment(namespace))/\(resource.rawValue)/\(Self.pathSegment(name))"
    }

    /// Percent-encodes a path segment; Kubernetes names never need it, but a flag could.
    static func pathSegment(_ value: String) -> String {
        PercentEncoding.pathSegment.encode(value)
    }

    /// `GET` one ConfigMap or Secret.
    public func dataObject(
        _ resource: DataObjectResource, namespace: String, name: String, token: BearerToken, retry: RetryPolicy
    ) async throws(ServiceError) -> DataObject {
        let body = try await send(.GET, Self.objectPath(resource, namespace: namespace, name: name), token: token, retry: retry)
        return try Self.decode(DataObject.self, from: body, what: "\(resource.singular) \(namespace)/\(name)")
    }

    /// Sends `patch` as a JSON merge patch carrying `metadata.resourceVersion`.
    ///
    /// Only the keys and annotations in the patch are touched, so other keys, labels and
    /// annotations stay; a stale `resourceVersion` makes the API server answer 409 instead of
    /// losing a write.
    public func patchDataObject(
        _ resource: DataObjectResource, namespace: String, name: String, _ patch: DataObjectPatch, token: BearerToken,
        retry: RetryPolicy
    ) async throws(ServiceError) -> DataObject {
        let bytes = Self.mergePatch(patch)
        let body = try await send(
            .PATCH, Self.objectPath(resource, namespace: namespace, name: name), token: token,
            contentType: "application/merge-patch+json", body: bytes, retry: retry)
        return try Self.decode(DataObject.self, from: body, what: "\(resource.singular) \(namespace)/\(name)")
    }

    /// `patch` as a JSON merge patch: a nil annotation or data value is `null`, which removes it.
    static func mergePatch(_ patch: DataObjectPatch) -> [UInt8] {
        struct Body: Encodable {
            struct Metadata: Encodable {
                var resourceVersion: String
                var annotations: [String: String?]?
            }
            var metadata: Metadata
            var data: [String: String?]
        }
        let body = Body(
            metadata: .init(
                resourceVersion: patch.resourceVersion, annotations: patch.annotations.isEmpty ? nil : patch.annotations),
            data: patch.data)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(body)) ?? Data())
    }

    // MARK: - TokenRequest

    /// Asks for a token of a service account (TokenRequest); the answer's expiry, not the
    /// requested lifetime, says how long it lives.
    public func requestToken(
        namespace: String, serviceAccount: String, expirationSeconds: Int, audiences: [String], token: BearerToken,
        retry: RetryPolicy
    ) async throws(ServiceError) -> IssuedToken {
        let body = try await send(
            .POST, Self.tokenRequestPath(namespace: namespace, serviceAccount: serviceAccount), token: token,
            body: Self.tokenRequestBody(expirationSeconds: expirationSeconds, audiences: audiences), retry: retry)
        return try Self.issuedToken(
            from: body, what: "TokenRequest for serviceaccount \(namespace)/\(serviceAccount)",
            redaction: CredentialRedaction([token]))
    }

    static func tokenRequestPath(namespace: String, serviceAccount: String) -> String {
        "/api/v1/namespaces/\(pathSegment(namespace))/serviceaccounts/\(pathSegment(serviceAccount))/token"
    }

    static func tokenRequestBody(expirationSeconds: Int, audiences: [String]) -> [UInt8] {
        struct Request: Encodable {
            struct Spec: Encodable {
                var audiences: [String]?
                var expirationSeconds: Int
            }
            var apiVersion = "authentication.k8s.io/v1"
            var kind = "TokenRequest"
            var spec: Spec
        }
        let request = Request(
            spec: .init(audiences: audiences.isEmpty ? nil : audiences, expirationSeconds: expirationSeconds))
        return Array((try? JSONEncoder().encode(request)) ?? Data())
    }

    /// The token and expiry of a TokenRequest's answer; an answer without either is an error.
    ///
    /// An unreadable expiry is quoted bounded and without the credential that asked (`redaction`).
    static func issuedToken(
        from body: [UInt8], what: String, redaction: CredentialRedaction
    ) throws(ServiceError)
        -> IssuedToken
    {
        struct Result: Decodable {
            struct Status: Decodable {
                var token: String?
                var expirationTimestamp: String?
            }
            var status: Status?
        }
        // Not `decode`: its message quotes the decoder's error, and this body holds a token.
        guard let result = try? JSONDecoder().decode(Result.self, from: Data(body)) else {
            throw ServiceError(code: .apiProtocol, message: "the API server answered the \(what) with unreadable JSON")
        }
        guard let issued = result.status?.token, !issued.isEmpty else {
            throw ServiceError(code: .apiProtocol, message: "the API server answered the \(what) without a token")
        }
        guard let text = result.status?.expirationTimestamp, let expiresAt = Self.parseTimestamp(text) else {
            let shown = result.status?.expirationTimestamp.map { Self.quotedTimestamp($0, redaction: redaction) } ?? "none"
            throw ServiceError(
                code: .apiProtocol,
                message: "the API server answered the \(what) with an unreadable expirationTimestamp (\(shown))")
        }
        return IssuedToken(token: BearerToken(issued), expiresAt: expiresAt)
    }

    /// A timestamp that did not parse, as a message may show it: without the credential, on one
    /// line, at most 40 characters (and not at all when it is far longer than any timestamp).
    private static func quotedTimestamp(_ text: String, redaction: CredentialRedaction) -> String {
        guard text.utf8.count <= 1024 else { return "\(text.utf8.count) bytes" }
        return "\"\(APIStatus.quotable(redaction.redact(text), limit: 40))\""
    }

    /// An RFC 3339 time as the API server writes `metav1.Time` (seconds, maybe fractions).
    static func parseTimestamp(_ text: String) -> Date? {
        // Reads whole seconds too: the fractions are optional when parsing.
        try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }

    // MARK: - Reviews

    /// Asks the API server who `token` belongs to (TokenReview); nil when it is not valid.
    public func reviewToken(
        _ reviewed: BearerToken, audiences: [String] = [], token: BearerToken
    ) async throws(ServiceError)
        -> AuthenticatedUser?
    {
        struct Review: Encodable {
            struct Spec: Encodable {
                var token: String
                var audiences: [String]?
            }
            var apiVersion = "authentication.k8s.io/v1"
            var kind = "TokenReview"
            var spec: Spec
        }
        struct Result: Decodable {
            struct Status: Decodable {
                // The API server leaves out `authenticated: false` and sends `user: {}` for a
                // token it does not know, so everything here is optional.
                struct User: Decodable {
                    var username: String?
                    var uid: String?
                    var groups: [String]?
                    var extra: [String: [String]]?
                }
                var authenticated: Bool?
                var user: User?
                var audiences: [String]?
            }
            var status: Status?
        }
        let request = Review(spec: .init(token: reviewed.value, audiences: audiences.isEmpty ? nil : audiences))
        let bytes = Array((try? JSONEncoder().encode(request)) ?? Data())
        let body = try await send(
            .POST, "/apis/authentication.k8s.io/v1/tokenreviews", token: token, alsoSent: [reviewed], body: bytes,
            retry: .none)
        let result = try Self.decode(Result.self, from: body, what: "TokenReview")
        guard result.status?.authenticated == true, let user = result.status?.user, let username = user.username,
            !username.isEmpty
        else { return nil }
        // As kube-rbac-proxy: a token asked about for audiences must be valid for one of them
        // (an API server that ignored the question answers none).
        if !audiences.isEmpty, Set(result.status?.audiences ?? []).isDisjoint(with: audiences) { return nil }
        return AuthenticatedUser(username: username, uid: user.uid, groups: user.groups, extra: user.extra)
    }

    /// Asks the API server whether `user` may do what `attributes` say (SubjectAccessReview).
    public func reviewAccess(
        user: AuthenticatedUser, _ attributes: ResourceAttributes, token: BearerToken
    ) async throws(ServiceError) -> Bool {
        struct Review: Encodable {
            struct Spec: Encodable {
                struct Attributes: Encodable {
                    var namespace: String
                    var verb: String
                    var group: String
                    var resource: String
                    var subresource: String?
                    var name: String
                }
                var user: String
                var uid: String?
                var groups: [String]?
                var extra: [String: [String]]?
                var resourceAttributes: Attributes
            }
            var apiVersion = "authorization.k8s.io/v1"
            var kind = "SubjectAccessReview"
            var spec: Spec
        }
        struct Result: Decodable {
            struct Status: Decodable {
                var allowed: Bool
            }
            var status: Status?
        }
        let request = Review(
            spec: .init(
                user: user.username, uid: user.uid, groups: user.groups, extra: user.extra,
                resourceAttributes: .init(
                    namespace: attributes.namespace, verb: attributes.verb, group: attributes.group,
                    resource: attributes.resource,
                    subresource: attributes.subresource.isEmpty ? nil : attributes.subresource, name: attributes.name)))
        let bytes = Array((try? JSONEncoder().encode(request)) ?? Data())
        let body = try await send(
            .POST, "/apis/authorization.k8s.io/v1/subjectaccessreviews", token: token, body: bytes, retry: .none)
        let result = try Self.decode(Result.self, from: body, what: "SubjectAccessReview")
        return result.status?.allowed ?? false
    }

    // MARK: - Decoding

    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8], what: String) throws(ServiceError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw ServiceError(code: .apiProtocol, message: "the API server sent an unreadable \(what): \(describe(error))")
        }
    }

    /// What a decoding error says, in words: the decoder's own description dumps its types.
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            let trimmed = text.hasPrefix(".") ? String(text.dropFirst()) : text
            return trimmed.isEmpty ? "the document" : String(trimmed.prefix(120))
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(path(context.codingPath)) is not of the type expected"
        case DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty:
            return "\(path(context.codingPath)) is not readable"
        default:
            return "not JSON"
        }
    }
}
