import FoundationEssentials
import HTTPMessages
import KubeconfigBase
import YAML

extension SiteRegistration {
    /// The JSON body's fields.
    static let jsonFields: Set<String> = [
        "server", "certificateAuthorityData", "token", "clientCertificateData", "clientKeyData", "tlsServerName",
        "namespace", "user", "bootstrapToken", "tokenRequest", "clusterId", "allowDuplicateCluster", "labels",
    ]
    static let tokenRequestFields: Set<String> = ["serviceAccount", "namespace", "expirationSeconds", "audiences"]

    /// Reads `{"server": ..., "certificateAuthorityData": ..., "token": ...}` (or a client
    /// certificate and key instead of the token, or a `bootstrapToken` and a `tokenRequest`
    /// block; optional `tlsServerName`, `namespace`, `user`, `clusterId`, `allowDuplicateCluster`,
    /// `labels`).
    public init(name: String, json body: [UInt8]) throws(ServiceError) {
        try Self.checkName(name)
        let fields: [String: JSONValue]
        do {
            fields = try JSONDecoder().decode([String: JSONValue].self, from: Data(body))
        } catch {
            throw Self.notJSON(body)
        }
        if let key = JSONDuplicateKeys.first(in: body) {
            throw Self.invalid(key.printable, "is given more than once")
        }
        try Self.checkKnown(fields, Self.jsonFields, prefix: "")
        func string(_ field: String) throws(ServiceError) -> String? { try Self.string(fields, field, prefix: "") }
        func required(_ field: String) throws(ServiceError) -> String {
            guard let value = try string(field) else { throw Self.invalid(field, "is required") }
            return value
        }
        let server = try required("server")
        try Self.checkServer(server, field: "server")
        let certificateAuthority = try Self.decodeCertificates(
            try required("certificateAuthorityData"), field: "certificateAuthorityData")
        let tlsServerName = try string("tlsServerName")
        if let tlsServerName { try Self.checkTLSServerName(tlsServerName, field: "tlsServerName") }
        let namespace = try string("namespace")
        if let namespace { try Self.checkNamespace(namespace, field: "namespace") }
        let user = try string("user") ?? name
        try Self.checkUserName(user, field: "user")

        let credential: Credential
        switch (fields["tokenRequest"], try string("bootstrapToken")) {
        case (nil, nil), (.null?, nil):
            credential = try Self.credential(
                token: (try string("token"), "token"),
                certificate: (try string("clientCertificateData"), "clientCertificateData"),
                key: (try string("clientKeyData"), "clientKeyData"))
        case (.object(let block)?, let bootstrap?):
            for other in ["token", "clientCertificateData", "clientKeyData"] where try string(other) != nil {
                throw Self.invalid(other, "a managed site has no credential of its own: its token is issued here")
            }
            try Self.checkToken(bootstrap, field: "bootstrapToken")
            let spec = try Self.tokenRequest(block, defaultNamespace: namespace)
            credential = .issued(spec, bootstrap: BearerToken(bootstrap))
        case (.object?, nil):
            throw Self.invalid("bootstrapToken", "is required with tokenRequest")
        case (nil, _?), (.null?, _?):
            throw Self.invalid("tokenRequest", "is required with bootstrapToken")
        case (let other?, _):
            throw Self.invalid("tokenRequest", "must be an object, not \(other.kind)")
        }
        self.init(
            name: name, server: server, certificateAuthority: certificateAuthority, tlsServerName: tlsServerName,
            namespace: namespace ?? Self.deployerNamespace(credential), user: user, credential: credential)
        try checkManagedName()
        clusterID = try string("clusterId")
        if let clusterID { try ClusterIdentities.check(clusterID, field: "clusterId") }
        switch fields["allowDuplicateCluster"] {
        case nil, .null?: break
        case .bool(let allows)?: allowsDuplicateCluster = allows
        case let other?: throw Self.invalid("allowDuplicateCluster", "must be true or false, not \(other.kind)")
        }
        labels = try Self.labels(fields["labels"])
    }

    /// `{"key": "value", ...}`, checked as Kubernetes labels.
    static func labels(_ value: JSONValue?) throws(ServiceError) -> [String: String] {
        switch value {
        case nil, .null?: return [:]
        case .object(let block)?:
            var labels: [String: String] = [:]
            for (key, value) in block {
                guard case .string(let text) = value else {
                    throw invalid("labels.\(key.printable)", "must be a string, not \(value.kind)")
                }
                labels[key] = text
            }
            try SiteLabels.check(labels, field: "labels")
            return labels
        case let other?:
            throw invalid("labels", "must be an object of label keys and values, not \(other.kind)")
        }
    }

    /// A managed site's context defaults to the namespace of the account its token is issued
    /// for: where that account's rights usually are (`kubectl --context SITE get ...` works).
    static func deployerNamespace(_ credential: Credential) -> String? {
        guard case .issued(let spec, _) = credential else { return nil }
        return spec.namespace
    }

    /// `{"serviceAccount": ..., "namespace": ..., "expirationSeconds": ..., "audiences": [...]}`;
    /// the namespace defaults to the context's.
    static func tokenRequest(_ block: [String: JSONValue], defaultNamespace: String?) throws(ServiceError) -> TokenRequestSpec {
        try checkKnown(block, tokenRequestFields, prefix: "tokenRequest.")
        guard let serviceAccount = try string(block, "serviceAccount", prefix: "tokenRequest.") else {
            throw invalid("tokenRequest.serviceAccount", "is required")
        }
        guard let namespace = try string(block, "namespace", prefix: "tokenRequest.") ?? defaultNamespace else {
            throw invalid("tokenRequest.namespace", "is required (or the site's namespace)")
        }
        var spec = TokenRequestSpec(serviceAccount: serviceAccount, namespace: namespace)
        switch block["expirationSeconds"] {
        case nil, .null?: break
        case .number(let seconds)? where seconds == seconds.rounded() && abs(seconds) < 1e15:
            spec.expirationSeconds = Int(seconds)
        case let other?:
            throw invalid("tokenRequest.expirationSeconds", "must be a whole number of seconds, not \(other.kind)")
        }
        switch block["audiences"] {
        case nil, .null?: break
        case .array(let values)?:
            spec.audiences = try values.map { value throws(ServiceError) in
                guard case .string(let audience) = value else {
                    throw invalid("tokenRequest.audiences", "must be an array of strings")
                }
                return audience
            }
        case let other?:
            throw invalid("tokenRequest.audiences", "must be an array of strings, not \(other.kind)")
        }
        try spec.validate(prefix: "tokenRequest.")
        return spec
    }

    /// A managed site's token is recorded in an annotation named after it, which allows 57 characters.
    func checkManagedName() throws(ServiceError) {
        guard case .issued = credential, !TokenRecord.isUsable(location: name) else { return }
        throw Self.invalid("name", "a site whose token is issued here has a name of at most 57 characters")
    }

    private static func checkKnown(_ fields: [String: JSONValue], _ known: Set<String>, prefix: String) throws(ServiceError) {
        if let first = fields.keys.filter({ !known.contains($0) }).sorted().first {
            throw invalid(
                (prefix + first).printable,
                "unknown field; known: \(known.sorted().joined(separator: ", "))")
        }
    }

    private static func string(
        _ fields: [String: JSONValue], _ field: String, prefix: String
    ) throws(ServiceError)
        -> String?
    {
        switch fields[field] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        case let other?: throw invalid(prefix + field, "must be a string, not \(other.kind)")
        }
    }

    /// One credential: a token, or a client certificate with its key; each value with the name
    /// of the field it came from, for the refusal.
    static func credential(
        token: (value: String?, field: String), certificate: (value: String?, field: String),
        key: (value: String?, field: String)
    ) throws(ServiceError) -> Credential {
        switch (token.value, certificate.value, key.value) {
        case (let value?, nil, nil):
            try checkToken(value, field: token.field)
            return .token(BearerToken(value))
        case (nil, let certificateValue?, let keyValue?):
            return .clientCertificate(
                try clientIdentity(
                    certificate: certificateValue, key: keyValue, certificateField: certificate.field,
                    keyField: key.field))
        case (nil, nil, nil):
            throw invalid(token.field, "is required (or \(certificate.field) and \(key.field))")
        case (_?, _, _):
            throw invalid(token.field, "a site has one credential: a token, or a client certificate and key, not both")
        case (nil, nil, _?):
            throw invalid(certificate.field, "is required with \(key.field)")
        case (nil, _?, nil):
            throw invalid(key.field, "is required with \(certificate.field)")
        }
    }
}
