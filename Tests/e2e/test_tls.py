"""`--tls-cert-file` / `--tls-key-file` (issue 3): HTTPS with a PEM certificate and key, plain
HTTP refused on that port, and a certificate replaced on disk picked up without a restart.

Certificates are made with `openssl` at test time: a test CA and leaf certificates for
127.0.0.1, laid out as a Kubernetes Secret volume is (files behind kubelet's `..data` symlink).

Run: KUBECONFIG_SERVICE_BIN=... python3 -m pytest -q Tests/e2e/test_tls.py
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from kubeapi import ADMIN_TOKEN
from loopback import BINARY
from kubeapi.tokens import write_atomic_volume

OPENSSL_EXTENSIONS = """
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost
"""


# MARK: - Certificates


def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(directory: Path, name: str = "test-ca") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}.key", directory / f"{name}.crt"
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-days", "30", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return cert, key


def make_leaf(directory: Path, ca: tuple[Path, Path], name: str, key_type: str = "ec") -> tuple[str, str]:
    """(certificate PEM, key PEM) for 127.0.0.1, signed by `ca`."""
    directory.mkdir(parents=True, exist_ok=True)
    key, csr, cert, ext = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "crt", "cnf"))
    ext.write_text(OPENSSL_EXTENSIONS)
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if key_type == "ec" else ["-newkey", "rsa:2048"]
    openssl("req", "-new", *new_key, "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-set_serial", str(int(time.time() * 1000)),
            "-days", "30", "-sha256", "-extfile", ext, "-extensions", "leaf", "-out", cert)
    return cert.read_text(), key.read_text()


def der_fingerprint_of_pem(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


class SecretVolume:
    """`tls.crt` and `tls.key` behind a `..data` symlink, swapped atomically as kubelet does."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)

    @property
    def cert(self) -> Path:
        return self.path / "tls.crt"

    @property
    def key(self) -> Path:
        return self.path / "tls.key"

    def write(self, cert_pem: str, key_pem: str):
        write_atomic_volume(self.path, {"tls.crt": (cert_pem, 0o644), "tls.key": (key_pem, 0o600)})


@pytest.fixture
def pki(tmp_path):
    ca = make_ca(tmp_path / "pki")
    volume = SecretVolume(tmp_path / "tls")
    volume.write(*make_leaf(tmp_path / "pki", ca, "first"))
    return ca, volume


def https_service(serve, pki, *args):
    ca, volume = pki
    service = serve("--auth", "none", "--tls-cert-file", str(volume.cert), "--tls-key-file", str(volume.key), *args,
                    tls_ca=ca[0])
    service.wait_ready()
    return service


def presented_certificate(service) -> str:
    """SHA-256 of the DER certificate the service presents on a new connection."""
    context = ssl.create_default_context(cafile=str(service.tls_ca))
    with socket.create_connection((service.host, service.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()


# MARK: - Tests


def test_serves_https_with_the_given_certificate(serve, api, pki):
    service = https_service(serve, pki)
    ca, volume = pki
    assert presented_certificate(service) == der_fingerprint_of_pem(volume.cert.read_text())
    listening = service.wait_log("listening")[0]
    assert listening["tls"] == "true"
    answer = service.request("GET", "/kubeconfig")
    assert answer.status == 200 and b"current-context" in answer.body
    assert service.request("POST", "/sites/central").status == 200


def test_plain_http_is_refused_on_the_https_port(serve, api, pki):
    service = https_service(serve, pki)
    for request in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /kubeconfig HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
        answer = service.raw(request, timeout=5)
        served = re.match(rb"HTTP/1\.[01] ([0-9]{3})", answer)
        assert served is None or served.group(1).startswith(b"4"), f"plain HTTP answered: {answer[:200]!r}"
        assert b"current-context" not in answer and b"ok\n" not in answer
    assert service.process.poll() is None
    assert service.request("GET", "/healthz").status == 200


def test_a_client_that_does_not_trust_the_certificate_is_refused(serve, api, pki, tmp_path):
    service = https_service(serve, pki)
    stranger_ca = make_ca(tmp_path / "other", "stranger-ca")
    context = ssl.create_default_context(cafile=str(stranger_ca[0]))
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection((service.host, service.port), timeout=5) as raw:
            context.wrap_socket(raw, server_hostname="127.0.0.1").close()
    assert service.request("GET", "/healthz").status == 200


def wait_presented(service, wanted: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    presented = presented_certificate(service)
    while time.monotonic() < deadline and presented != wanted:
        time.sleep(0.2)
        presented = presented_certificate(service)
    return presented


class Prober:
    """New HTTPS connections to /healthz in a loop, counting the ones that fail."""

    def __init__(self, service):
        self.service, self.ok, self.failures = service, 0, []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stopping.is_set():
            try:
                status = self.service.request("GET", "/healthz", timeout=5).status
                if status == 200:
                    self.ok += 1
                else:
                    self.failures.append(status)
            except (OSError, http.client.HTTPException) as error:
                self.failures.append(repr(error))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)


def test_a_certificate_replaced_on_disk_is_used_without_a_restart(serve, api, pki, tmp_path):
    """cert-manager renews the Secret, kubelet swaps `..data`: new connections get the new
    certificate while the process keeps running. (`--tls-reload-interval 1` only makes the test
    quicker; the default checks every 10 s.)"""
    service = https_service(serve, pki, "--tls-reload-interval", "1")
    ca, volume = pki
    pid = service.process.pid
    before = presented_certificate(service)
    renewed_cert, renewed_key = make_leaf(tmp_path / "pki", ca, "renewed")
    wanted = der_fingerprint_of_pem(renewed_cert)
    assert wanted != before
    volume.write(renewed_cert, renewed_key)
    swapped = time.monotonic()
    presented = wait_presented(service, wanted, timeout=20)
    print(f"\nMEASURE renewed certificate served after {time.monotonic() - swapped:.2f} s")
    assert presented == wanted, "20 s after the certificate was replaced on disk the old one is still served"
    assert service.process.poll() is None and service.process.pid == pid
    assert service.request("GET", "/healthz").status == 200
    assert service.request("GET", "/kubeconfig").status == 200
    plain = service.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    assert not re.match(rb"HTTP/1\.[01] 2", plain), "plain HTTP served after the reload"


def test_no_request_fails_during_a_certificate_reload(serve, api, pki, tmp_path):
    """Six clients open new HTTPS connections in a loop across three renewals: none may fail
    (the replacement server starts before the old one stops)."""
    service = https_service(serve, pki, "--tls-reload-interval", "1")
    ca, volume = pki
    renewals = [make_leaf(tmp_path / "pki", ca, f"renewal-{index}") for index in range(3)]
    probers = [Prober(service) for _ in range(6)]
    for prober in probers:
        prober.__enter__()
    try:
        presented = []
        for cert, key in renewals:
            volume.write(cert, key)
            presented.append(wait_presented(service, der_fingerprint_of_pem(cert), timeout=20)
                             == der_fingerprint_of_pem(cert))
        time.sleep(1.0)  # keep probing across the last old server's graceful stop
    finally:
        for prober in probers:
            prober.__exit__()
    assert all(presented), presented
    ok = sum(prober.ok for prober in probers)
    failures = [failure for prober in probers for failure in prober.failures]
    assert ok > 0
    assert failures == [], f"{len(failures)} of {ok + len(failures)} requests failed during 3 reloads: {failures[:5]}"


def test_an_unusable_renewal_keeps_the_previous_certificate(serve, api, pki, tmp_path):
    """A renewed certificate with a key that does not match it is not used; the service keeps
    serving the previous identity and picks up the next good pair."""
    service = https_service(serve, pki, "--tls-reload-interval", "1")
    ca, volume = pki
    before = presented_certificate(service)
    mismatched_cert, _ = make_leaf(tmp_path / "pki", ca, "mismatched")
    _, stray_key = make_leaf(tmp_path / "pki", ca, "stray")
    volume.write(mismatched_cert, stray_key)
    time.sleep(2.5)  # two reload checks: nothing to poll for, the old identity must simply stay
    assert service.process.poll() is None
    assert presented_certificate(service) == before
    assert service.request("GET", "/healthz").status == 200
    good_cert, good_key = make_leaf(tmp_path / "pki", ca, "good")
    volume.write(good_cert, good_key)
    assert wait_presented(service, der_fingerprint_of_pem(good_cert), timeout=20) == der_fingerprint_of_pem(good_cert)
    assert "PRIVATE KEY" not in service.logs


def test_stops_cleanly_after_a_reload(serve, api, pki, tmp_path):
    service = https_service(serve, pki, "--tls-reload-interval", "1")
    ca, volume = pki
    renewed_cert, renewed_key = make_leaf(tmp_path / "pki", ca, "renewed")
    volume.write(renewed_cert, renewed_key)
    assert wait_presented(service, der_fingerprint_of_pem(renewed_cert), timeout=20) == der_fingerprint_of_pem(renewed_cert)
    port = service.port
    assert service.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_key_that_does_not_match_the_certificate_stops_the_start(api, tmp_path, pki):
    ca, volume = pki
    other_cert, _ = make_leaf(tmp_path / "pki", ca, "other")
    cert_file = tmp_path / "mismatch.crt"
    cert_file.write_text(other_cert)
    run = subprocess.run(
        [str(BINARY), "serve", "--service-account-dir", str(api.sa_dir), "--address", "127.0.0.1", "--port", "0",
         "--auth", "none", "--tls-cert-file", str(cert_file), "--tls-key-file", str(volume.key)],
        env={**os.environ, **api.env()}, capture_output=True, text=True, timeout=20)
    assert run.returncode != 0, "started with a key that does not match its certificate"
    assert "BEGIN" not in run.stderr and "PRIVATE" not in run.stderr, "the key material appears in the error"


def test_admin_token_over_https(serve, api, pki):
    """With authorisation on, callers' bearer tokens travel over TLS and still work."""
    ca, volume = pki
    service = serve("--tls-cert-file", str(volume.cert), "--tls-key-file", str(volume.key), tls_ca=ca[0])
    service.wait_ready()
    assert service.request("GET", "/kubeconfig").status == 401
    assert service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).status == 200
