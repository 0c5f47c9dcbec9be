/// Certificates for the TLS failures a site can show, made once with Python's `cryptography`
/// (EC P-256; server certificates carry an authority key identifier, CAs a subject key
/// identifier, as kubeadm's and openssl's do). Fixed validity: the expired and not-yet-valid
/// ones stay so until 2125.
public enum CertificateFixtures {
    /// The site's CA: `CN=fixture-site-ca`, with a subject key identifier.
    public static let siteCA = """
        -----BEGIN CERTIFICATE-----
        MIIBejCCASCgAwIBAgIUI7/YHe8WH6/TD6Vo+Z/UrA7yYewwCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPZml4dHVyZS1zaXRlLWNhMCAXDTIwMDEwMTAwMDAwMFoYDzIx
        MjYwMTAxMDAwMDAwWjAaMRgwFgYDVQQDDA9maXh0dXJlLXNpdGUtY2EwWTATBgcq
        hkjOPQIBBggqhkjOPQMBBwNCAAR6nj7IF9PmfED0SDIP181dODagPYBqkaRumYBT
        XN9tWj/fLTLOXolmaQ5kNwbav/heY1ymXaq8wNGFceBEJs2Zo0IwQDAPBgNVHRMB
        Af8EBTADAQH/MA4GA1UdDwEB/wQEAwIBhjAdBgNVHQ4EFgQUQPrSfJ9aSl+NEDKB
        BeMLUB+scdEwCgYIKoZIzj0EAwIDSAAwRQIhAPK5ODLnsSlGPhrF9ACwP1nYP8HQ
        ilFOWKhSoxJNJGYBAiBEYMS8MESzJUTs83JLulLDqRajm6seDP4n61xaMJuyng==
        -----END CERTIFICATE-----

        """

    /// Another CA of the same name (`CN=fixture-site-ca`, another key): kubeadm's are all `CN=kubernetes`.
    public static let sameNamedCA = """
        -----BEGIN CERTIFICATE-----
        MIIBejCCASCgAwIBAgIUGWHhvSwl5PdeuXpg/lnCX8jwRUswCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPZml4dHVyZS1zaXRlLWNhMCAXDTIwMDEwMTAwMDAwMFoYDzIx
        MjYwMTAxMDAwMDAwWjAaMRgwFgYDVQQDDA9maXh0dXJlLXNpdGUtY2EwWTATBgcq
        hkjOPQIBBggqhkjOPQMBBwNCAAQV7XAe+2eF6tJoZrkNOQ7ZwvcY+FKoMZUlzJhT
        q577MJGU5hbefh7+eCe/6rfCzd4k2nSHIpPXq6qEvN4CByyjo0IwQDAPBgNVHRMB
        Af8EBTADAQH/MA4GA1UdDwEB/wQEAwIBhjAdBgNVHQ4EFgQUOtkzgzNd/ly6VY/2
        jmAwJc43oFMwCgYIKoZIzj0EAwIDSAAwRQIgDRNQ+Oj2xzWOYadSsHL0JnM6OoC4
        rLjy3WbcTS6iSkECIQDwcnE31mrKygQLcrCtJexSh5jsp8GpmBtBrgnTjQaXrw==
        -----END CERTIFICATE-----

        """

    /// A CA of another name, `CN=another-ca`.
    public static let otherCA = """
        -----BEGIN CERTIFICATE-----
        MIIBbzCCARagAwIBAgIUWfy6/9R2+ujvGXuhvbZ65NfSYC8wCgYIKoZIzj0EAwIw
        FTETMBEGA1UEAwwKYW5vdGhlci1jYTAgFw0yMDAxMDEwMDAwMDBaGA8yMTI2MDEw
        MTAwMDAwMFowFTETMBEGA1UEAwwKYW5vdGhlci1jYTBZMBMGByqGSM49AgEGCCqG
        SM49AwEHA0IABBaAreS/GAvbevQAH7OGEdPJBLEy9fZeqnfiZg1yP80DSaKmKsvv
        AhalL6AQ50ehN7XmFR64qsWkP3TGB2538DSjQjBAMA8GA1UdEwEB/wQFMAMBAf8w
        DgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBTBBmOAErF29q8tAN0DmG9VNhzo6DAK
        BggqhkjOPQQDAgNHADBEAiBU4VwqhqYgytesTRzo6szbv/IkKUEi2nuOSIg+BXuh
        YQIgLCEqcTYWdtpXkIOuNJn2WznZ5JZNnbSVPQPFuxvTMz0=
        -----END CERTIFICATE-----

        """

    /// For IP 127.0.0.1 and localhost, by the site's CA, valid 2020 to 2126: the control.
    public static let valid = """
        -----BEGIN CERTIFICATE-----
        MIIBmDCCAT+gAwIBAgIUEz7n6rXWv6tdWPhomugDpd/nTcowCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPZml4dHVyZS1zaXRlLWNhMCAXDTIwMDEwMTAwMDAwMFoYDzIx
        MjYwMTAxMDAwMDAwWjAZMRcwFQYDVQQDDA5maXh0dXJlLXNlcnZlcjBZMBMGByqG
        SM49AgEGCCqGSM49AwEHA0IABBxlC59jXzGoOElJcNiiIs5aBzaqdKJTsd3h6eXD
        Ruu/bN+C+4fLVSF/Fem3BtgjIa94ACrmniVm3Q20XRBaz3mjYjBgMAwGA1UdEwEB
        /wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwEwGgYDVR0RBBMwEYcEfwAAAYIJbG9j
        YWxob3N0MB8GA1UdIwQYMBaAFED60nyfWkpfjRAygQXjC1AfrHHRMAoGCCqGSM49
        BAMCA0cAMEQCIERUq3q32VzAP0xzR5EsXx+whtlf4Fjt8IhkXmlqBwGBAiBRGSy2
        1DHFKcCy0TE8dfvAIDtK48nZSH9KbNZVYxCYWw==
        -----END CERTIFICATE-----

        """

    /// For other.example and *.other.example only, by the site's CA.
    public static let otherName = """
        -----BEGIN CERTIFICATE-----
        MIIBqDCCAU6gAwIBAgIURDG6mDCqd0UYaOu8ylgxb0EOTWUwCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPZml4dHVyZS1zaXRlLWNhMCAXDTIwMDEwMTAwMDAwMFoYDzIx
        MjYwMTAxMDAwMDAwWjAZMRcwFQYDVQQDDA5maXh0dXJlLXNlcnZlcjBZMBMGByqG
        SM49AgEGCCqGSM49AwEHA0IABBxlC59jXzGoOElJcNiiIs5aBzaqdKJTsd3h6eXD
        Ruu/bN+C+4fLVSF/Fem3BtgjIa94ACrmniVm3Q20XRBaz3mjcTBvMAwGA1UdEwEB
        /wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwEwKQYDVR0RBCIwIIINb3RoZXIuZXhh
        bXBsZYIPKi5vdGhlci5leGFtcGxlMB8GA1UdIwQYMBaAFED60nyfWkpfjRAygQXj
        C1AfrHHRMAoGCCqGSM49BAMCA0gAMEUCIFin95GFG3Fz2s0YHlye1WBgTU2lG5jK
        yQ2maj1CXBkbAiEAnlKoSNdiNvJuId3mAZDjHzrzVd3k0696m0Eo/1vWx0Y=
        -----END CERTIFICATE-----

        """

    /// For 127.0.0.1, by the site's CA, valid in 2020 only (until 2021-01-01T00:00:00Z).
    public static let expired = """
        -----BEGIN CERTIFICATE-----
        MIIBlzCCAT2gAwIBAgIUFFYyykszM8fGY+cdAcIhKgZMp7QwCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPZml4dHVyZS1zaXRlLWNhMB4XDTIwMDEwMTAwMDAwMFoXDTIx
        MDEwMTAwMDAwMFowGTEXMBUGA1UEAwwOZml4dHVyZS1zZXJ2ZXIwWTATBgcqhkjO
        PQIBBggqhkjOPQMBBwNCAAQcZQufY18xqDhJSXDYoiLOWgc2qnSiU7Hd4enlw0br
        v2zfgvuHy1UhfxXptwbYIyGveAAq5p4lZt0NtF0QWs95o2IwYDAMBgNVHRMBAf8E
        AjAAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2Fs
        aG9zdDAfBgNVHSMEGDAWgBRA+tJ8n1pKX40QMoEF4wtQH6xx0TAKBggqhkjOPQQD
        AgNIADBFAiB0wb5zz4upkgfhJX5ZHFIpDlHoZR/AlDvQaokRJvQjvQIhAI4AuSX3
        cXGgQSPX3N56HvMk0J4Ra+9eSp0qdAhaAyq9
        -----END CERTIFICATE-----

        """

    /// For 127.0.0.1, by the site's CA, valid from 2125-01-01T00:00:00Z.
    public static let notYetValid = """
        -----BEGIN CERTIFICATE-----
        MIIBmjCCAUGgAwIBAgIUc5X2scwYtWETad/ylGh4p5JXl1gwCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPZml4dHVyZS1zaXRlLWNhMCIYDzIxMjUwMTAxMDAwMDAwWhgP
        MjEyNjAxMDEwMDAwMDBaMBkxFzAVBgNVBAMMDmZpeHR1cmUtc2VydmVyMFkwEwYH
        KoZIzj0CAQYIKoZIzj0DAQcDQgAEHGULn2NfMag4SUlw2KIizloHNqp0olOx3eHp
        5cNG679s34L7h8tVIX8V6bcG2CMhr3gAKuaeJWbdDbRdEFrPeaNiMGAwDAYDVR0T
        AQH/BAIwADATBgNVHSUEDDAKBggrBgEFBQcDATAaBgNVHREEEzARhwR/AAABggls
        b2NhbGhvc3QwHwYDVR0jBBgwFoAUQPrSfJ9aSl+NEDKBBeMLUB+scdEwCgYIKoZI
        zj0EAwIDRwAwRAIge37kFID+z560MC/DTR3wzGYwXH/4CC0Ri9dtFm20NGYCIBXr
        0kYH7OGhzPw4zpJsYIs9Uqt5I1ptwYxhYe+yiQVT
        -----END CERTIFICATE-----

        """

    /// For 127.0.0.1, by `sameNamedCA`.
    public static let fromSameNamedCA = """
        -----BEGIN CERTIFICATE-----
        MIIBmTCCAT+gAwIBAgIUFbAL04/NPaCbmNEkKXNZiVeMkwEwCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPZml4dHVyZS1zaXRlLWNhMCAXDTIwMDEwMTAwMDAwMFoYDzIx
        MjYwMTAxMDAwMDAwWjAZMRcwFQYDVQQDDA5maXh0dXJlLXNlcnZlcjBZMBMGByqG
        SM49AgEGCCqGSM49AwEHA0IABBxlC59jXzGoOElJcNiiIs5aBzaqdKJTsd3h6eXD
        Ruu/bN+C+4fLVSF/Fem3BtgjIa94ACrmniVm3Q20XRBaz3mjYjBgMAwGA1UdEwEB
        /wQCMAAwEwYDVR0lBAwwCgYIKwYBBQUHAwEwGgYDVR0RBBMwEYcEfwAAAYIJbG9j
        YWxob3N0MB8GA1UdIwQYMBaAFDrZM4MzXf5culWP9o5gMCXON6BTMAoGCCqGSM49
        BAMCA0gAMEUCIQDjpdlnHSr9YqaHw8w2zM0kfws13TSrKfN6h9wo7Bxp9QIgHmDc
        ExYheBD8FCQ6TYOQsUgBvXO+A0tcLSEgO9JVxMY=
        -----END CERTIFICATE-----

        """

    /// For 127.0.0.1, by `otherCA`.
    public static let fromOtherCA = """
        -----BEGIN CERTIFICATE-----
        MIIBkzCCATqgAwIBAgIUIfIcd4mtQepCzpnEivbiFM9faUQwCgYIKoZIzj0EAwIw
        FTETMBEGA1UEAwwKYW5vdGhlci1jYTAgFw0yMDAxMDEwMDAwMDBaGA8yMTI2MDEw
        MTAwMDAwMFowGTEXMBUGA1UEAwwOZml4dHVyZS1zZXJ2ZXIwWTATBgcqhkjOPQIB
        BggqhkjOPQMBBwNCAAQcZQufY18xqDhJSXDYoiLOWgc2qnSiU7Hd4enlw0brv2zf
        gvuHy1UhfxXptwbYIyGveAAq5p4lZt0NtF0QWs95o2IwYDAMBgNVHRMBAf8EAjAA
        MBMGA1UdJQQMMAoGCCsGAQUFBwMBMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9z
        dDAfBgNVHSMEGDAWgBTBBmOAErF29q8tAN0DmG9VNhzo6DAKBggqhkjOPQQDAgNH
        ADBEAiAJhF3kuIl3O2Gvv4qelH03/OKft849aQWNec++soBjdAIgOlnCvsekDxHY
        4cbG+jWhMq5HDRVmqV7mFu+NT51D3Pk=
        -----END CERTIFICATE-----

        """

    /// The key of every server certificate here (EC P-256, made for these tests only).
    public static let serverKey = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgqYFq57iEaFpWXlr2
        LFKewR8tNc2ODVwuoP2oYxvF/0mhRANCAAQcZQufY18xqDhJSXDYoiLOWgc2qnSi
        U7Hd4enlw0brv2zfgvuHy1UhfxXptwbYIyGveAAq5p4lZt0NtF0QWs95
        -----END PRIVATE KEY-----

        """
}
