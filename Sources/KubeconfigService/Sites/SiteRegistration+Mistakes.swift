import KubeconfigBase
import YAML

/// The mistakes newcomers make sending a registration, each recognised so that the refusal
/// names the fix: a body of the other format than its `Content-Type` says, JSON that does not
/// parse, a kubeconfig exported without `--raw`, a file whose line breaks `curl -d` stripped.
extension SiteRegistration {
    /// Why a JSON body did not decode as an object.
    static func notJSON(_ body: [UInt8]) -> ServiceError {
        if looksLikeKubeconfig(body) {
            return invalid(
                "body",
                "is not JSON but looks like a kubeconfig (YAML): send it with Content-Type: application/yaml")
        }
        if let syntax = JSONSyntaxError.find(in: body) {
            return invalid("body", "is not valid JSON: \(syntax)")
        }
        if body.first(where: { !$0.isWhitespace }) == UInt8(ascii: "{") {
            // Well-formed, yet refused by the decoder.
            return invalid(
                "body",
                "holds a value that cannot be read: a string that is not UTF-8 or has a lone surrogate escape "
                    + "(\\uD800), or a number out of range")
        }
        return invalid("body", "must be a JSON object")
    }

    /// Not JSON, and naming a kubeconfig's top-level keys at the start of a line.
    private static func looksLikeKubeconfig(_ body: [UInt8]) -> Bool {
        guard let first = body.first(where: { !$0.isWhitespace }), first != UInt8(ascii: "{"), first != UInt8(ascii: "[")
        else { return false }
        let text = String(decoding: body, as: UTF8.self)
        return ["apiVersion:", "kind: Config", "clusters:", "contexts:"].contains { key in
            text.hasPrefix(key) || text.contains("\n" + key)
        }
    }

    /// Refuses a JSON registration sent as a kubeconfig (JSON is valid YAML, so it parses).
    static func checkNotJSONRegistration(_ root: DocumentNode) throws(ServiceError) {
        guard root["clusters"] == nil, jsonFields.contains(where: { root[$0] != nil }) else { return }
        throw invalid(
            "body",
            "a YAML body must be a kubeconfig (apiVersion: v1, kind: Config, one context); this is a JSON "
                + "registration: send it with Content-Type: application/json")
    }

    /// Refuses the placeholders `kubectl config view` prints without `--raw` in place of data.
    static func checkNoPlaceholders(_ document: KubeconfigDocument) throws(ServiceError) {
        let placeholders: Set<String> = ["DATA+OMITTED", "REDACTED"]
        for (section, body) in [("clusters", "cluster"), ("users", "user")] {
            guard case .sequence(let entries)? = document.root[section] else { continue }
            for entry in entries {
                guard case .mapping(let pairs)? = entry[body] else { continue }
                for pair in pairs {
                    guard let value = pair.value.stringValue, placeholders.contains(value) else { continue }
                    throw invalid(
                        "\(body).\(pair.key.stringValue ?? "?")".printable,
                        "is \(value), what kubectl config view prints in place of the data: export the kubeconfig "
                            + "with kubectl config view --minify --raw")
                }
            }
        }
    }

    /// `error`, with a hint when `text` has no line break: `curl -d @file` strips them, which
    /// leaves a kubeconfig that cannot mean what its file did.
    static func hintingLineBreaks(_ error: ServiceError, in text: String) -> ServiceError {
        guard !text.isEmpty, !text.contains(where: \.isNewline), text.first != "{" else { return error }
        var hinted = error
        hinted.message +=
            "; the body has no line breaks (curl -d @FILE strips them): send the file with "
            + "curl --data-binary @FILE"
        return hinted
    }
}

extension UInt8 {
    fileprivate var isWhitespace: Bool { self == 0x20 || self == 0x09 || self == 0x0A || self == 0x0D }
}
