"""Start-up: the certificates (made with `openssl` when missing), the listener, the port file and
the READY line, then signals (SIGTERM/SIGINT stop, SIGUSR1 listens again).

    python3 -m kubeapi --state-dir DIR [--host 127.0.0.1] [--port 0] [--config FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path

from .cluster import Cluster
from .server import Listener

DESCRIPTION = "A local HTTPS Kubernetes API server for tests (Tests/kube-api-server/README.md)."


OPENSSL_CONFIG = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = kube-api-test-server
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, \
    DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def ensure_certificates(state_dir: Path):
    """An EC P-256 CA and a server certificate signed by it, made with `openssl` when missing."""
    ca_crt, ca_key, crt, key = (state_dir / name for name in ("ca.crt", "ca.key", "server.crt", "server.key"))
    new_ca = not (ca_crt.exists() and ca_key.exists())
    if not new_ca and crt.exists() and key.exists():
        return
    run = lambda *args: subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)  # noqa: E731
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with tempfile.TemporaryDirectory() as tmp:
        config, csr = Path(tmp) / "openssl.cnf", Path(tmp) / "server.csr"
        config.write_text(OPENSSL_CONFIG)
        if new_ca:
            run("req", "-x509", "-new", *new_key, "-keyout", ca_key, "-out", ca_crt, "-days", "3650", "-sha256",
                "-subj", "/CN=kube-api-test-server-ca", "-config", config, "-extensions", "ca")
        run("req", "-new", *new_key, "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver", "-config", config)
        run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-set_serial", "0x" + secrets.token_hex(15),
            "-days", "825", "-sha256", "-extfile", config, "-extensions", "server", "-out", crt)
    ca_key.chmod(0o600)
    key.chmod(0o600)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m kubeapi", description=DESCRIPTION)
    parser.add_argument("--state-dir", required=True, type=Path, help="certificates, service-account folder, port file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (::1 for IPv6)")
    parser.add_argument("--port", default=0, type=int, help="0 picks a free port")
    parser.add_argument("--config", type=Path, help="JSON: identities, rules, configmaps, serviceAccount, defaultRules")
    args = parser.parse_args(argv)

    args.state_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads(args.config.read_text()) if args.config else {}
    ensure_certificates(args.state_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.state_dir / "server.crt", args.state_dir / "server.key")
    context.set_alpn_protocols(["http/1.1"])
    listener = Listener(args.host, args.port, context, Cluster(config, args.state_dir))
    listener.open()

    staged = args.state_dir / "port.tmp"
    staged.write_text(f"{listener.port}\n")
    os.replace(staged, args.state_dir / "port")
    print(f"READY {listener.port}", flush=True)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    # While down the port is closed, so "up" also comes as a signal (what KubeAPIServer.up() sends).
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=listener.open, daemon=True).start())
    stopping.wait()
    listener.close()
