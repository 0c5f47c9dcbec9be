import FoundationEssentials
import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService

/// `POST /sites/{location}`: publishes this site now (or joins the publication under way).
/// Another site is 404; a non-empty body must be a JSON object.
struct PublishSiteRoute: RouteHandler {
    let publisher: SitePublisher

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        let location = publisher.configuration.location
        let site = request.parameters["name", default: ""]
        guard site == location else {
            return .response(
                .error(
                    ServiceError(
                        code: .siteNotFound,
                        message: "this service publishes site \(location), not \(site.printable); a remote site is "
                            + "registered with PUT /sites/\(site.printable)")))
        }
        if !request.body.isEmpty {
            // Every value is decoded, as JSONSerialization did: an object holding a bad number or
            // string is refused too.
            guard (try? JSONDecoder().decode([String: JSONValue].self, from: Data(request.body))) != nil else {
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
