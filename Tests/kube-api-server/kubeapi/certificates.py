"""Certificates, made with the `openssl` command: the instance's EC P-256 CA, the server
certificate it signs, and client certificates it signs (what kube-apiserver's `--client-ca-file`
accepts: CN the username, each O a group, the clientAuth EKU)."""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from pathlib import Path

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
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""

NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _signed(tmp: Path, subject: str, extensions: str, ca_crt: Path, ca_key: Path, key: Path, crt: Path, days: int):
    """A new key and a certificate for it, signed by the CA, with one section of OPENSSL_CONFIG."""
    config, csr = tmp / "openssl.cnf", tmp / "request.csr"
    config.write_text(OPENSSL_CONFIG)
    _openssl("req", "-new", *NEW_KEY, "-keyout", key, "-out", csr, "-utf8", "-subj", subject, "-config", config)
    _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-set_serial", "0x" + secrets.token_hex(15),
             "-days", days, "-sha256", "-extfile", config, "-extensions", extensions, "-out", crt)


def ensure_certificates(state_dir: Path):
    """An EC P-256 CA and a server certificate signed by it, made when missing."""
    ca_crt, ca_key, crt, key = (state_dir / name for name in ("ca.crt", "ca.key", "server.crt", "server.key"))
    new_ca = not (ca_crt.exists() and ca_key.exists())
    if not new_ca and crt.exists() and key.exists():
        return
    with tempfile.TemporaryDirectory() as tmp:
        if new_ca:
            config = Path(tmp) / "ca.cnf"
            config.write_text(OPENSSL_CONFIG)
            _openssl("req", "-x509", "-new", *NEW_KEY, "-keyout", ca_key, "-out", ca_crt, "-days", "3650", "-sha256",
                     "-subj", "/CN=kube-api-test-server-ca", "-config", config, "-extensions", "ca")
        _signed(Path(tmp), "/CN=kube-apiserver", "server", ca_crt, ca_key, key, crt, 825)
    ca_key.chmod(0o600)
    key.chmod(0o600)


def subject_name(username: str, groups=()) -> str:
    """An `openssl -subj` name: one O per group, in order, then the CN (as kubeadm writes
    /O=system:masters/CN=kubernetes-admin). `/`, `+` and `\\` in values are escaped."""
    def escape(value):
        return value.replace("\\", "\\\\").replace("/", "\\/").replace("+", "\\+")

    parts = [f"O={escape(group)}" for group in groups] + ([f"CN={escape(username)}"] if username else [])
    if not parts:
        raise ValueError("a client certificate needs a username or a group")
    return "/" + "/".join(parts)


def client_certificate(state_dir: Path, username: str, groups=(), days: int = 365) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM): an EC P-256 client certificate with the clientAuth EKU,
    signed by the CA in `state_dir`. An empty username gives a certificate without a CN, which
    kube-apiserver's x509 authenticator passes over (no user, no error)."""
    with tempfile.TemporaryDirectory() as tmp:
        key, crt = Path(tmp) / "client.key", Path(tmp) / "client.crt"
        _signed(Path(tmp), subject_name(username, groups), "client", state_dir / "ca.crt", state_dir / "ca.key",
                key, crt, days)
        return crt.read_bytes(), key.read_bytes()
