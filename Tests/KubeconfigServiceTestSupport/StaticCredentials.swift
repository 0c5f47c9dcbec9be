import KubeconfigBase
import KubeconfigService
import KubernetesAPI

/// Credentials that do not come from a service-account folder.
public struct StaticCredentials: SiteCredentialSource {
    public let cluster: ClusterCredentials

    public init(cluster: ClusterCredentials) { self.cluster = cluster }

    public func credentials() async throws(ServiceError) -> ClusterCredentials { cluster }
}
