#!/usr/bin/env bash
# apt-install-missing.sh PACKAGE...: installs, as root and without recommends, those of the Debian
# packages named that are not installed yet; nothing when all are (install-run-deps.sh and
# install-test-deps.sh share it).
set -euo pipefail

missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
