import YAML

/// The YAML tree `KubeconfigDocument` edits: a plain `Sendable` value, read and written through
/// libyaml by the `YAML` module.
typealias DocumentNode = YAMLNode
