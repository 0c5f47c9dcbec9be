#!/usr/bin/env bash
# Installs what building and running the service locally need on a fresh Debian machine (run as
# root, as CI does): scripts/run-local.sh calls it, and so does scripts/install-test-deps.sh
# before it installs the test and benchmark toolchain. The Swift toolchain is not installed here.
# Idempotent: packages already present are left alone.
set -euo pipefail

apt_packages=(
    libmicrohttpd-dev pkg-config # the HTTP server library, found through pkg-config
    libyaml-dev                  # libyaml, the YAML reader and writer (pkg-config: yaml-0.1)
    openssl curl                 # the API test server's certificates; run-local.sh's requests
)
"$(dirname "$0")/apt-install-missing.sh" "${apt_packages[@]}"

# What the local Kubernetes API test server (Tests/kube-api-server's kubeapi) imports beyond the
# standard library.
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    -r "$(dirname "$0")/../Tests/kube-api-server/requirements.txt"
