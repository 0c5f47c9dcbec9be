import Foundation
import HTTPMessages
import KubernetesAPI

/// `POST /sites/{location}`: publishes this site now (or joins the publication under way).
/// Another site is 404; a non-empty body must be a JSON object.
struct PublishSiteRoute: RouteHandler {
    let publisher: SitePublisher

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        let location = publisher.configuration.location
        let site = String(request.path.dropFirst("/sites/".count))
        guard site == location else {
            return .response(
                .error(
                    ServiceError(
                        code: .siteNotFound,
                        message: "this service publishes site \(location), not \(HTTPServerRequest.printable(site))")))
        }
        if !request.body.isEmpty {
            let parsed = try? JSONSerialization.jsonObject(with: Data(request.body))
            guard parsed is [String: Any] else {
                return .response(.error(ServiceError(code: .badRequest, message: "a request body must be a JSON object")))
            }
        }
        return .deferred { [publisher] in
            do throws(ServiceError) {
                return .json(.ok, JSONBody.encode(try await publisher.publish()))
            } catch {
                return .error(error)
            }
        }
    }
}
