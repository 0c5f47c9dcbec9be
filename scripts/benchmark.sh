#!/usr/bin/env bash
# Runs the benchmark of kubeconfig-service (bench/README.md): serving next to nginx, one
# publication next to the Python baseline, start-up and footprint, repairs and propagation of
# other writers' changes, and the cost of documents of 1 to 250 sites, all on loopback against
# the project's local Kubernetes API test server.
#
#   scripts/benchmark.sh [--smoke] [--binary PATH] [--output FILE]
#
#   --smoke        short runs (CI): checks that every figure is produced and errors are zero;
#                  without it, the managed sites' crash and dead-site tests also run in their
#                  long mode (50 kills, six renewal periods; Tests/e2e/test_lifecycle.py)
#   --binary PATH  benchmark this binary; without it the release binary is built first
#                  with scripts/build-release.sh (into .build/install/bin)
#   --output FILE  Markdown report (default bench-results/benchmark.md); the raw figures go
#                  beside it as JSON (FILE with the suffix .json)
#
# Prints the tables on standard output. Exit 1 when a figure is missing or a run had errors;
# the targets are reported, never asserted.
#
# Needs wrk, nginx (nginx-light), GNU time, python3 with PyYAML and kubernetes; as root on
# Debian, what is missing is installed first.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
    sed -n '7,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 64
}

binary=""
bench_args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --smoke) bench_args+=(--smoke); shift ;;
        --binary) [[ $# -ge 2 ]] || usage; binary="$2"; shift 2 ;;
        --output) [[ $# -ge 2 ]] || usage; bench_args+=(--output "$(realpath -m "$2")"); shift 2 ;;
        -h|--help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done

python="${PYTHON:-python3}"

# Tools the benchmark drives: installed from Debian (and PyPI for the Python client) when missing.
missing_packages=()
command -v wrk >/dev/null || missing_packages+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing_packages+=(nginx-light)
[[ -x /usr/bin/time ]] || missing_packages+=(time)
if [[ ${#missing_packages[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing ${missing_packages[*]}" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >&2
    else
        echo "missing: ${missing_packages[*]} (Debian packages)" >&2
        exit 1
    fi
fi
if ! "$python" -c 'import kubernetes, yaml' 2>/dev/null; then
    echo "installing the Python kubernetes client and PyYAML" >&2
    "$python" -m pip install -q kubernetes PyYAML >&2
fi

if [[ -z "$binary" ]]; then
    "$repo_root/scripts/build-release.sh" "$repo_root/.build/install/bin" >&2
    binary="$repo_root/.build/install/bin/kubeconfig-service"
fi

cd "$repo_root"
# The API test server's package (kubeapi) and the shared requests and processes (loopback) are
# imported by name, as pytest.ini's pythonpath does.
export PYTHONPATH="$repo_root/Tests/kube-api-server:$repo_root/Tests/python-support${PYTHONPATH:+:$PYTHONPATH}"
"$python" bench/benchmark.py --binary "$(realpath "$binary")" "${bench_args[@]}"
if [[ " ${bench_args[*]} " != *" --smoke "* ]]; then
    # The long mode of the lifecycle's crash and dead-site tests prints its figures (kills between
    # two writes, renewal lateness, probe-result ages: docs/SITES.md quotes the last).
    KCS_LONG=1 KUBECONFIG_SERVICE_BIN="$(realpath "$binary")" "$python" -m pytest -q -s -p no:cacheprovider \
        Tests/e2e/test_lifecycle.py -k "kill_9 or black_holed"
fi
