import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService
import Logging

/// One log line per change of the document and per disclosure of it: who (as authenticated),
/// what (method and path), and the answer's status. Wraps the routes that change or disclose
/// credentials, inside authorisation, so a refused request is logged there instead.
struct AuditLog: RouteMiddleware {
    let logger: Logger

    func handle(_ request: HTTPServerRequest, next: any RouteHandler) -> HTTPServerResult {
        // Reading the site list or one site discloses no credential.
        guard Self.isAudited(request) else { return next.handle(request) }
        switch next.handle(request) {
        case .response(let response):
            log(request, response)
            return .response(response)
        case .deferred(let work):
            return .deferred {
                let response = await work()
                log(request, response)
                return response
            }
        }
    }

    static func isAudited(_ request: HTTPServerRequest) -> Bool {
        request.method != .get && request.method != .head || request.path == "/kubeconfig"
    }

    private func log(_ request: HTTPServerRequest, _ response: HTTPServerResponse) {
        var metadata: Logger.Metadata = [
            "user": .string(request.authenticatedUser.map(\.printable) ?? "(authorisation off)"),
            "method": .string(request.method.rawValue.printable), "path": .string(request.path.printable),
            "status": .string(String(response.status.code)),
        ]
        if let site = request.queryValue("site") { metadata["site"] = .string(site.printable) }
        logger.info("audit", metadata: metadata)
    }
}
