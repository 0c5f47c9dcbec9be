#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A numeric IPv4 or IPv6 address and port, as a `sockaddr` for microhttpd.
struct SocketAddress {
    private var storage = sockaddr_storage()
    private(set) var isIPv6 = false
    private(set) var isUnspecified = false

    init(_ address: String, port: UInt16) throws(HTTPServerError) {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        if inet_pton(AF_INET, address, &ipv4) == 1 {
            var socket = sockaddr_in()
            socket.sin_family = sa_family_t(AF_INET)
            socket.sin_port = port.bigEndian
            socket.sin_addr = ipv4
            withUnsafeBytes(of: socket) { bytes in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
            }
            isUnspecified = ipv4.s_addr == 0
        } else if inet_pton(AF_INET6, address, &ipv6) == 1 {
            var socket = sockaddr_in6()
            socket.sin6_family = sa_family_t(AF_INET6)
            socket.sin6_port = port.bigEndian
            socket.sin6_addr = ipv6
            withUnsafeBytes(of: socket) { bytes in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) }
            }
            isIPv6 = true
            isUnspecified = withUnsafeBytes(of: ipv6) { $0.allSatisfy { $0 == 0 } }
        } else {
            throw HTTPServerError("--address \(address) is not an IPv4 or IPv6 address (host names are not resolved)")
        }
    }

    mutating func withSockaddr<T>(_ body: (UnsafeMutablePointer<sockaddr>) -> T) -> T {
        withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1, body)
        }
    }
}
