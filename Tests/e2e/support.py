"""What the end-to-end tests share: the binary under test (`serve` as a subprocess, `publish`
once), where it writes, and the helpers more than one test file needs. Fixtures are in
conftest.py; keeping tokens out of failure messages is redaction.py.

The binary is built by the test script beforehand; KUBECONFIG_SERVICE_BIN overrides its path.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import io
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("KUBECONFIG_SERVICE_BIN", ROOT / ".build" / "debug" / "kubeconfig-service"))
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


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05) -> float | None:
    """Polls `condition()` until it holds: the seconds that took, or None after `timeout`.
    (0.0 is a success: compare with `is not None`.)"""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started >= timeout:
            return None
        time.sleep(interval)


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


class Answer:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Answer({self.status}, {self.body[:300]!r})"


def read_answer(sock: socket.socket) -> Answer | None:
    """Reads one HTTP answer from `sock`: its head, then Content-Length bytes of body; None when
    the connection closed, was reset or went quiet (the socket's timeout) before a whole head."""
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, _, fields = head.partition(b"\r\n")
        headers = http.client.parse_headers(io.BytesIO(fields + b"\r\n\r\n"))
        length = int(headers.get("Content-Length") or 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except (socket.timeout, ConnectionResetError):
        return None
    return Answer(int(status_line.split()[1]), headers, body[:length])


def raw_answer(service, data: bytes, timeout: float = 5.0) -> Answer | None:
    """Sends raw bytes on a new connection and reads one answer (read_answer): for requests
    http.client will not send, such as a header given twice."""
    with socket.create_connection((service.host, service.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early: read what it said
        return read_answer(sock)


class Service:
    """`kubeconfig-service serve` as a subprocess, with JSON logs collected from stderr."""

    def __init__(self, api, *args, env=None, address="127.0.0.1", tls_ca: Path | None = None):
        self.api, self.address, self.tls_ca = api, address, tls_ca
        self.args = ["serve", "--service-account-dir", str(api.sa_dir), "--address", address, "--port", "0",
                     "--log-format", "json", *args]
        self.env = {**os.environ, **api.env(), **(env or {})}
        self.lines: list[str] = []
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._listening = threading.Event()

    def start(self, timeout: float = 15.0) -> "Service":
        self.process = subprocess.Popen([str(BINARY), *self.args], env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not self._listening.wait(timeout):
            self.stop()
            raise RuntimeError(f"service did not start listening within {timeout} s; logs:\n" + "\n".join(self.lines))
        return self

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "listening":
                self.port = int(entry["port"])
                self._listening.set()

    @property
    def logs(self) -> str:
        return "\n".join(self.lines)

    def log_entries(self) -> list[dict]:
        entries = []
        for line in self.lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass
        return entries

    def wait_log(self, message: str, timeout: float = 10.0, count: int = 1) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [entry for entry in self.log_entries() if entry.get("msg") == message]
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no {count} log line(s) {message!r} within {timeout} s; logs:\n{self.logs}")

    @property
    def host(self) -> str:
        return "::1" if self.address in ("::1", "::") else "127.0.0.1"

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        if self.tls_ca is not None:
            context = ssl.create_default_context(cafile=str(self.tls_ca))
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, token: str | None = None, headers: dict | None = None,
                body: bytes | str | None = None, timeout: float = 10.0) -> Answer:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, str):
            body = body.encode()
        connection = self.connection(timeout)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            answer = connection.getresponse()
            return Answer(answer.status, answer.headers, answer.read())
        finally:
            connection.close()

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.request("GET", "/healthz").status == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"/healthz not 200 within {timeout} s; logs:\n{self.logs}")

    def raw(self, data: bytes, timeout: float = 5.0) -> bytes:
        """Sends raw bytes on a new connection; returns what came back before the server closed or went quiet."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.sendall(data)
            chunks = []
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except (socket.timeout, ConnectionResetError):
                pass
            return b"".join(chunks)

    def stop(self, sig=signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code
