import CYAML

extension YAMLNode {
    /// The tree as one block-style YAML document, as kubectl and PyYAML write it: two-space
    /// indents, no line folding, UTF-8 kept as it is (not escaped), `---` and `...` left out.
    ///
    /// A plain string whose plain form would read back as another type (`"true"`, `"123"`,
    /// `""`) is single-quoted; libyaml itself quotes any text a plain scalar cannot hold.
    public func yaml() -> String {
        var writer = EventWriter()
        defer { writer.close() }
        writer.emit { yaml_stream_start_event_initialize($0, YAML_UTF8_ENCODING) }
        writer.emit { yaml_document_start_event_initialize($0, nil, nil, nil, 1) }
        write(to: &writer)
        writer.emit { yaml_document_end_event_initialize($0, 1) }
        writer.emit { yaml_stream_end_event_initialize($0) }
        return writer.output()
    }

    private func write(to writer: inout EventWriter) {
        switch self {
        case .scalar(let scalar):
            var text = scalar.text
            let style = scalar.emittedStyle.libyaml
            text.withUTF8 { value in
                scalar.tag.withCString { tag in
                    tag.withMemoryRebound(to: yaml_char_t.self, capacity: scalar.tag.utf8.count + 1) { tag in
                        writer.emit {
                            yaml_scalar_event_initialize(
                                $0, nil, tag, value.baseAddress ?? StaticString("").utf8Start, Int32(value.count), 1, 1, style)
                        }
                    }
                }
            }
        case .mapping(let pairs):
            writer.emit { yaml_mapping_start_event_initialize($0, nil, nil, 1, YAML_BLOCK_MAPPING_STYLE) }
            for pair in pairs {
                pair.key.write(to: &writer)
                pair.value.write(to: &writer)
            }
            writer.emit { yaml_mapping_end_event_initialize($0) }
        case .sequence(let nodes):
            writer.emit { yaml_sequence_start_event_initialize($0, nil, nil, 1, YAML_BLOCK_SEQUENCE_STYLE) }
            for node in nodes { node.write(to: &writer) }
            writer.emit { yaml_sequence_end_event_initialize($0) }
        }
    }
}

extension YAMLNode.Scalar {
    /// The style to write: a string whose plain form would read back as another type is quoted.
    ///
    /// Text holding U+0085, U+2028 or U+2029 is double-quoted, where libyaml escapes them
    /// (`\N`, `\L`, `\P`): written raw in any other style they read back as line breaks.
    public var emittedStyle: Style {
        if style != .doubleQuoted, text.unicodeScalars.contains(where: { [0x85, 0x2028, 0x2029].contains($0.value) }) {
            return .doubleQuoted
        }
        guard style == .plain, tag == YAMLTag.str else { return style }
        return YAMLNode.implicitTag(of: text) == YAMLTag.str ? .plain : .singleQuoted
    }
}

/// libyaml's emitter writing into a growing buffer.
private struct EventWriter {
    /// Where the emitter's output handler appends; a class so that its address is stable.
    private final class Output {
        var bytes: [UInt8] = []
    }

    private let emitter: UnsafeMutablePointer<yaml_emitter_t>
    private let buffer = Output()

    init() {
        emitter = .allocate(capacity: 1)
        precondition(yaml_emitter_initialize(emitter) == 1, "libyaml could not allocate an emitter")
        yaml_emitter_set_unicode(emitter, 1)
        yaml_emitter_set_width(emitter, -1)
        yaml_emitter_set_break(emitter, YAML_LN_BREAK)
        yaml_emitter_set_output(
            emitter,
            { context, bytes, size in
                guard let context, let bytes else { return 0 }
                let output = Unmanaged<Output>.fromOpaque(context).takeUnretainedValue()
                output.bytes.append(contentsOf: UnsafeBufferPointer(start: bytes, count: size))
                return 1
            },
            Unmanaged.passUnretained(buffer).toOpaque())
    }

    /// Initialises one event and hands it to the emitter, which takes ownership of it.
    ///
    /// The events come from a tree, so they always form a valid sequence: a refusal could only
    /// be an allocation failure, which stops the process as any other would.
    func emit(_ initialize: (UnsafeMutablePointer<yaml_event_t>) -> Int32) {
        var event = yaml_event_t()
        precondition(initialize(&event) == 1, "libyaml could not allocate an event")
        precondition(yaml_emitter_emit(emitter, &event) == 1, "libyaml refused an event: \(problem)")
    }

    func output() -> String {
        precondition(yaml_emitter_flush(emitter) == 1, "libyaml could not flush: \(problem)")
        return String(decoding: buffer.bytes, as: UTF8.self)
    }

    func close() {
        yaml_emitter_delete(emitter)
        emitter.deallocate()
        withExtendedLifetime(buffer) {}
    }

    private var problem: String {
        emitter.pointee.problem.map { String(cString: $0) } ?? "unknown"
    }
}
