import Foundation
import KubeconfigBase

/// Service-account tokens as kube-apiserver's TokenRequest issues them, shaped as JWTs with the
/// claims the service reads (unsigned: nothing here verifies a signature).
public enum ServiceAccountTokens {
    /// A JWT for `namespace/name`, issued at `issuedAt` for `lifetime` seconds, for `audiences`
    /// (one audience is written as a string, as some issuers do); `nonce` tells tokens apart.
    public static func token(
        namespace: String = "apps", name: String = "kubeconfig-bootstrap", issuedAt: Date, lifetime: TimeInterval,
        audiences: [String] = ["https://kubernetes.default.svc.cluster.local"], nonce: String = UUID().uuidString
    ) -> BearerToken {
        let iat = Int(issuedAt.timeIntervalSince1970)
        var payload: [String: Any] = [
            "iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:\(namespace):\(name)",
            "iat": iat, "nbf": iat, "exp": iat + Int(lifetime), "jti": nonce,
            "kubernetes.io": ["namespace": namespace, "serviceaccount": ["name": name, "uid": "uid-\(name)"]],
        ]
        payload["aud"] = audiences.count == 1 ? audiences[0] as Any : audiences as Any
        return jwt(payload)
    }

    /// A JWT with `payload` as its claims.
    public static func jwt(_ payload: [String: Any]) -> BearerToken {
        func part(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let header = part(Data(#"{"alg":"RS256","kid":"test"}"#.utf8))
        let body = part((try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys])) ?? Data())
        return BearerToken("\(header).\(body).\(part(Data(UUID().uuidString.utf8)))")
    }
}
