"""Tokens on request: the latency of `POST /sites/NAME/token` as a caller sees it, for the central
site (minted at the home API server for the account `--token-service-account` names) and for a
managed site (minted at that site's own API server with its bootstrap credential), next to a
TokenRequest made straight to the same API test server: the difference is what the service adds
(the caller's TokenReview and SubjectAccessReview, cached after the first request; the rate
limit; the ExecCredential; the audit line).

Each is `samples` requests one after another on one kept-alive connection, after a warm-up; the
caller is an identity RBAC allows exactly these two sites' `sites/token`."""

from __future__ import annotations

import base64
import json
import statistics
import time
from pathlib import Path

from common import CONFIGMAP, NAMESPACE, BenchError, percentile, start_service
from kubeapi import ADMIN_TOKEN, KubeAPIServer
from loopback import Processes, connect

GROUP = "kubeconfig-service.onap.org"
SERVICE_USER = f"system:serviceaccount:{NAMESPACE}:kubeconfig-service"
CONSUMER = "cloudify"
SECRET = "site-credentials"
SITE = "edge-1"
WARM_UP = 5


def measure_issuance(processes: Processes, binary: Path, samples: int, workdir: Path) -> dict:
    central = KubeAPIServer(workdir / "issuance-central", config={
        "serviceAccounts": [{"namespace": NAMESPACE, "name": CONSUMER}],
        "rules": [
            {"user": SERVICE_USER, "verbs": ["create"], "resources": ["serviceaccounts/token"],
             "namespaces": [NAMESPACE], "resourceNames": [CONSUMER]},
            {"user": SERVICE_USER, "verbs": ["get", "patch"], "resources": ["secrets"], "namespaces": [NAMESPACE],
             "resourceNames": [SECRET]},
        ]})
    bootstrap = "bench-bootstrap-credential"
    remote = KubeAPIServer(workdir / "issuance-remote", config={
        "serviceAccounts": [{"namespace": "apps", "name": "deployer"}],
        "identities": {bootstrap: {"username": "bootstrap"}},
        "rules": [{"user": "bootstrap", "verbs": ["create"], "resources": ["serviceaccounts/token"],
                   "namespaces": ["apps"], "resourceNames": ["deployer"]}]})
    service = None
    try:
        central.start()
        remote.start()
        central.put_configmap(NAMESPACE, CONFIGMAP, {})
        central.put_secret(NAMESPACE, SECRET, {})
        service = start_service(
            processes, binary, central, "kubernetes", workdir / "issuance-serve.log",
            ("--token-service-account", CONSUMER, "--credentials-secret", SECRET, "--site-probe-interval", "0",
             "--credential-requests-per-minute", "10000"))
        registration = {"server": remote.url, "namespace": "apps", "bootstrapToken": bootstrap,
                        "certificateAuthorityData": base64.b64encode(remote.ca_file.read_bytes()).decode(),
                        "tokenRequest": {"serviceAccount": "deployer", "namespace": "apps"}}
        answer = service.request("PUT", f"/sites/{SITE}", token=ADMIN_TOKEN,
                                 headers={"Content-Type": "application/json"}, body=json.dumps(registration))
        if answer.status != 201:
            raise BenchError(f"registering {SITE} answered {answer.status}: {answer.body[:300]!r}")
        caller = central.add_identity("bench-caller", rules=[
            {"verbs": ["create"], "apiGroups": [GROUP], "resources": ["sites/token"], "namespaces": [NAMESPACE],
             "resourceNames": ["central", SITE]}])
        figures = {}
        for site in ("central", SITE):
            connection = connect(service.host, service.port, timeout=30)
            figures[site] = timed(samples, lambda: ask(connection, f"/sites/{site}/token", caller, site))
            connection.close()
        # The same TokenRequest, straight to the remote: what the site itself takes.
        direct = connect(remote.host, remote.port, remote.ssl_context(), timeout=30)
        figures["direct_token_request"] = timed(
            samples, lambda: ask(direct, "/api/v1/namespaces/apps/serviceaccounts/deployer/token", bootstrap,
                                 "the remote", {"spec": {"expirationSeconds": 600}}, created=201))
        direct.close()
        issued = sum(1 for line in service.log_entries() if line.get("msg") == "issued a token to a caller")
        if issued != 2 * (samples + WARM_UP):
            raise BenchError(f"the service logged {issued} issuances for {2 * (samples + WARM_UP)} requests")
        return figures
    finally:
        if service is not None:
            service.stop()
        central.stop()
        remote.stop()


def ask(connection, path: str, token: str, site: str, body: dict | None = None, created: int = 200) -> None:
    connection.request("POST", path, body=json.dumps(body or {}),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    answer = connection.getresponse()
    data = answer.read()
    if answer.status != created:
        raise BenchError(f"a token of {site} answered {answer.status}: {data[:300]!r}")


def timed(samples: int, once) -> dict:
    for _ in range(WARM_UP):
        once()
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        once()
        latencies.append(time.perf_counter() - started)
    return {"latency_s": latencies, "median_s": statistics.median(latencies), "p99_s": percentile(latencies, 99)}
