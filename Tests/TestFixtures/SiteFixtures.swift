import Foundation

/// Certificates and keys for site registrations, made once with `openssl` for these tests: a CA
/// (`fixture-ca`, EC P-256) and a client certificate it signed (`CN=deployer`), with its key
/// and a key of no certificate. They protect nothing; both certificates expire on `notAfter`.
public enum SiteFixtures {
    /// When both certificates expire: 2126-11-08T02:28:34Z.
    public static let notAfter = Date(timeIntervalSince1970: 4_949_778_514)

    /// The CA certificate.
    public static let caPEM =
        Array(
            """
            -----BEGIN CERTIFICATE-----
            MIIBgDCCASegAwIBAgIUVE+TXobFbVewo6zN2iok+fIbT6MwCgYIKoZIzj0EAwIw
            FTETMBEGA1UEAwwKZml4dHVyZS1jYTAgFw0yNjEyMDIwMjI4MzRaGA8yMTI2MTEw
            ODAyMjgzNFowFTETMBEGA1UEAwwKZml4dHVyZS1jYTBZMBMGByqGSM49AgEGCCqG
            SM49AwEHA0IABNg2zYZBoXVBeoZc89ZFEdHdtH7+B3V6UOTUiioUQPQuZffhgCva
            vrcsWnXqHiOerlXdCbEW8h71EPSbNpkBFcujUzBRMB0GA1UdDgQWBBQyJ/Sa6VVb
            gWMlJKyTz8cwqQuv3jAfBgNVHSMEGDAWgBQyJ/Sa6VVbgWMlJKyTz8cwqQuv3jAP
            BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCICt1akTuayNxVw7vbgoB
            dwyrOLm8pIdFlWBUPpvSEpR5AiAPwnTO4QO1RmeR2AJ3mE3ZRUiXxxYrBcuWMMZm
            Uamh0Q==
            -----END CERTIFICATE-----
            """.utf8) + [0x0A]

    /// A client certificate the CA signed.
    public static let clientCertificatePEM =
        Array(
            """
            -----BEGIN CERTIFICATE-----
            MIIBNzCB3QIUC/mZQ01fBE74P7McY8rMiq/68OUwCgYIKoZIzj0EAwIwFTETMBEG
            A1UEAwwKZml4dHVyZS1jYTAgFw0yNjEyMDIwMjI4MzRaGA8yMTI2MTEwODAyMjgz
            NFowJTERMA8GA1UEAwwIZGVwbG95ZXIxEDAOBgNVBAoMB2ZpeHR1cmUwWTATBgcq
            hkjOPQIBBggqhkjOPQMBBwNCAATgEMXcnqWhrhxN384SRr2X9wwWFu9aX7Iu1UNx
            rmQZoO0KCZ9lZ1wzUbZbodORr1IwceWZ+hM8T2JrfjAJjTRfMAoGCCqGSM49BAMC
            A0kAMEYCIQDaxRH//7HVxglUvO2xISYa4YBDMc/9vxi6aHNpKCyClQIhAPFIs3rx
            GGOJS0eDCPXv/33VunLyCOrpqt6KxyaWv8EH
            -----END CERTIFICATE-----
            """.utf8) + [0x0A]

    /// The client certificate's key (PKCS#8).
    public static let clientKeyPEM =
        Array(
            """
            -----BEGIN PRIVATE KEY-----
            MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6vWQmvmtWL2RZRwq
            +hW6zvv4Kbq7drKrkoMNncZmiC+hRANCAATgEMXcnqWhrhxN384SRr2X9wwWFu9a
            X7Iu1UNxrmQZoO0KCZ9lZ1wzUbZbodORr1IwceWZ+hM8T2JrfjAJjTRf
            -----END PRIVATE KEY-----
            """.utf8) + [0x0A]

    /// A key that belongs to no certificate here.
    public static let otherKeyPEM =
        Array(
            """
            -----BEGIN EC PRIVATE KEY-----
            MHcCAQEEIJN5Te0+g8wFUDEBr4OjJlLRzaHxxWrINCHGrdAq+ccYoAoGCCqGSM49
            AwEHoUQDQgAEOGtmq4tNB9rmr1+gmZ/R1VNzsYj/drArBgkWLveFRcIHXQs7Y+nM
            QA08gPuraXT5kzDmV02t/WmhpmYxc0KgWw==
            -----END EC PRIVATE KEY-----
            """.utf8) + [0x0A]

    /// `bytes` as base64, as kubeconfig `*-data` fields and registration bodies hold them.
    public static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
}
