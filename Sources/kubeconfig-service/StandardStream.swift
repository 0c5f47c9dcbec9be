#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Standard output or standard error, written straight with `write(2)` (FoundationEssentials
/// has no `FileHandle`, and stdio's buffer would hold log lines back).
enum StandardStream {
    case output
    case error

    /// Writes all of `bytes`, again after a partial write or `EINTR`. Another error drops the
    /// rest: the stream is where errors would be reported, so there is nowhere left to say so.
    func write(_ bytes: some Collection<UInt8>) {
        let descriptor = self == .output ? STDOUT_FILENO : STDERR_FILENO
        if bytes.withContiguousStorageIfAvailable({ writeAll(descriptor, $0) }) == nil {
            Array(bytes).withUnsafeBufferPointer { writeAll(descriptor, $0) }
        }
    }
}

private func writeAll(_ descriptor: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
    var offset = 0
    while offset < bytes.count {
        let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if written > 0 {
            offset += written
        } else if written < 0, errno == EINTR {
            continue
        } else {
            return
        }
    }
}
