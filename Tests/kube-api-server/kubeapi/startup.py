"""Start-up: the certificates (certificates.py, made when missing), the TLS context (which asks
for client certificates issued by the instance's CA: clientcerts.py), the listener, the port file
and the READY line, then signals (SIGTERM/SIGINT stop, SIGUSR1 listens again).

    python3 -m kubeapi --state-dir DIR [--host 127.0.0.1] [--port 0] [--config FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import threading
from pathlib import Path

from .certificates import ensure_certificates
from .clientcerts import request_client_certificates
from .cluster import Cluster
from .server import Listener

DESCRIPTION = "A local HTTPS Kubernetes API server for tests (Tests/kube-api-server/README.md)."


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m kubeapi", description=DESCRIPTION)
    parser.add_argument("--state-dir", required=True, type=Path, help="certificates, service-account folder, port file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (::1 for IPv6)")
    parser.add_argument("--port", default=0, type=int, help="0 picks a free port")
    parser.add_argument("--config", type=Path, help="JSON config (see README.md)")
    args = parser.parse_args(argv)

    args.state_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads(args.config.read_text()) if args.config else {}
    ensure_certificates(args.state_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.state_dir / "server.crt", args.state_dir / "server.key")
    context.set_alpn_protocols(["http/1.1"])
    request_client_certificates(context, args.state_dir / "ca.crt")  # like --client-ca-file=ca.crt
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
