#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Standard output or standard error, written straight with `write(2)` (FoundationEssentials
/// has no `FileHandle`, and stdio's buffer would hold log lines back).
public enum StandardStream {
    case output
    case error

    /// Writes all of `bytes`, again after a partial write or `EINTR`; false when another error
    /// dropped the rest (a full disk, a closed pipe), for a caller whose output is its result.
    @discardableResult
    public func write(_ bytes: some Collection<UInt8>) -> Bool {
        let descriptor = self == .output ? STDOUT_FILENO : STDERR_FILENO
        if let written = bytes.withContiguousStorageIfAvailable({ writeAll(descriptor, $0) }) {
            return written
        }
        return Array(bytes).withUnsafeBufferPointer { writeAll(descriptor, $0) }
    }
}

private func writeAll(_ descriptor: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if written > 0 {
            offset += written
        } else if written < 0, errno == EINTR {
            continue
        } else {
            return false
        }
    }
    return true
}
