import Foundation
import NIOHTTP1

extension KubernetesClient {
    // MARK: - ConfigMaps

    static func configMapPath(namespace: String, name: String) -> String {
        "/api/v1/namespaces/\(Self.pathSegment(namespace))/configmaps/\(Self.pathSegment(name))"
    }

    /// Percent-encodes a path segment; Kubernetes names never need it, but a flag could.
    static func pathSegment(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? value
    }

    /// `GET` one ConfigMap.
    public func configMap(
        namespace: String, name: String, token: BearerToken, retry: RetryPolicy
    ) async throws(ServiceError)
        -> ConfigMap
    {
        let body = try await send(.GET, Self.configMapPath(namespace: namespace, name: name), token: token, retry: retry)
        return try Self.decode(ConfigMap.self, from: body, what: "configmap \(namespace)/\(name)")
    }

    /// Sets one data key with a JSON merge patch that is conditional on `resourceVersion`.
    ///
    /// Only that key is in the patch, so other keys, labels and annotations are untouched; a
    /// stale `resourceVersion` makes the API server answer 409 instead of losing a write.
    public func patchConfigMapData(
        namespace: String, name: String, key: String, value: String, resourceVersion: String, token: BearerToken,
        retry: RetryPolicy
    ) async throws(ServiceError) -> ConfigMap {
        struct Patch: Encodable {
            struct Metadata: Encodable { var resourceVersion: String }
            var metadata: Metadata
            var data: [String: String]
        }
        let patch = Patch(metadata: .init(resourceVersion: resourceVersion), data: [key: value])
        let bytes = Array((try? JSONEncoder().encode(patch)) ?? Data())
        let body = try await send(
            .PATCH, Self.configMapPath(namespace: namespace, name: name), token: token,
            contentType: "application/merge-patch+json", body: bytes, retry: retry)
        return try Self.decode(ConfigMap.self, from: body, what: "configmap \(namespace)/\(name)")
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
            }
            var status: Status?
        }
        let request = Review(spec: .init(token: reviewed.value, audiences: audiences.isEmpty ? nil : audiences))
        let bytes = Array((try? JSONEncoder().encode(request)) ?? Data())
        let body = try await send(
            .POST, "/apis/authentication.k8s.io/v1/tokenreviews", token: token, body: bytes, retry: .none)
        let result = try Self.decode(Result.self, from: body, what: "TokenReview")
        guard result.status?.authenticated == true, let user = result.status?.user, let username = user.username,
            !username.isEmpty
        else { return nil }
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
                    resource: attributes.resource, name: attributes.name)))
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
            throw ServiceError(code: .apiProtocol, message: "the API server sent an unreadable \(what): \(error)")
        }
    }
}
