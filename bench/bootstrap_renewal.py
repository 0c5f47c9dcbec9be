"""The bootstrap credential renewing itself: a managed site registered with a service-account
token of its `kubeconfig-bootstrap` account, on a remote API test server that caps every token
at `lifetime` seconds, so that the service renews it every period. For each renewal, from the two
API test servers' request logs (one machine, one clock):

- when in the token's life the service asked (the TokenRequest for the bootstrap account's own
  token, as a share of the lifetime granted: the target is 75-80 %);
- how long from that TokenRequest reaching the site to the new credential written into the
  credentials Secret at home (the PATCH answered): what a renewal takes end to end.

The deployer's own renewals run beside them, as in use."""

from __future__ import annotations

import base64
import datetime
import json
import statistics
import time
from pathlib import Path

from common import CONFIGMAP, NAMESPACE, BenchError, percentile, start_service
from kubeapi import ADMIN_TOKEN, KubeAPIServer
from loopback import Processes

SERVICE_USER = f"system:serviceaccount:{NAMESPACE}:kubeconfig-service"
SECRET = "site-credentials"
SITE = "edge-1"
BOOTSTRAP = "kubeconfig-bootstrap"


def at(entry: dict) -> float:
    return datetime.datetime.fromisoformat(entry["time"]).timestamp()


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def measure_bootstrap_renewal(processes: Processes, binary: Path, renewals: int, lifetime: int, workdir: Path) -> dict:
    central = KubeAPIServer(workdir / "renewal-central", config={
        "rules": [{"user": SERVICE_USER, "verbs": ["get", "patch"], "resources": ["secrets"],
                   "namespaces": [NAMESPACE], "resourceNames": [SECRET]}]})
    remote = KubeAPIServer(workdir / "renewal-remote", config={
        "maxTokenExpirationSeconds": lifetime,
        "serviceAccounts": [{"namespace": "apps", "name": "deployer"}, {"namespace": "apps", "name": BOOTSTRAP}],
        "rules": [{"user": f"system:serviceaccount:apps:{BOOTSTRAP}", "verbs": ["create"],
                   "resources": ["serviceaccounts/token"], "namespaces": ["apps"],
                   "resourceNames": ["deployer", BOOTSTRAP]}]})
    service = None
    try:
        central.start()
        remote.start()
        central.put_configmap(NAMESPACE, CONFIGMAP, {})
        central.put_secret(NAMESPACE, SECRET, {})
        service = start_service(processes, binary, central, "kubernetes", workdir / "renewal-serve.log",
                                ("--credentials-secret", SECRET, "--site-probe-interval", "0"))
        bootstrap = remote.create_token("apps", BOOTSTRAP, expiration_seconds=600)
        registration = {"server": remote.url, "namespace": "apps", "bootstrapToken": bootstrap,
                        "certificateAuthorityData": base64.b64encode(remote.ca_file.read_bytes()).decode(),
                        "tokenRequest": {"serviceAccount": "deployer", "namespace": "apps"}}
        answer = service.request("PUT", f"/sites/{SITE}", token=ADMIN_TOKEN,
                                 headers={"Content-Type": "application/json"}, body=json.dumps(registration))
        if answer.status != 201:
            raise BenchError(f"registering {SITE} answered {answer.status}: {answer.body[:300]!r}")
        own_path = f"/api/v1/namespaces/apps/serviceaccounts/{BOOTSTRAP}/token"
        bootstrap_user = f"system:serviceaccount:apps:{BOOTSTRAP}"
        deadline = time.monotonic() + (renewals + 1) * lifetime + 10
        requests: list[dict] = []
        while time.monotonic() < deadline:
            requests = [entry for entry in remote.requests() if entry["method"] == "POST"
                        and entry["path"] == own_path and entry["user"] == bootstrap_user]
            if len(requests) >= renewals:
                break
            time.sleep(0.5)
        if len(requests) < renewals:
            raise BenchError(f"{len(requests)} bootstrap renewals in {(renewals + 1) * lifetime + 10} s, "
                             f"{renewals} expected")
        time.sleep(1)  # the last one's write
        writes = [entry for entry in central.requests() if entry["method"] == "PATCH" and entry["code"] == 200
                  and entry["path"].endswith(f"/secrets/{SECRET}")]
        durations, shares = [], []
        # Each renewed credential is issued when its TokenRequest is answered, its iat that second
        # (JWT times are whole seconds): the next renewal's share of its life is measured from there.
        previous = float(claims(bootstrap)["iat"])
        for request in requests[:renewals]:
            if request["code"] != 201:
                raise BenchError(f"a bootstrap renewal was answered {request['code']}")
            asked = at(request)
            written = [at(entry) for entry in writes if at(entry) >= asked]
            if not written:
                raise BenchError("a renewed bootstrap credential was never written to the Secret")
            durations.append(min(written) - asked)
            shares.append((asked - previous) / lifetime)
            previous = float(int(asked))
        failed = [entry for entry in remote.token_requests("apps", "deployer") if entry["code"] != 201]
        if failed:
            raise BenchError(f"{len(failed)} deployer TokenRequests failed during the bootstrap renewals")
        return {"lifetime_s": lifetime, "renewals": renewals, "duration_s": durations,
                "median_s": statistics.median(durations), "p99_s": percentile(durations, 99),
                "share_of_lifetime": shares, "share_min": min(shares), "share_max": max(shares)}
    finally:
        if service is not None:
            service.stop()
        central.stop()
        remote.stop()
