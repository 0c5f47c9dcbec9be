"""Multi-site kubeconfig documents of realistic size, for the benchmark's scaling and latency parts.

Each site has a cluster entry with a real CA certificate (PEM 1.1 to 1.5 KB, base64 in
`certificate-authority-data`, as kubeadm's RSA CAs are), a user entry with a JWT-sized bearer token
(about 1 KB, shaped like a service-account token: three base64url parts, an RS256 signature),
and a context naming both. The CAs come from a small pool made once with `openssl` (key
generation is the slow part); each site's token is its own.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import uuid
from pathlib import Path

import yaml

# (key, subject): kubeadm's CA (RSA 2048, "/CN=kubernetes", about 1.1 KB of PEM), one with a longer
# subject, and an RSA 3072 one (about 1.5 KB).
CA_SPECS = [
    ("rsa:2048", "/CN=kubernetes"),
    ("rsa:2048", "/O=Example Operations/OU=Edge platform/CN=edge-cluster-ca"),
    ("rsa:3072", "/CN=kubernetes"),
]

Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def ca_pool(folder: Path) -> list[str]:
    """Self-signed CA certificates (PEM text), made with openssl in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    pool = []
    for index, (key, subject) in enumerate(CA_SPECS):
        cert, private_key = folder / f"ca-{index}.crt", folder / f"ca-{index}.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", key, "-nodes", "-keyout", str(private_key), "-out", str(cert),
             "-days", "3650", "-subj", subject, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            check=True, capture_output=True, timeout=60)
        pool.append(cert.read_text())
    return pool


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_token(rng: random.Random, site: str) -> str:
    """A token shaped like a service-account JWT of another cluster (about 1 KB); never verified."""
    issued = 1_796_000_000 + rng.randrange(1_000_000)
    header = {"alg": "RS256", "kid": _b64url(rng.randbytes(32))}
    claims = {
        "aud": ["https://kubernetes.default.svc.cluster.local"],
        "exp": issued + 365 * 86400, "iat": issued,
        "iss": f"https://{site}.clusters.example.net",
        "jti": str(uuid.UUID(bytes=rng.randbytes(16))),
        "kubernetes.io": {"namespace": "onap",
                          "serviceaccount": {"name": "multisite-deployer", "uid": str(uuid.UUID(bytes=rng.randbytes(16)))}},
        "nbf": issued, "sub": "system:serviceaccount:onap:multisite-deployer",
    }
    return ".".join([_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()),
                     _b64url(rng.randbytes(256))])


def site_entries(name: str, ca_pem: str, rng: random.Random, server: str | None = None) -> dict:
    """The cluster, user and context of one site, as kubeconfig list entries."""
    return {
        "cluster": {"name": name, "cluster": {
            "server": server or f"https://{name}.clusters.example.net:6443",
            "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode()}},
        "user": {"name": f"{name}-deployer", "user": {"token": jwt_token(rng, name)}},
        "context": {"name": name, "context": {"cluster": name, "user": f"{name}-deployer", "namespace": "onap"}},
    }


def other_sites(count: int, pool: list[str], server=None, prefix: str = "site") -> list[dict]:
    """`count` sites named prefix-001, prefix-002, ...; the same count gives the same entries.
    `server(name)` overrides the server URL."""
    rng = random.Random(f"{prefix}-{count}")
    return [site_entries(f"{prefix}-{index:03d}", pool[index % len(pool)], rng,
                         server(f"{prefix}-{index:03d}") if server else None)
            for index in range(1, count + 1)]


def document(sites: list[dict]) -> str:
    """A kubeconfig holding `sites` (no current-context: the service sets its own)."""
    if not sites:
        return ""
    config = {"apiVersion": "v1", "kind": "Config", "preferences": {},
              "clusters": [site["cluster"] for site in sites], "users": [site["user"] for site in sites],
              "contexts": [site["context"] for site in sites]}
    return yaml.dump(config, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1 << 30)


def add_site(text: str, site: dict) -> str:
    """The document `text` with one more site's entries, as an editor adding a site would write it."""
    config = yaml.load(text, Loader=Loader) if text else {"apiVersion": "v1", "kind": "Config"}
    for kind in ("cluster", "user", "context"):
        config.setdefault(kind + "s", []).append(site[kind])
    return yaml.dump(config, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1 << 30)


def server_of(text: str, cluster: str) -> str | None:
    """The server of the named cluster entry in the document `text`."""
    config = yaml.load(text, Loader=Loader) or {}
    for entry in config.get("clusters") or []:
        if entry.get("name") == cluster:
            return (entry.get("cluster") or {}).get("server")
    return None
