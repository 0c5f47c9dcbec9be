#!/usr/bin/env bash
# Builds the release binary of kubeconfig-service and installs it into a folder.
#
#   scripts/build-release.sh [OUTPUT_DIR]      (default: .build/install/bin)
#
# The one build recipe shared by the Dockerfile and CI: a release build with the
# Swift runtime linked statically (--static-swift-stdlib), so the image needs only
# glibc, libstdc++, libmicrohttpd and libyaml at run time, and a stripped binary (-Xlinker -s)
# exporting no symbols (-Xlinker --no-export-dynamic).
# Whole-module optimisation is already the release default.
#
# It installs nothing itself: the caller provides the Swift toolchain, pkg-config
# libmicrohttpd-dev and libyaml-dev (Debian) beforehand.
#
# Environment:
#   SWIFT               the swift driver to use (default: swift from PATH)
#   BUILD_SCRATCH_PATH  a build folder other than .build (swift build --scratch-path)
set -euo pipefail

product="kubeconfig-service"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ $# -gt 1 ]]; then
    echo "usage: $0 [OUTPUT_DIR]" >&2
    exit 64
fi

# A relative OUTPUT_DIR is taken relative to the caller's working directory;
# the default lives in the repository's own build folder.
out_dir="${1:-$repo_root/.build/install/bin}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"

swift_bin="${SWIFT:-swift}"
build_args=(
    --configuration release
    --static-swift-stdlib
    --product "$product"
    -Xlinker -s
    # SwiftPM links executables with --export-dynamic; nothing loads symbols from this one, and
    # the exported table (2.9 MB of names and hashes) kept otherwise dead code alive: off.
    -Xlinker --no-export-dynamic
)
if [[ -n "${BUILD_SCRATCH_PATH:-}" ]]; then
    build_args+=(--scratch-path "$BUILD_SCRATCH_PATH")
fi

cd "$repo_root"
"$swift_bin" build "${build_args[@]}"
bin_dir="$("$swift_bin" build "${build_args[@]}" --show-bin-path)"

install -m 0755 "$bin_dir/$product" "$out_dir/$product"
echo "installed $out_dir/$product"
