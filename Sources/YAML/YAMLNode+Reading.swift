import CYAML

extension YAMLNode {
    /// Most collections a document may nest: kubeconfigs nest five deep.
    public static let maxDepth = 256

    /// Reads a stream holding at most one document; nil when it holds none (empty text, only
    /// comments).
    ///
    /// Aliases are expanded; `maxNodes` bounds the expanded size, so a few lines of anchors and
    /// aliases ("billion laughs") are refused before they are walked. Plain scalars get their
    /// YAML 1.1 implicit type (`implicitTag(of:)`); quoted and block scalars are strings unless
    /// tagged. A mapping that names a key twice is refused.
    public static func read(_ text: String, maxNodes: Int) throws(YAMLError) -> YAMLNode? {
        var text = text
        let result: Result<YAMLNode?, YAMLError> = text.withUTF8 { bytes in
            let reader = EventReader(bytes)
            defer { reader.close() }
            var composer = Composer(maxNodes: maxNodes)
            do throws(YAMLError) {
                while let event = try reader.next() {
                    defer { event.delete() }
                    if try composer.consume(event.pointer) { break }
                }
                return .success(composer.root)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// libyaml's parser over a buffer that outlives it.
private struct EventReader {
    /// One parsed event; `delete()` frees what libyaml allocated for it.
    struct Event {
        let pointer: UnsafeMutablePointer<yaml_event_t>
        func delete() {
            yaml_event_delete(pointer)
            pointer.deallocate()
        }
    }

    private let parser: UnsafeMutablePointer<yaml_parser_t>

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        parser = .allocate(capacity: 1)
        // Fails only when it cannot allocate, as every allocation elsewhere would.
        precondition(yaml_parser_initialize(parser) == 1, "libyaml could not allocate a parser")
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        // libyaml asserts a pointer even for empty text.
        yaml_parser_set_input_string(parser, bytes.baseAddress ?? StaticString("").utf8Start, bytes.count)
    }

    func close() {
        yaml_parser_delete(parser)
        parser.deallocate()
    }

    /// The next event; nil after the stream's end.
    func next() throws(YAMLError) -> Event? {
        let event = UnsafeMutablePointer<yaml_event_t>.allocate(capacity: 1)
        guard yaml_parser_parse(parser, event) == 1 else {
            event.deallocate()
            throw YAMLError(kind: .syntax, message: problem)
        }
        return Event(pointer: event)
    }

    /// libyaml's description of what stopped it, with where.
    private var problem: String {
        let state = parser.pointee
        let problem = state.problem.map { String(cString: $0) } ?? "unreadable"
        if state.error == YAML_READER_ERROR {
            return "at byte \(state.problem_offset): \(problem)"
        }
        let mark = state.problem_mark
        let context = state.context.map { String(cString: $0) + ": " } ?? ""
        return "line \(mark.line + 1), column \(mark.column + 1): \(context)\(problem)"
    }
}

/// Builds the tree from events, with an explicit stack: nesting cannot overflow the thread's.
private struct Composer {
    /// A collection being read.
    private struct Frame {
        let isMapping: Bool
        let anchor: String?
        /// `nodes` when it opened: what it expands to is counted from there.
        let start: Int
        var items: [YAMLNode] = []
        var pairs: [YAMLNode.Pair] = []
        /// A mapping's key waiting for its value, and where it was.
        var key: YAMLNode?
        var keyMark = yaml_mark_t()
        var scalarKeys: Set<YAMLNode.Scalar> = []
        var collectionKeys: Set<YAMLNode> = []
        /// Levels of collections below it so far.
        var height = 0

        init(isMapping: Bool, anchor: UnsafeMutablePointer<yaml_char_t>?, start: Int) {
            self.isMapping = isMapping
            self.anchor = anchor.map { String(cString: $0) }
            self.start = start
        }
    }

    /// A node with an anchor: what an alias to it stands for.
    private struct Anchored {
        var node: YAMLNode
        /// Nodes it expands to.
        var nodes: Int
        /// Levels of collections it holds.
        var height: Int
    }

    let maxNodes: Int
    private(set) var root: YAMLNode?
    private var stack: [Frame] = []
    /// Nodes so far, aliases counted as the nodes they stand for.
    private var nodes = 0
    private var anchors: [String: Anchored] = [:]
    private var documents = 0

    init(maxNodes: Int) { self.maxNodes = maxNodes }

    /// Takes one event; true at the stream's end.
    mutating func consume(_ event: UnsafeMutablePointer<yaml_event_t>) throws(YAMLError) -> Bool {
        let data = event.pointee.data
        switch event.pointee.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            guard documents == 1 else {
                throw YAMLError(kind: .severalDocuments, message: "the text holds several YAML documents")
            }
        case YAML_SCALAR_EVENT:
            let scalar = data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
            let tag: String
            if scalar.quoted_implicit == 1 {
                tag = YAMLTag.str
            } else if let explicit = scalar.tag.map({ String(cString: $0) }) {
                tag = explicit == YAMLTag.nonSpecific ? YAMLTag.str : explicit
            } else {
                tag = YAMLNode.implicitTag(of: text)
            }
            let node = YAMLNode.scalar(.init(text: text, tag: tag, style: .init(scalar.style)))
            try count(1)
            if let anchor = scalar.anchor { anchors[String(cString: anchor)] = Anchored(node: node, nodes: 1, height: 0) }
            try attach(node, height: 0, at: event)
        case YAML_ALIAS_EVENT:
            let name = String(cString: data.alias.anchor)
            guard let anchored = anchors[name] else {
                throw YAMLError(kind: .syntax, message: "\(Self.position(event.pointee.start_mark)): found undefined alias")
            }
            // What an alias stands for counts in full: its nodes, and the levels it nests.
            try count(anchored.nodes)
            guard stack.count + anchored.height <= YAMLNode.maxDepth else { throw Self.tooDeep(at: event) }
            try attach(anchored.node, height: anchored.height, at: event)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            guard stack.count < YAMLNode.maxDepth else { throw Self.tooDeep(at: event) }
            try count(1)
            let isMapping = event.pointee.type == YAML_MAPPING_START_EVENT
            let anchor = isMapping ? data.mapping_start.anchor : data.sequence_start.anchor
            stack.append(Frame(isMapping: isMapping, anchor: anchor, start: nodes))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let node: YAMLNode = frame.isMapping ? .mapping(frame.pairs) : .sequence(frame.items)
            let height = frame.height + 1
            if let anchor = frame.anchor {
                // `start` was taken after the collection itself was counted.
                anchors[anchor] = Anchored(node: node, nodes: nodes - frame.start + 1, height: height)
            }
            try attach(node, height: height, at: event)
        default:
            break  // stream start, document end
        }
        return false
    }

    private mutating func count(_ added: Int) throws(YAMLError) {
        nodes += added
        guard nodes <= maxNodes else {
            throw YAMLError(kind: .tooManyNodes, message: "the text expands to more than \(maxNodes) YAML nodes (aliases?)")
        }
    }

    private static func tooDeep(at event: UnsafeMutablePointer<yaml_event_t>) -> YAMLError {
        YAMLError(
            kind: .tooDeep,
            message: "\(position(event.pointee.start_mark)): collections nest deeper than \(YAMLNode.maxDepth) levels")
    }

    private mutating func attach(_ node: YAMLNode, height: Int, at event: UnsafeMutablePointer<yaml_event_t>) throws(YAMLError) {
        guard !stack.isEmpty else {
            root = node
            return
        }
        let top = stack.count - 1
        stack[top].height = max(stack[top].height, height)
        guard stack[top].isMapping else {
            stack[top].items.append(node)
            return
        }
        guard let key = stack[top].key else {
            stack[top].key = node
            stack[top].keyMark = event.pointee.start_mark
            return
        }
        let duplicate: Bool
        if case .scalar(let scalar) = key {
            duplicate = !stack[top].scalarKeys.insert(scalar).inserted
        } else {
            duplicate = !stack[top].collectionKeys.insert(key).inserted
        }
        if duplicate {
            throw YAMLError(
                kind: .duplicateKey,
                message: "\(Self.position(stack[top].keyMark)): a mapping names the key \(Self.quote(key)) twice")
        }
        stack[top].pairs.append(.init(key: key, value: node))
        stack[top].key = nil
    }

    private static func position(_ mark: yaml_mark_t) -> String {
        "line \(mark.line + 1), column \(mark.column + 1)"
    }

    /// A key as the message shows it: quoted, at most 64 characters.
    private static func quote(_ key: YAMLNode) -> String {
        guard case .scalar(let scalar) = key else { return "(a collection)" }
        let text = scalar.text.count > 64 ? scalar.text.prefix(64) + "..." : Substring(scalar.text)
        return "'\(text)'"
    }
}

extension YAMLNode.Scalar.Style {
    init(_ style: yaml_scalar_style_t) {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: self = .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: self = .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: self = .literal
        case YAML_FOLDED_SCALAR_STYLE: self = .folded
        default: self = .plain
        }
    }

    var libyaml: yaml_scalar_style_t {
        switch self {
        case .plain: YAML_PLAIN_SCALAR_STYLE
        case .singleQuoted: YAML_SINGLE_QUOTED_SCALAR_STYLE
        case .doubleQuoted: YAML_DOUBLE_QUOTED_SCALAR_STYLE
        case .literal: YAML_LITERAL_SCALAR_STYLE
        case .folded: YAML_FOLDED_SCALAR_STYLE
        }
    }
}
