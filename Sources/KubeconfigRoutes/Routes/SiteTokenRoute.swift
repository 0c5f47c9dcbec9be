import FoundationEssentials
import HTTPMessages
import HTTPTypes
import KubeconfigBase
import KubeconfigService
import KubernetesAPI
import Logging

/// `POST /sites/{name}/token`: a fresh token of the site's deployer account for the caller, as
/// kubectl's exec credential plugins hand one over (`client.authentication.k8s.io/v1`
/// `ExecCredential`). The body is optional: `{"expirationSeconds": N, "audiences": [...]}`.
/// Each issuance is logged with the caller, the site, the token's fingerprint and `jti` (never
/// the token); a caller asking one site too often gets 429 with `Retry-After`.
struct SiteTokenRoute: RouteHandler {
    let issuer: SiteTokenIssuer
    let limit: CallerRateLimit
    let logger: Logger

    func handle(_ request: HTTPServerRequest) -> HTTPServerResult {
        let site = request.parameters["name", default: ""]
        let asked: SiteTokenIssuer.Request
        do throws(ServiceError) {
            asked = try Self.request(request.body)
        } catch {
            return .response(.error(error))
        }
        let caller = request.authenticatedUser ?? ""
        if let retryAfter = limit.take(.init(caller: caller, site: site)) {
            return .response(
                .error(
                    ServiceError(
                        code: .tooManyRequests,
                        message: "at most \(limit.perMinute) tokens a minute for one caller and site: try again in "
                            + "\(retryAfter) s",
                        retryAfterSeconds: retryAfter)))
        }
        return .deferred { [issuer, logger] in
            do throws(ServiceError) {
                let issued = try await issuer.issue(site: site, asked)
                logger.info(
                    "issued a token to a caller",
                    metadata: [
                        "user": "\(request.authenticatedUser.map(\.printable) ?? "(authorisation off)")",
                        "site": "\(site.printable)", "token_fingerprint": "\(issued.token.fingerprint)",
                        "jti": "\(issued.token.claims?.id.map(\.printable) ?? "")",
                        "expires_at": "\(issued.expiresAt.formatted(.iso8601))",
                    ])
                return .json(.ok, JSONBody.encode(ExecCredential(issued)))
            } catch {
                return .error(error)
            }
        }
    }

    /// The optional body: a JSON object with `expirationSeconds` and `audiences`, nothing else.
    static func request(_ body: [UInt8]) throws(ServiceError) -> SiteTokenIssuer.Request {
        guard !body.isEmpty else { return SiteTokenIssuer.Request() }
        guard let fields = try? JSONDecoder().decode([String: JSONValue].self, from: Data(body)) else {
            throw ServiceError(code: .badRequest, message: "the body must be a JSON object (or empty)")
        }
        var request = SiteTokenIssuer.Request()
        for (field, value) in fields {
            switch (field, value) {
            case ("expirationSeconds", .number(let number)) where number == number.rounded() && abs(number) < 1e9:
                request.expirationSeconds = Int(number)
            case ("expirationSeconds", _):
                throw ServiceError(code: .badRequest, message: "expirationSeconds: must be a whole number of seconds")
            case ("audiences", .array(let values)):
                request.audiences = try values.map { value throws(ServiceError) in
                    guard case .string(let audience) = value else {
                        throw ServiceError(code: .badRequest, message: "audiences: must be an array of strings")
                    }
                    return audience
                }
            case ("audiences", _):
                throw ServiceError(code: .badRequest, message: "audiences: must be an array of strings")
            default:
                throw ServiceError(
                    code: .badRequest,
                    message: "\(field.printable): unknown field; known: expirationSeconds, audiences")
            }
        }
        return request
    }
}

/// A token as an exec credential plugin prints it (client-go's `ExecCredential`, v1).
struct ExecCredential: Encodable {
    struct Status: Encodable {
        var token: String
        var expirationTimestamp: Date
    }
    var apiVersion = "client.authentication.k8s.io/v1"
    var kind = "ExecCredential"
    var status: Status

    init(_ issued: IssuedToken) {
        status = Status(token: issued.token.value, expirationTimestamp: issued.expiresAt)
    }
}

extension ServiceError.Code {
    /// A caller asked for more than its share (`Retry-After` says when to ask again).
    static let tooManyRequests = Self(rawValue: "TooManyRequests")
}
