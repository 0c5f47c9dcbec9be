import FoundationEssentials
import HTTPMessages
import HTTPTypes

/// `GET /livez`: 200 while the process serves.
struct LivenessRoute: RouteHandler {
    func handle(_ request: HTTPServerRequest) -> HTTPServerResult { .response(.text(.ok, "ok\n")) }
}

/// `GET /healthz`, `/readyz`: 200 once a publication succeeded since start, while the issued
/// token it published is valid; 503 with the reason otherwise.
struct ReadinessRoute: RouteHandler {
    let state: PublicationState

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        guard let problem = state.snapshot.readiness(at: Date()) else { return .response(.text(.ok, "ok\n")) }
        return .response(.error(problem))
    }
}

/// `GET /metrics`: the Prometheus text the process's registry renders.
struct MetricsRoute: RouteHandler {
    let render: @Sendable () -> String

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        .response(
            HTTPServerResponse(
                status: .ok, headerFields: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: Array(render().utf8)))
    }
}
