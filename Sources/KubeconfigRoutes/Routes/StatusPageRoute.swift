import HTTPMessages
import HTTPTypes
import KubeconfigBase

/// `GET /`: the status page. It needs no token, like the probes: it holds no data, and reads
/// `/sites` and `/status` with the token its user enters, so it shows exactly what they would.
struct StatusPageRoute: RouteHandler {
    let page: StatusPage
    private let headerFields: HTTPFields

    init(page: StatusPage) {
        self.page = page
        headerFields = [
            .contentType: "text/html; charset=utf-8", .contentSecurityPolicy: page.contentSecurityPolicy,
            .xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer", .cacheControl: "no-store",
        ]
    }

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        .response(HTTPServerResponse(status: .ok, headerFields: headerFields, body: page.html))
    }
}

extension HTTPField.Name {
    /// Not among swift-http-types' predefined names.
    fileprivate static var referrerPolicy: Self { Self("Referrer-Policy")! }
}
