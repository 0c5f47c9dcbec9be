import Foundation
import KubeconfigService
import TestFixtures

extension SiteFixtures {
    /// A remote site `name` with a pasted token, as tests register it (through the JSON body a
    /// `PUT` takes, so it is a registration the service would accept).
    public static func registration(
        _ name: String, token: String = "t-\(UUID().uuidString.prefix(8))", user: String? = nil
    ) -> SiteRegistration {
        let body: [String: String] = [
            "server": "https://\(name).example:6443", "certificateAuthorityData": base64(caPEM), "token": token,
            "user": user ?? name,
        ]
        do {
            return try SiteRegistration(name: name, json: Array(try JSONEncoder().encode(body)))
        } catch {
            preconditionFailure("the fixture registration of \(name) is refused: \(error)")
        }
    }
}
