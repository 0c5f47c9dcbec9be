import KubeconfigService
import MicroHTTPServer

/// Connects the HTTP layer to the service's router. Both speak swift-http-types, so this only
/// moves fields across.
struct RouterResponder: HTTPResponder {
    let router: ServiceRouter

    func respond(to request: HTTPServerRequest) -> HTTPServerResult {
        let serviceRequest = ServiceRequest(
            method: request.method, path: request.path, query: request.query, headerFields: request.headerFields,
            body: request.body, bodyTooLarge: request.bodyTooLarge, malformed: request.defect)
        switch router.route(serviceRequest) {
        case .response(let response):
            return .response(Self.convert(response))
        case .deferred(let work):
            return .deferred { Self.convert(await work()) }
        }
    }

    static func convert(_ response: ServiceResponse) -> HTTPServerResponse {
        HTTPServerResponse(status: response.status, headerFields: response.headerFields, body: response.body)
    }
}
