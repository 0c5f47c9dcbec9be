import CMicroHTTPD
import HTTPMessages
import HTTPTypes
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - C entry points

/// microhttpd's access handler: called for the headers, for each piece of body, and once more
/// when the body is complete (and again after a suspended connection is resumed).
let accessHandlerCallback: MHD_AccessHandlerCallback = {
    serverPointer, connection, url, method, _, uploadData, uploadDataSize, requestPointer in
    guard let serverPointer, let connection, let uploadDataSize, let requestPointer else { return kcs_mhd_no() }
    let server = Unmanaged<HTTPServer>.fromOpaque(serverPointer).takeUnretainedValue()
    return server.handle(
        connection: connection, url: url, method: method, uploadData: uploadData, uploadDataSize: uploadDataSize,
        requestPointer: requestPointer)
}

/// Called once per request that got its first callback, whatever its end: releases its state.
let requestCompletedCallback: MHD_RequestCompletedCallback = { serverPointer, _, requestPointer, _ in
    guard let serverPointer, let requestPointer, let context = requestPointer.pointee else { return }
    Unmanaged<RequestContext>.fromOpaque(context).release()
    requestPointer.pointee = nil
    let server = Unmanaged<HTTPServer>.fromOpaque(serverPointer).takeUnretainedValue()
    server.activeRequests.subtract(1, ordering: .releasing)
}

/// Gives each connection a `ConnectionState` (its socket context) and counts the connections
/// that have not sent a request yet.
let connectionNotifyCallback: MHD_NotifyConnectionCallback = { serverPointer, _, socketContext, code in
    guard let serverPointer, let socketContext else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(serverPointer).takeUnretainedValue()
    if code == .CONNECTION_NOTIFY_STARTED {
        server.connectionsAwaitingRequest.add(1, ordering: .relaxed)
        socketContext.pointee = Unmanaged.passRetained(ConnectionState()).toOpaque()
    } else if let state = socketContext.pointee {
        socketContext.pointee = nil
        Unmanaged<ConnectionState>.fromOpaque(state).takeRetainedValue().stopAwaitingRequest(in: server)
    }
}

/// microhttpd's own error messages (bad TLS handshakes, refused connections), into our log.
let errorLogCallback: MHD_LogCallback = { serverPointer, format, arguments in
    guard let serverPointer, let format, let arguments else { return }
    let server = Unmanaged<HTTPServer>.fromOpaque(serverPointer).takeUnretainedValue()
    var buffer = [CChar](repeating: 0, count: 512)
    buffer.withUnsafeMutableBufferPointer { kcs_format_log($0.baseAddress, $0.count, format, arguments) }
    let length = buffer.firstIndex(of: 0) ?? buffer.count
    var message = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    while message.last?.isWhitespace == true { message.removeLast() }
    server.logger.debug("microhttpd: \(message)")
}

extension HTTPServer {
    // MARK: - Request handling

    func handle(
        connection: OpaquePointer, url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?,
        uploadData: UnsafePointer<CChar>?, uploadDataSize: UnsafeMutablePointer<Int>,
        requestPointer: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    ) -> MHD_Result {
        guard let contextPointer = requestPointer.pointee else {
            return headersArrived(connection: connection, url: url, method: method, requestPointer: requestPointer)
        }
        let context = Unmanaged<RequestContext>.fromOpaque(contextPointer).takeUnretainedValue()
        let size = uploadDataSize.pointee
        if size > 0 {
            uploadDataSize.pointee = 0
            return bodyArrived(
                UnsafeRawBufferPointer(start: uploadData, count: uploadData == nil ? 0 : size), size: size,
                connection: connection, url: url, method: method, context: context)
        }
        if let response = context.takeResponse() {
            return queue(response, on: connection)
        }
        guard !context.dispatched else { return kcs_mhd_no() }
        return dispatch(connection: connection, url: url, method: method, context: context)
    }

    /// The first call: headers are in. Refuses bad framing at once. A declared oversize body is
    /// refused at once when the client waits for `100 Continue` (it then sends none) or when it
    /// is too large to drain; otherwise it is read and thrown away, and the 413 follows it, so
    /// the client is not reset while it still sends.
    private func headersArrived(
        connection: OpaquePointer, url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?,
        requestPointer: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    ) -> MHD_Result {
        let context = RequestContext()
        requestPointer.pointee = Unmanaged.passRetained(context).toOpaque()
        activeRequests.add(1, ordering: .relaxed)
        if let state = kcs_mhd_socket_context(connection) {
            Unmanaged<ConnectionState>.fromOpaque(state).takeUnretainedValue().stopAwaitingRequest(in: self)
        }
        let headers = Self.values(connection, .HEADER_KIND)
        context.headers = headers.values
        if headers.hadNUL {
            context.defect = "NUL byte in a header"
        } else if let defect = RequestDecoding.framingDefect(headers.values) {
            context.defect = defect.reason
        } else if let length = headers.values.first(where: { RequestDecoding.isNamed($0.name, "content-length") })
            .flatMap({ Int($0.value) }), length > configuration.maxBodyBytes
        {
            context.bodyTooLarge = true
            let expectsContinue = headers.values.contains {
                RequestDecoding.isNamed($0.name, "expect") && RequestDecoding.isNamed($0.value, "100-continue")
            }
            if expectsContinue || length > configuration.maxDrainedBodyBytes {
                return dispatch(connection: connection, url: url, method: method, context: context)
            }
        }
        if context.defect != nil {
            return dispatch(connection: connection, url: url, method: method, context: context)
        }
        return kcs_mhd_yes()
    }

    /// A chunk of the body (`size` bytes, `chunk` empty when microhttpd handed no data): kept
    /// up to the limit, then counted and thrown away; past the drain bound the 413 is sent now
    /// (the connection closes on what is still coming).
    private func bodyArrived(
        _ chunk: UnsafeRawBufferPointer, size: Int, connection: OpaquePointer, url: UnsafePointer<CChar>?,
        method: UnsafePointer<CChar>?, context: RequestContext
    ) -> MHD_Result {
        if !context.bodyTooLarge, !chunk.isEmpty {
            if context.body.count + size <= configuration.maxBodyBytes {
                context.body.append(contentsOf: chunk)
            } else {
                context.bodyTooLarge = true
                context.drained = context.body.count
                context.body = []
            }
        }
        if context.bodyTooLarge {
            context.drained += size
            if context.drained > configuration.maxDrainedBodyBytes, !context.dispatched {
                return dispatch(connection: connection, url: url, method: method, context: context)
            }
        }
        return kcs_mhd_yes()
    }

    private func dispatch(
        connection: OpaquePointer, url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?, context: RequestContext
    ) -> MHD_Result {
        context.dispatched = true
        let (headerFields, invalidName) = Self.fields(context.headers)
        let parsedMethod = method.flatMap { HTTPRequest.Method(String(cString: $0)) }
        var request = HTTPServerRequest(
            method: parsedMethod ?? .get, path: "", query: [], headerFields: headerFields, body: context.body,
            bodyTooLarge: context.bodyTooLarge,
            defect: context.defect ?? (parsedMethod == nil ? "invalid method" : invalidName.map { _ in "invalid header name" }))
        context.body = []
        context.headers = []
        if request.defect == nil {
            do throws(RequestDecoding.Defect) {
                request.path = try RequestDecoding.percentDecoded(Self.bytes(url), plusIsSpace: false).get()
                let arguments = Self.values(connection, .GET_ARGUMENT_KIND)
                if arguments.hadNUL { throw RequestDecoding.Defect("NUL byte in the query") }
                for argument in arguments.raw {
                    request.query.append(
                        (
                            try RequestDecoding.percentDecoded(argument.name, plusIsSpace: true).get(),
                            try RequestDecoding.percentDecoded(argument.value, plusIsSpace: true).get()
                        ))
                }
            } catch {
                request.defect = error.reason
                request.path = ""
                request.query = []
            }
        }
        switch responder.respond(to: request) {
        case .response(let response):
            return queue(response, on: connection)
        case .deferred(let work):
            MHD_suspend_connection(connection)
            let key = ObjectIdentifier(context)
            suspended.withLock { $0[key] = SuspendedConnection(pointer: connection, context: context) }
            Task { [self] in
                let response = await work()
                // Whoever removes the entry resumes the connection: this task or stop().
                guard let waiting = suspended.withLock({ $0.removeValue(forKey: key) }) else { return }
                waiting.context.setResponse(response)
                MHD_resume_connection(waiting.pointer)
            }
            return kcs_mhd_yes()
        }
    }

    private func queue(_ response: HTTPServerResponse, on connection: OpaquePointer) -> MHD_Result {
        let created = response.body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(
                bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let created else { return kcs_mhd_no() }
        defer { MHD_destroy_response(created) }
        for field in response.headerFields
        where MHD_add_response_header(created, field.name.rawName, field.value) != kcs_mhd_yes() {
            logger.warning("dropped an invalid response header", metadata: ["header": "\(field.name)"])
        }
        return MHD_queue_response(connection, UInt32(response.status.code), created)
    }

    // MARK: - Reading values

    /// Header pairs as `HTTPFields`, in order; the first name that is not a valid token, if any.
    private static func fields(_ pairs: [(name: String, value: String)]) -> (HTTPFields, String?) {
        var fields = HTTPFields()
        fields.reserveCapacity(pairs.count)
        var invalid: String?
        for (name, value) in pairs {
            guard let fieldName = HTTPField.Name(name) else {
                invalid = invalid ?? name
                continue
            }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        return (fields, invalid)
    }

    private static func bytes(_ text: UnsafePointer<CChar>?) -> [UInt8] {
        guard let text else { return [] }
        return Array(UnsafeRawBufferPointer(start: text, count: strlen(text)))
    }

    /// Headers or query arguments, copied out of microhttpd's memory at once.
    struct Values {
        /// Names and values as text (invalid UTF-8 repaired).
        var values: [(name: String, value: String)] = []
        /// The same, as the bytes received (query arguments are still percent-encoded).
        var raw: [(name: [UInt8], value: [UInt8])] = []
        /// A name or value held a NUL byte, which C strings would silently cut off.
        var hadNUL = false
    }

    static func values(_ connection: OpaquePointer, _ kind: MHD_ValueKind) -> Values {
        final class Collector {
            var values = Values()
        }
        let collector = Collector()
        withExtendedLifetime(collector) {
            _ = MHD_get_connection_values_n(
                connection, kind,
                { collectorPointer, _, key, keySize, value, valueSize in
                    guard let collectorPointer, let key else { return kcs_mhd_yes() }
                    let collector = Unmanaged<Collector>.fromOpaque(collectorPointer).takeUnretainedValue()
                    let name = Array(UnsafeRawBufferPointer(start: key, count: keySize))
                    let content = value.map { Array(UnsafeRawBufferPointer(start: $0, count: valueSize)) } ?? []
                    if name.contains(0) || content.contains(0) { collector.values.hadNUL = true }
                    collector.values.raw.append((name, content))
                    collector.values.values.append(
                        (String(decoding: name, as: UTF8.self), String(decoding: content, as: UTF8.self)))
                    return kcs_mhd_yes()
                }, Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.values
    }
}
