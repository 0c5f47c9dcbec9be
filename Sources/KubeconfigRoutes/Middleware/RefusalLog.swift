import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService
import Logging

/// Logs requests refused for their form (400, 405, 413), so an operator sees a misbehaving
/// client. Authorisation refusals are logged by `Authorization`, with the decision.
struct RefusalLog: RouteMiddleware {
    let logger: Logger

    func handle(_ request: HTTPServerRequest, next: any RouteHandler) -> HTTPServerResult {
        let result = next.handle(request)
        if case .response(let response) = result, Self.isRefusal(response.status.code) {
            logger.info(
                "request refused",
                metadata: [
                    "method": "\(request.method.rawValue.printable)",
                    "path": "\(request.path.printable)", "status": "\(response.status.code)",
                ])
        }
        return result
    }

    private static func isRefusal(_ status: Int) -> Bool {
        status == 400 || status == 405 || status == 413
    }
}
