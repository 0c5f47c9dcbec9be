#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then
#   1. swift format lint (strict)          5. the release build the Dockerfile runs
#   2. each library target alone (each     6. end-to-end, chart and API-server tests (pytest)
#      declares every product it imports)  7. the benchmark in smoke mode (no timing asserted)
#   3. Swift unit tests (no sockets)
#   4. the debug binary for end-to-end
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "installing test dependencies"
scripts/install-test-deps.sh

step "swift format lint --strict"
swift format lint --strict --recursive Sources Tests Package.swift

step "each library target alone"
# A target that imports a module it does not declare still builds when another target built
# that module first, so each is built where nothing outside its own dependencies was: the small
# ones each in a folder of their own (seconds); then, on a fresh clone's empty .build, the chain
# KubernetesAPI < KubeconfigService < KubeconfigRoutes < ServiceAssembly, each of which depends
# on the one before, so the folder holds nothing it could not import anyway. Later steps reuse it.
for target in KubeconfigBase YAML HTTPMessages MicroHTTPServer; do
    swift build --target "$target" --scratch-path ".build/alone/$target"
done
swift build --target KubernetesAPI
swift build --target KubeconfigService
swift build --target KubeconfigRoutes
swift build --target ServiceAssembly

step "swift test"
swift build --build-tests
swift test

step "release build (the Dockerfile's recipe)"
scripts/build-release.sh .build/install/bin

step "end-to-end, chart and API-server tests"
export KUBECONFIG_SERVICE_BIN="$PWD/.build/debug/kubeconfig-service"
python3 -m pytest -q -p no:cacheprovider Tests/kube-api-server Tests/e2e Tests/deploy

step "benchmark (smoke)"
scripts/benchmark.sh --smoke --binary .build/install/bin/kubeconfig-service --output .build/bench-smoke/benchmark.md
