import CoreMetrics
import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

/// Counts answers by route and status: `kubeconfig_http_requests_total{route,status}`.
struct RequestMetrics: RouteMiddleware {
    let route: String
    /// Counters for the statuses routes answer, made once: looking one up by label on every
    /// request would take the metrics factory's lock and allocate.
    private let counters: [Int: Counter]

    init(route: String) {
        self.route = route
        let statuses = [200, 304, 400, 401, 403, 404, 405, 409, 413, 500, 502, 503, 504]
        counters = Dictionary(uniqueKeysWithValues: statuses.map { ($0, Self.counter(route, $0)) })
    }

    func handle(_ request: HTTPServerRequest, next: any RouteHandler) -> HTTPServerResult {
        // Not `map`: an answer given at once is counted without allocating a closure.
        switch next.handle(request) {
        case .response(let response):
            count(response.status.code)
            return .response(response)
        case .deferred(let work):
            return .deferred {
                let response = await work()
                count(response.status.code)
                return response
            }
        }
    }

    private func count(_ status: Int) {
        (counters[status] ?? Self.counter(route, status)).increment()
    }

    private static func counter(_ route: String, _ status: Int) -> Counter {
        Counter(label: "kubeconfig_http_requests_total", dimensions: [("route", route), ("status", String(status))])
    }
}
