import FoundationEssentials
import KubeconfigBase

/// How a site's token is kept, as `GET /sites` shows it: `managed` (issued and renewed here) or
/// `static` (pasted), when it renews, and why its last renewal failed.
public struct SiteTokenStatus: Sendable, Equatable {
    public var management: Management
    public var renewsAt: Date?
    public var renewalError: ServiceError?
    /// A managed site's bootstrap credential's expiry, when it says.
    public var bootstrapExpiresAt: Date?
    /// Whether a managed site's bootstrap credential renews itself here, when this replica knows.
    public var bootstrapManagement: Management?
    /// When a managed bootstrap credential is renewed next.
    public var bootstrapRenewsAt: Date?
    /// Why a managed site's bootstrap credential is not renewing on schedule (`BootstrapExpired`
    /// once it lapsed).
    public var bootstrapRenewalError: ServiceError?

    public enum Management: String, Sendable, Encodable {
        case managed
        case `static`
    }

    /// The status of `summary`'s token in `published`; nil for a site without a token. This
    /// service's own site is managed when its token came from a TokenRequest (`central`, the
    /// publisher's last choice); a remote site when the document holds a record of its
    /// registration, its renewal as the renewer last reported it (else from the record).
    public static func of(
        _ summary: SiteSummary, in published: PublishedDocument, central: PublicationState.TokenStatus?,
        renewer: SiteTokenRenewer?
    ) -> SiteTokenStatus? {
        guard summary.credential == "token" else { return nil }
        if summary.ours {
            return SiteTokenStatus(
                management: central?.source == .tokenRequest ? .managed : .static, renewsAt: central?.renewsAt,
                renewalError: central?.renewalError)
        }
        guard
            let record = published.annotations[TokenRecord.annotationKey(location: summary.name)]
                .flatMap(TokenRecord.init(annotation:))
        else {
            return SiteTokenStatus(management: .static)
        }
        let status = renewer?.status(of: summary.name)
        return SiteTokenStatus(
            management: .managed,
            renewsAt: status?.renewsAt
                ?? TokenRenewal(serviceAccount: record.serviceAccount, audiences: record.audiences).renewsAt(record),
            renewalError: status?.renewalError, bootstrapExpiresAt: status?.bootstrapExpiresAt,
            bootstrapManagement: status?.bootstrapManagement, bootstrapRenewsAt: status?.bootstrapRenewsAt,
            bootstrapRenewalError: status?.bootstrapRenewalError)
    }
}
