// swift-tools-version:6.0
import PackageDescription

/// A member is visible only in files that import its module: a file cannot lean on another file's
/// import (which once kept full Foundation in the binary through one file's `import Foundation`).
let strictImports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

let package = Package(
    name: "kubeconfig-service",
    products: [
        .executable(name: "kubeconfig-service", targets: ["kubeconfig-service"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.3.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.0.0"),
    ],
    targets: [
        // The C boundary: libmicrohttpd through pkg-config, plus shims for its variadics.
        .systemLibrary(
            name: "CMicroHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]
        ),
        // libyaml, the reference YAML 1.1 parser and emitter, through pkg-config.
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // The project's shared vocabulary: `ServiceError` and its open codes, `BearerToken`,
        // SHA-256, percent-encoding and trimming, `Duration` units, the one `Backoff`. No
        // dependencies: every other module may import it, none needs another to name an error.
        .target(
            name: "KubeconfigBase",
            swiftSettings: strictImports
        ),
        // YAML trees as Sendable values, read and written through libyaml: the only Swift code
        // that imports CYAML.
        .target(
            name: "YAML",
            dependencies: ["CYAML"],
            swiftSettings: strictImports
        ),
        // What the HTTP layer hands the routes and takes back: requests, responses, the responder
        // protocol, in swift-http-types' vocabulary. No C, no sockets.
        .target(
            name: "HTTPMessages",
            dependencies: [
                .product(name: "HTTPTypes", package: "swift-http-types")
            ],
            swiftSettings: strictImports
        ),
        // The HTTP layer: the only Swift code that imports CMicroHTTPD.
        .target(
            name: "MicroHTTPServer",
            dependencies: [
                "CMicroHTTPD",
                "HTTPMessages",
                "KubeconfigBase",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictImports
        ),
        // The Kubernetes API client: retries, in-cluster discovery, resource types, remote
        // clusters. The only Swift code that imports AsyncHTTPClient and NIOSSL.
        .target(
            name: "KubernetesAPI",
            dependencies: [
                "KubeconfigBase",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictImports
        ),
        // The shared core: document, store, update loop, publisher, access review, routes.
        .target(
            name: "KubeconfigService",
            dependencies: [
                "KubeconfigBase",
                "HTTPMessages",
                "KubernetesAPI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                "YAML",
            ],
            swiftSettings: strictImports
        ),
        // The HTTP routes: the router, its middleware and the access review it asks, given the
        // core's domain objects. Speaks HTTPMessages; no sockets. The status page is compiled in
        // as bytes (`PackageResources.status_page_html`): no resource bundle beside the binary,
        // and no Foundation `Bundle` to find one.
        .target(
            name: "KubeconfigRoutes",
            dependencies: [
                "HTTPMessages",
                "KubeconfigBase",
                "KubeconfigService",
                "KubernetesAPI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            resources: [.embedInCode("Page/status-page.html")],
            swiftSettings: strictImports
        ),
        // The executable's wiring, buildable in a test: the configuration `serve` runs with, the
        // assembly of the core's parts behind the HTTP server, their services, the TLS reload,
        // the log lines (LineLogHandler through LogSink) and the metrics registry.
        .target(
            name: "ServiceAssembly",
            dependencies: [
                "KubeconfigBase",
                "KubeconfigRoutes",
                "KubeconfigService",
                "KubernetesAPI",
                "MicroHTTPServer",
                // The operator's kubeconfig, read by `site add` (SiteOnboarding).
                "YAML",
                // The exec credential plugin's client of the service (CredentialPlugin).
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictImports
        ),
        // The command line only: flags, their checks, and the configuration they make.
        .executableTarget(
            name: "kubeconfig-service",
            dependencies: [
                "KubeconfigBase",
                "KubeconfigRoutes",
                "KubeconfigService",
                "KubernetesAPI",
                "MicroHTTPServer",
                "ServiceAssembly",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictImports
        ),
        // Certificates and keys made once for the tests, below every module: any test target may use them.
        .target(
            name: "TestFixtures",
            path: "Tests/TestFixtures"
        ),
        // Shared test helpers: the scripted in-memory document store, fixtures of registrations.
        .target(
            name: "KubeconfigServiceTestSupport",
            dependencies: [
                "TestFixtures",
                "HTTPMessages",
                "KubeconfigBase",
                "KubeconfigRoutes",
                "KubeconfigService",
                "KubernetesAPI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Tests/KubeconfigServiceTestSupport"
        ),
        .testTarget(
            name: "KubeconfigServiceTests",
            dependencies: [
                "TestFixtures",
                "KubeconfigBase",
                "KubeconfigService",
                "KubeconfigServiceTestSupport",
                "HTTPMessages",
                "KubernetesAPI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(
            name: "KubeconfigRoutesTests",
            dependencies: [
                "TestFixtures",
                "HTTPMessages",
                "KubeconfigBase",
                "KubeconfigRoutes",
                "KubeconfigService",
                "KubeconfigServiceTestSupport",
                "KubernetesAPI",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Checks the YAML layer against Yams, the library it replaced, which stays a test-only
        // dependency: it never reaches the binary.
        .testTarget(
            name: "YAMLTests",
            dependencies: [
                "YAML",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .testTarget(
            name: "KubeconfigBaseTests",
            dependencies: [
                "KubeconfigBase",
                // Only to check our SHA-256 against: swift-crypto never reaches the binary.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "KubernetesAPITests",
            dependencies: [
                "TestFixtures",
                "KubeconfigBase",
                "KubernetesAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                // Loopback servers that fail TLS in each way a site can (LoopbackServer).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "ServiceAssemblyTests",
            dependencies: [
                "TestFixtures",
                "HTTPMessages",
                "KubeconfigBase",
                "KubeconfigService",
                "KubeconfigServiceTestSupport",
                "KubernetesAPI",
                "MicroHTTPServer",
                "ServiceAssembly",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "MicroHTTPServerTests",
            dependencies: [
                "HTTPMessages",
                "MicroHTTPServer",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
