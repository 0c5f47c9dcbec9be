import YAML

extension KubeconfigDocument {
    /// The document as JSON, with YAML scalars typed as their resolved tags say.
    public func json() -> String {
        var out = ""
        root.writeJSON(to: &out)
        out.append("\n")
        return out
    }
}

extension DocumentNode {
    func writeJSON(to out: inout String) {
        switch self {
        case .scalar(let scalar):
            scalar.writeJSON(to: &out)
        case .mapping(let pairs):
            out.append("{")
            for (index, pair) in pairs.enumerated() {
                if index > 0 { out.append(",") }
                // JSON keys are strings whatever YAML type they had.
                let key: String
                if case .scalar(let scalar) = pair.key { key = scalar.text } else { key = "" }
                Self.writeJSONString(key, to: &out)
                out.append(":")
                pair.value.writeJSON(to: &out)
            }
            out.append("}")
        case .sequence(let nodes):
            out.append("[")
            for (index, node) in nodes.enumerated() {
                if index > 0 { out.append(",") }
                node.writeJSON(to: &out)
            }
            out.append("]")
        }
    }

    static func writeJSONString(_ string: String, to out: inout String) {
        out.append("\"")
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }
}

extension DocumentNode.Scalar {
    func writeJSON(to out: inout String) {
        switch tag {
        case YAMLTag.null:
            out.append("null")
        case YAMLTag.bool:
            out.append(boolValue.map { $0 ? "true" : "false" } ?? "null")
        case YAMLTag.int:
            if let value = intValue { out.append(String(value)) } else { DocumentNode.writeJSONString(text, to: &out) }
        case YAMLTag.float:
            if let value = doubleValue, value.isFinite {
                out.append(String(value))
            } else {
                DocumentNode.writeJSONString(text, to: &out)
            }
        default:
            DocumentNode.writeJSONString(text, to: &out)
        }
    }
}
