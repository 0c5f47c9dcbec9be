import KubeconfigBase
import KubeconfigService

/// Values the core's tests share.
public enum Fixtures {
    /// Stands for a CA bundle: PEM framing only; the merge copies it without parsing.
    public static let caPEM = Array("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8)

    /// The central site's entries, as a publication builds them.
    public static let central = SiteEntries(
        location: "central", user: "user00", server: "https://10.96.0.1:443", certificateAuthority: caPEM,
        token: BearerToken("central-token"))
}
