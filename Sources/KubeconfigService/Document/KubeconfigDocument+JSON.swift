import KubeconfigBase
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
                JSONString.write(key, to: &out)
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
}

extension DocumentNode.Scalar {
    func writeJSON(to out: inout String) {
        switch tag {
        case YAMLTag.null:
            out.append("null")
        case YAMLTag.bool:
            out.append(boolValue.map { $0 ? "true" : "false" } ?? "null")
        case YAMLTag.int:
            if let value = intValue { out.append(String(value)) } else { JSONString.write(text, to: &out) }
        case YAMLTag.float:
            if let value = doubleValue, value.isFinite {
                out.append(String(value))
            } else {
                JSONString.write(text, to: &out)
            }
        default:
            JSONString.write(text, to: &out)
        }
    }
}
