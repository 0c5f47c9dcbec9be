#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine (run as root, as CI does):
# first what running needs (install-run-deps.sh), then the test and benchmark toolchain.
# Idempotent: packages already present are left alone.
set -euo pipefail

"$(dirname "$0")/install-run-deps.sh"

apt_packages=(
    wrk nginx-light time         # the benchmark: load generator, reference server, peak RSS
    prometheus                   # promtool: Tests/deploy checks and unit-tests the chart's alerts
                                 # (Debian ships promtool only with the server, which systemd starts)
    chromium chromium-driver     # Tests/e2e/test_page.py: the status page in a real, headless browser
)
"$(dirname "$0")/apt-install-missing.sh" "${apt_packages[@]}"

# kubectl reads the kubeconfig we produce. The machine image ships it; Debian releases newer
# than bookworm package it as kubernetes-client.
if ! command -v kubectl >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubectl \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client
fi

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    -r "$(dirname "$0")/../Tests/requirements.txt"
