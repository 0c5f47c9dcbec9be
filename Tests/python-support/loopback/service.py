"""`kubeconfig-service serve` as a subprocess (Service), and the binary under test (BINARY): built
beforehand by the test script; KUBECONFIG_SERVICE_BIN overrides its path."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import threading
from pathlib import Path

from .exchange import Answer, connect, request
from .processes import Processes, StartError, stop, wait_until

ROOT = Path(__file__).resolve().parents[3]
BINARY = Path(os.environ.get("KUBECONFIG_SERVICE_BIN", ROOT / ".build" / "debug" / "kubeconfig-service"))


class Service:
    """`serve` against an API test server (a kubeapi.KubeAPIServer, in its in-cluster
    environment) on port 0 with JSON logs: the port comes from the `listening` line. Every line of
    standard error is kept (`lines`), and written to `log_file` if one is given. Started through
    `processes`, it runs in a process group of its own and is stopped with the others."""

    def __init__(self, api, *args, env=None, address="127.0.0.1", tls_ca: Path | None = None,
                 binary: Path | None = None, processes: Processes | None = None, log_file: Path | None = None):
        self.api, self.address, self.tls_ca = api, address, tls_ca
        self.binary, self.processes, self.log_file = binary or BINARY, processes, log_file
        self.args = ["serve", "--service-account-dir", str(api.sa_dir), "--address", address, "--port", "0",
                     "--log-format", "json", *args]
        self.env = {**os.environ, **api.env(), **(env or {})}
        self.lines: list[str] = []
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._listening = threading.Event()

    # MARK: - Life cycle

    def start(self, timeout: float = 15.0) -> "Service":
        command = [str(self.binary), *self.args]
        options = {"env": self.env, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
        if self.processes is not None:
            self.process = self.processes.popen(command, **options)
        else:
            self.process = subprocess.Popen(command, **options)
        threading.Thread(target=self._read, daemon=True).start()
        if not self._listening.wait(timeout):
            self.stop()
            raise StartError(f"service did not start listening within {timeout} s; logs:\n{self.logs}")
        return self

    def _read(self):
        sink = open(self.log_file, "w") if self.log_file is not None else None
        try:
            for line in self.process.stderr:
                if sink is not None:
                    sink.write(line)
                self.lines.append(line.rstrip("\n"))
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("msg") == "listening":
                    self.port = int(entry["port"])
                    self._listening.set()
        finally:
            if sink is not None:
                sink.close()

    def wait_ready(self, timeout: float = 15.0, interval: float = 0.05) -> None:
        """Until GET /healthz answers 200 (after the first publication)."""
        if wait_until(lambda: self.request("GET", "/healthz").status == 200, timeout, interval) is None:
            raise StartError(f"/healthz not 200 within {timeout} s; logs:\n{self.logs}")

    def stop(self, sig=signal.SIGTERM, timeout: float = 15.0) -> int:
        """Sends `sig` (SIGKILL after `timeout` seconds); the exit code. 0 if it is not running."""
        if self.process is None:
            return 0
        if self.processes is not None:
            code = self.processes.stop(self.process, timeout, sig)
        else:
            code = stop(self.process, sig, timeout)
        self.process = None
        return code

    @property
    def pid(self) -> int:
        return self.process.pid

    # MARK: - Logs

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
        """The log lines whose `msg` is `message`, once there are `count` of them."""
        found: list[dict] = []

        def enough() -> bool:
            found[:] = [entry for entry in self.log_entries() if entry.get("msg") == message]
            return len(found) >= count

        if wait_until(enough, timeout, interval=0.02) is None:
            raise AssertionError(f"no {count} log line(s) {message!r} within {timeout} s; logs:\n{self.logs}")
        return found

    # MARK: - Requests

    @property
    def host(self) -> str:
        return "::1" if self.address in ("::1", "::") else "127.0.0.1"

    def tls_context(self) -> ssl.SSLContext | None:
        """Trusts `tls_ca` when the service serves HTTPS; None for plain HTTP."""
        return ssl.create_default_context(cafile=str(self.tls_ca)) if self.tls_ca is not None else None

    def connection(self, timeout: float = 10.0):
        return connect(self.host, self.port, self.tls_context(), timeout)

    def request(self, method: str, path: str, token: str | None = None, headers: dict | None = None,
                body: bytes | str | None = None, timeout: float = 10.0) -> Answer:
        return request(self.host, self.port, method, path, body, token=token, headers=headers,
                       context=self.tls_context(), timeout=timeout)

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
