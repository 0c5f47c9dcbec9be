import Logging

/// Logs requests refused for their form (400, 405, 413), so an operator sees a misbehaving
/// client. Authorisation refusals are logged by `Authorization`, with the decision.
struct RefusalLog: RouteMiddleware {
    let logger: Logger

    func handle(_ request: ServiceRequest, next: any RouteHandler) -> RouteResult {
        let result = next.handle(request)
        if case .response(let response) = result, [400, 405, 413].contains(response.status.code) {
            logger.info(
                "request refused",
                metadata: [
                    "method": "\(ServiceRequest.printable(request.method.rawValue))",
                    "path": "\(ServiceRequest.printable(request.path))", "status": "\(response.status.code)",
                ])
        }
        return result
    }
}
