#!/usr/bin/env bash
# Runs kubeconfig-service on this machine against the project's local HTTPS Kubernetes API
# test server, so you can see it work without a cluster:
#
#   scripts/run-local.sh [extra serve options...]
#
# It builds the debug binary, starts the API server with a service-account folder, the (empty)
# ConfigMap Helm would create and the consumer's account (`cloudify`, as the chart's deployment
# mode does), then `serve` on http://127.0.0.1:8080 publishing a token issued for that account.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
swift build --product kubeconfig-service

state="$(mktemp -d)"
api_pid=""
cleanup() {
    [[ -n "$api_pid" ]] && kill "$api_pid" 2>/dev/null || true
    rm -rf "$state"
}
trap cleanup EXIT

# The consumer's account, and the one right the chart's Role gives the service on it.
cat >"$state/config.json" <<'JSON'
{"serviceAccounts": [{"namespace": "onap", "name": "cloudify"}],
 "rules": [{"user": "system:serviceaccount:onap:kubeconfig-service", "verbs": ["create"],
            "resources": ["serviceaccounts/token"], "namespaces": ["onap"], "resourceNames": ["cloudify"]}]}
JSON
PYTHONPATH="$PWD/Tests/kube-api-server${PYTHONPATH:+:$PYTHONPATH}" \
    python3 -m kubeapi --state-dir "$state" --port 0 --config "$state/config.json" >"$state/api.out" 2>"$state/api.err" &
api_pid=$!
for _ in $(seq 100); do [[ -s "$state/port" ]] && break; sleep 0.1; done
port="$(cat "$state/port")"
curl -sf --cacert "$state/ca.crt" -X PUT -d '{"data":{}}' \
    "https://127.0.0.1:$port/__control/configmaps/onap/multisite-kubeconfig-configmap" >/dev/null

cat <<MSG
Local Kubernetes API test server: https://127.0.0.1:$port (CA $state/ca.crt)
Try, in another shell (admin-token is the test server's administrator):
  curl -s http://127.0.0.1:8080/healthz
  curl -s -H 'Authorization: Bearer admin-token' http://127.0.0.1:8080/kubeconfig
  curl -s -H 'Authorization: Bearer admin-token' http://127.0.0.1:8080/status   # token source, expiry, renewal
  curl -s -X POST -H 'Authorization: Bearer admin-token' http://127.0.0.1:8080/sites/central
  curl -s -H 'Authorization: Bearer reader-token' -X POST http://127.0.0.1:8080/sites/central   # 403
MSG

KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$port" \
    .build/debug/kubeconfig-service serve --service-account-dir "$state/serviceaccount" \
    --address 127.0.0.1 --port 8080 --token-service-account cloudify "$@"
