#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then
#   1. swift format lint (strict)          4. the release build the Dockerfile runs
#   2. Swift unit tests (no sockets)       5. end-to-end, chart and API-server tests (pytest)
#   3. the debug binary for end-to-end     6. the benchmark in smoke mode (no timing asserted)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "installing test dependencies"
scripts/install-test-deps.sh

step "swift format lint --strict"
swift format lint --strict --recursive Sources Tests Package.swift

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
