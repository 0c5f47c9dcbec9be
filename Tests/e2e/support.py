"""What the end-to-end tests share: `publish` run once, where the service writes, and the helpers
more than one test file needs. `serve` as a subprocess (Service), the binary under test (BINARY),
requests and waiting are the `loopback` package's (Tests/python-support), shared with the API
test server's driver and the benchmark. Fixtures are in conftest.py; keeping tokens out of
failure messages is redaction.py.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import subprocess

import yaml
from loopback import BINARY

NAMESPACE = "onap"
CONFIGMAP = "multisite-kubeconfig-configmap"
CONFIGMAP_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}"


# MARK: - Helpers


def token_fingerprint(token: str) -> str:
    """What the service shows for a token (`/status` tokenFingerprint, BearerToken.fingerprint):
    the first 12 hex digits of the SHA-256 of the token as read from its file, whitespace trimmed."""
    return hashlib.sha256(token.strip().encode()).hexdigest()[:12]


def claims(token: str) -> dict:
    """The payload of a JWT-shaped token, unverified (the API test server's tokens are JWTs)."""
    payload = token.strip().split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def pod_token_fields(token: str) -> dict:
    """What a publication of the pod's own `token` answers about it: its source and its claimed expiry."""
    expires = datetime.datetime.fromtimestamp(claims(token)["exp"], datetime.timezone.utc)
    return {"tokenSource": "pod", "tokenExpiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def configmap_calls(api, method: str | None = None) -> list[dict]:
    """The API server's request log entries for the service's ConfigMap (oldest first)."""
    return [entry for entry in api.requests()
            if entry["path"] == CONFIGMAP_PATH and (method is None or entry["method"] == method)]


def metric(service, name: str, **labels) -> float | None:
    """The value of one series in the service's /metrics (labels in any order; none for a series
    without labels), None when absent."""
    for line in service.request("GET", "/metrics").text.splitlines():
        series, _, value = line.rpartition(" ")
        if line.startswith("#") or series.split("{")[0] != name:
            continue
        pairs = series[len(name) + 1:-1].split(",") if "{" in series else []
        found = dict(pair.split("=", 1) for pair in pairs if pair)
        if {key: value.strip('"') for key, value in found.items()} == labels:
            return float(value)
    return None


def stored_document(api, key: str = "kubeconfig") -> dict:
    """The kubeconfig document stored in the ConfigMap, parsed ({} when missing)."""
    configmap = api.get_configmap(NAMESPACE, CONFIGMAP) or {}
    return yaml.safe_load((configmap.get("data") or {}).get(key) or "") or {}


def names(document: dict, section: str) -> list:
    """The names of a kubeconfig section's entries, in order."""
    return [entry.get("name") for entry in document.get(section) or []]


# MARK: - The binary under test


def run_publish(api, *args, env=None, timeout=60) -> subprocess.CompletedProcess:
    """`kubeconfig-service publish` once, in the API server's in-cluster environment."""
    environment = {**os.environ, **api.env(), **(env or {})}
    return subprocess.run(
        [str(BINARY), "publish", "--service-account-dir", str(api.sa_dir), *args],
        env=environment, capture_output=True, text=True, timeout=timeout)
