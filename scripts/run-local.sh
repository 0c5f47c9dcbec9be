#!/usr/bin/env bash
# Runs kubeconfig-service on this machine against the project's local HTTPS Kubernetes API
# test server, so you can see it work without a cluster:
#
#   scripts/run-local.sh [extra serve options...]      (PORT=8081 scripts/run-local.sh: another port)
#
# It builds the debug binary, starts the API server with a service-account folder, the (empty)
# ConfigMap Helm would create and the consumer's account (`cloudify`, as the chart's deployment
# mode does), then `serve` on http://127.0.0.1:8080 publishing a token issued for that account.
# A second API server stands in for a remote site (`edge-1`, its own CA, a `deployer` account in
# namespace `apps`); two kubeconfigs for it are written, ready to register: one with the
# deployer's token, one with a bootstrap credential (a managed site). Ctrl-C stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
service_port="${PORT:-8080}"

scripts/install-run-deps.sh   # the libraries, openssl, curl, PyYAML: not the test toolchain
swift build --product kubeconfig-service

state="$(mktemp -d)"
api_pid=""
remote_pid=""
cleanup() {
    [[ -n "$api_pid" ]] && kill "$api_pid" 2>/dev/null || true
    [[ -n "$remote_pid" ]] && kill "$remote_pid" 2>/dev/null || true
    rm -rf "$state"
}
trap cleanup EXIT

# The API test server's package (kubeapi) and what its driver imports (loopback), by name.
pythonpath="$PWD/Tests/kube-api-server:$PWD/Tests/python-support${PYTHONPATH:+:$PYTHONPATH}"

# The consumer's account, the (empty) credentials Secret, and the rights the chart's Role gives
# the service on them.
cat >"$state/config.json" <<'JSON'
{"serviceAccounts": [{"namespace": "onap", "name": "cloudify"}],
 "secrets": [{"namespace": "onap", "name": "site-credentials"}],
 "rules": [{"user": "system:serviceaccount:onap:kubeconfig-service", "verbs": ["create"],
            "resources": ["serviceaccounts/token"], "namespaces": ["onap"], "resourceNames": ["cloudify"]},
           {"user": "system:serviceaccount:onap:kubeconfig-service", "verbs": ["get", "patch"],
            "resources": ["secrets"], "namespaces": ["onap"], "resourceNames": ["site-credentials"]}]}
JSON
PYTHONPATH="$pythonpath" \
    python3 -m kubeapi --state-dir "$state" --port 0 --config "$state/config.json" >"$state/api.out" 2>"$state/api.err" &
api_pid=$!
for _ in $(seq 100); do [[ -s "$state/port" ]] && break; sleep 0.1; done
port="$(cat "$state/port")"
curl -sf --cacert "$state/ca.crt" -X PUT -d '{"data":{}}' \
    "https://127.0.0.1:$port/__control/configmaps/onap/multisite-kubeconfig-configmap" >/dev/null

# The remote site: its own API server, CA and tokens. The deployer may read ConfigMaps in apps;
# `bootstrap-token` may only create the deployer's tokens (the bootstrap Role of a managed site).
mkdir -p "$state/edge-1"
cat >"$state/edge-1/config.json" <<'JSON'
{"serviceAccounts": [{"namespace": "apps", "name": "deployer"}],
 "configmaps": [{"namespace": "apps", "name": "workload", "data": {"site": "edge-1"}}],
 "identities": {"bootstrap-token": {"username": "kubeconfig-bootstrap"}},
 "rules": [{"user": "system:serviceaccount:apps:deployer", "verbs": ["get", "list"],
            "resources": ["configmaps"], "namespaces": ["apps"]},
           {"user": "kubeconfig-bootstrap", "verbs": ["create"], "resources": ["serviceaccounts/token"],
            "namespaces": ["apps"], "resourceNames": ["deployer"]}]}
JSON
PYTHONPATH="$pythonpath" \
    python3 -m kubeapi --state-dir "$state/edge-1" --port 0 --config "$state/edge-1/config.json" \
    >"$state/edge-1/api.out" 2>"$state/edge-1/api.err" &
remote_pid=$!
for _ in $(seq 100); do [[ -s "$state/edge-1/port" ]] && break; sleep 0.1; done
remote_port="$(cat "$state/edge-1/port")"
# A token issued there for the deployer, as `kubectl create token deployer -n apps` would get it.
deployer_token="$(curl -sf --cacert "$state/edge-1/ca.crt" -H 'Authorization: Bearer admin-token' \
    -H 'Content-Type: application/json' -d '{"spec": {"expirationSeconds": 86400}}' \
    "https://127.0.0.1:$remote_port/api/v1/namespaces/apps/serviceaccounts/deployer/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["status"]["token"])')"
# A kubeconfig of edge-1 whose user USER holds TOKEN, in context CONTEXT (namespace apps).
edge_kubeconfig_of() {
    local user="$1" token="$2" context="$3"
    cat <<YAML
apiVersion: v1
kind: Config
clusters:
- name: edge-1
  cluster:
    server: https://127.0.0.1:$remote_port
    certificate-authority-data: $(base64 -w0 "$state/edge-1/ca.crt")
users:
- name: $user
  user:
    token: $token
contexts:
- name: $context
  context: {cluster: edge-1, user: $user, namespace: apps}
current-context: $context
YAML
}
edge_kubeconfig="$state/edge-1.kubeconfig"
edge_kubeconfig_of deployer "$deployer_token" edge-1 >"$edge_kubeconfig"
# The cluster as its administrator reaches it: what `site add` starts from.
admin_kubeconfig="$state/edge-1-admin.kubeconfig"
edge_kubeconfig_of edge-1-admin admin-token edge-1-admin >"$admin_kubeconfig"
# The same site as a managed one: the kubeconfig's user is the bootstrap credential, whose token
# stays in the file (never on a command line); the service issues the deployer's tokens with it.
bootstrap_kubeconfig="$state/edge-1-bootstrap.kubeconfig"
edge_kubeconfig_of kubeconfig-bootstrap bootstrap-token edge-1 >"$bootstrap_kubeconfig"

cat <<MSG
Local Kubernetes API test server: https://127.0.0.1:$port (CA $state/ca.crt)
Try, in another shell (admin-token, the test server's administrator, is the caller's token: \$TOKEN in README.md):
  curl -s http://127.0.0.1:$service_port/healthz
  curl -s -H 'Authorization: Bearer admin-token' http://127.0.0.1:$service_port/kubeconfig
  curl -s -H 'Authorization: Bearer admin-token' http://127.0.0.1:$service_port/status   # token source, expiry, renewal
  curl -s -X POST -H 'Authorization: Bearer admin-token' http://127.0.0.1:$service_port/sites/central
  curl -s -H 'Authorization: Bearer reader-token' -X POST http://127.0.0.1:$service_port/sites/central   # 403
Remote site edge-1: https://127.0.0.1:$remote_port; add it in one command, as its administrator (the
service then issues and renews its tokens), then list and remove it:
  export KUBECONFIG_SERVICE_TOKEN=admin-token
  .build/debug/kubeconfig-service site add edge-1 --context edge-1-admin --kubeconfig $admin_kubeconfig \\
      --service http://127.0.0.1:$service_port
  .build/debug/kubeconfig-service site list --service http://127.0.0.1:$service_port
  .build/debug/kubeconfig-service site remove edge-1 --context edge-1-admin --kubeconfig $admin_kubeconfig \\
      --service http://127.0.0.1:$service_port
Or register it from a kubeconfig holding a deployer's token:
  curl -s -X PUT -H 'Authorization: Bearer admin-token' -H 'Content-Type: application/yaml' \\
       --data-binary @$edge_kubeconfig http://127.0.0.1:$service_port/sites/edge-1-pasted
  curl -s -H 'Authorization: Bearer admin-token' http://127.0.0.1:$service_port/sites      # health, expiry
  curl -s -H 'Authorization: Bearer admin-token' http://127.0.0.1:$service_port/kubeconfig > all.kubeconfig
  kubectl --kubeconfig all.kubeconfig --context edge-1 get configmap workload   # through the registered site
  curl -s -X DELETE -H 'Authorization: Bearer admin-token' http://127.0.0.1:$service_port/sites/edge-1-pasted
See every site on the page: open http://127.0.0.1:$service_port/ in a browser and enter admin-token.
Or managed: the service issues and renews edge-1's deployer token with a bootstrap credential
(bootstrap-token, inside the kubeconfig file; ?serviceAccount= names the account to issue for):
  curl -s -X PUT -H 'Authorization: Bearer admin-token' -H 'Content-Type: application/yaml' \\
       --data-binary @$bootstrap_kubeconfig 'http://127.0.0.1:$service_port/sites/edge-1?serviceAccount=deployer'
MSG

KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$port" \
    .build/debug/kubeconfig-service serve --service-account-dir "$state/serviceaccount" \
    --address 127.0.0.1 --port "$service_port" --token-service-account cloudify --credentials-secret site-credentials "$@"
