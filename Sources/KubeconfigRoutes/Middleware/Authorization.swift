import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService
import Logging

/// Lets a request through when its bearer token has the route's permission, as kube-rbac-proxy's
/// `WithAuthentication` and `WithAuthorization` filters do: by default, to read (GET, HEAD:
/// `get`) or change (any other method: `patch`) the document's object; answers 401 or 403
/// otherwise. A cached decision answers on the server's thread; a review is deferred. The
/// request goes on with the caller's name.
struct Authorization: RouteMiddleware {
    let reviewer: AccessReviewer
    let logger: Logger
    /// The permission a request needs.
    var permission: @Sendable (HTTPServerRequest) -> AccessReviewer.Permission = { .document(verb(for: $0.method)) }

    static func verb(for method: HTTPRequest.Method) -> AccessReviewer.Verb {
        method == .get || method == .head ? .get : .patch
    }

    func handle(_ request: HTTPServerRequest, next: any RouteHandler) -> HTTPServerResult {
        guard let token = Self.bearerToken(request.header(.authorization)) else {
            return .response(refused(request, .unauthenticated(reason: "a bearer token is required")))
        }
        let permission = permission(request)
        if let decision = reviewer.cachedDecision(for: token, permission) {
            guard case .allowed(let username) = decision else { return .response(refused(request, decision)) }
            return next.handle(request.authenticated(as: username))
        }
        return .deferred {
            let decision: AccessReviewer.Decision
            do throws(ServiceError) {
                decision = try await reviewer.review(token, permission)
            } catch {
                logger.warning("could not review a caller's access", metadata: ["error": "\(error)"])
                return .error(error)
            }
            guard case .allowed(let username) = decision else { return refused(request, decision) }
            return await next.handle(request.authenticated(as: username)).response()
        }
    }

    private func refused(_ request: HTTPServerRequest, _ decision: AccessReviewer.Decision) -> HTTPServerResponse {
        let response: HTTPServerResponse
        switch decision {
        case .allowed:
            preconditionFailure("an allowed request is not refused")
        case .unauthenticated(let reason):
            response = .error(
                ServiceError(code: .unauthorized, message: reason),
                headerFields: [.wwwAuthenticate: "Bearer realm=\"kubeconfig-service\""])
        case .denied(_, let reason):
            response = .error(ServiceError(code: .forbidden, message: "forbidden: \(reason)"))
        }
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue.printable)",
            "path": "\(request.path.printable)", "status": "\(response.status.code)",
            "decision": "\(decision.label)",
        ]
        // Who was refused, when the token named someone (the TokenReview's user, never the token).
        if case .denied(let username, _) = decision { metadata["user"] = "\(username.printable)" }
        logger.info("request refused", metadata: metadata)
        return response
    }

    /// `Bearer <token>` (the scheme in any case, then one or more spaces), parsed on the bytes.
    static func bearerToken(_ header: String?) -> BearerToken? {
        guard let header else { return nil }
        let bytes = header.utf8
        let scheme = "bearer".utf8
        guard bytes.count > scheme.count,
            bytes.prefix(scheme.count).elementsEqual(scheme, by: { $0 | 0x20 == $1 }),
            bytes.dropFirst(scheme.count).first == UInt8(ascii: " ")
        else { return nil }
        var token = Substring(bytes.dropFirst(scheme.count).drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
        while token.last == " " || token.last == "\t" { token.removeLast() }
        return token.isEmpty ? nil : BearerToken(String(token))
    }
}
