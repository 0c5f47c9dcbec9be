import KubeconfigBase

extension ServiceError.Code {
    // The stored document.
    public static let documentNotKubeconfig = Self(rawValue: "DocumentNotKubeconfig")
    public static let configMapNotFound = Self(rawValue: "ConfigMapNotFound")
    public static let secretNotFound = Self(rawValue: "SecretNotFound")
    public static let conflict = Self(rawValue: "ConflictRetriesExhausted")
    public static let documentTooLarge = Self(rawValue: "DocumentTooLarge")
    // Issued tokens.
    public static let serviceAccountNotFound = Self(rawValue: "ServiceAccountNotFound")
    public static let tokenRequestForbidden = Self(rawValue: "TokenRequestForbidden")
    public static let tokenRequestFailed = Self(rawValue: "TokenRequestFailed")
    /// A site answered 401 to its bootstrap credential: invalid, expired or revoked (not a
    /// missing right, which is `tokenRequestForbidden`).
    public static let bootstrapCredentialRejected = Self(rawValue: "BootstrapCredentialRejected")
    /// A managed site's bootstrap credential lapsed unrenewed: the site must be registered again
    /// (`kubeconfig-service site add`).
    public static let bootstrapExpired = Self(rawValue: "BootstrapExpired")
    // HTTP callers.
    public static let badRequest = Self(rawValue: "BadRequest")
    public static let notFound = Self(rawValue: "NotFound")
    public static let methodNotAllowed = Self(rawValue: "MethodNotAllowed")
    public static let payloadTooLarge = Self(rawValue: "PayloadTooLarge")
    public static let unauthorized = Self(rawValue: "Unauthorized")
    public static let forbidden = Self(rawValue: "Forbidden")
    public static let notPublished = Self(rawValue: "NotPublished")
    public static let siteNotFound = Self(rawValue: "SiteNotFound")
    public static let unsupportedMediaType = Self(rawValue: "UnsupportedMediaType")
    // The site registry.
    public static let invalidSite = Self(rawValue: "InvalidSite")
    public static let siteReserved = Self(rawValue: "SiteReserved")
    public static let siteConflict = Self(rawValue: "SiteConflict")
    /// A site registered as a cluster another site already is (the same `clusterId`).
    public static let siteClusterConflict = Self(rawValue: "SiteClusterConflict")
    public static let siteNotProbed = Self(rawValue: "SiteNotProbed")
    /// `PUT /sites/{name}?verify=true` of a site whose probe failed: nothing was written.
    public static let siteVerificationFailed = Self(rawValue: "SiteVerificationFailed")
    /// A token was asked of a site whose credential is not issued here (a pasted one).
    public static let siteNotManaged = Self(rawValue: "SiteNotManaged")
    /// A managed site's credential is named by the document but not loaded by this replica yet.
    public static let siteCredentialNotLoaded = Self(rawValue: "SiteCredentialNotLoaded")
    // Managed sites' credentials.
    /// The document names a registration the credentials Secret does not hold.
    public static let siteCredentialMissing = Self(rawValue: "SiteCredentialMissing")
    /// A registration's document edit did not land within its deadline (half the grace period).
    public static let registrationTimedOut = Self(rawValue: "RegistrationTimedOut")
    /// An identical registration to be kept was replaced or removed meanwhile (internal: the
    /// registration is made anew).
    static let registrationReplaced = Self(rawValue: "RegistrationReplaced")
}
