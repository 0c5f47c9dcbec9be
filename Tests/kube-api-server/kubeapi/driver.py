"""Runs the local Kubernetes API test server (`python3 -m kubeapi`) as a subprocess and drives it.

    with KubeAPIServer(tmp_path) as api:
        api.put_configmap("onap", "sites", {"central": "..."})
        subprocess.run([binary], env={**os.environ, **api.env()}, ...)

The standard library (http.client and ssl with the server's generated CA), PyYAML, and the
requests and process handling every Python test shares (the `loopback` package, Tests/python-support).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import loopback
import yaml
from loopback import Answer, read_chunks, stop, wait_port, wait_until

from .authn import ADMIN_TOKEN, NOBODY_TOKEN, READER_TOKEN
from .certificates import client_certificate as mint_client_certificate

__all__ = ["ADMIN_TOKEN", "NOBODY_TOKEN", "READER_TOKEN", "EventStream", "KubeAPIServer"]

# The folders that hold this package and `loopback`, which the server's child process imports too.
PACKAGE_PARENTS = [Path(__file__).resolve().parents[1], Path(loopback.__file__).resolve().parents[1]]


def _text_or_bytes(value: bytes):
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value


class EventStream:
    """An open watch, read by a thread of its own: its events (dicts, in order) queue up for
    `next`; `ended` waits for the stream's end and says how it ended: "end" (the final chunk) or
    "dropped" (the connection closed mid-stream). A chunk that is not exactly one JSON line ends
    the reading with an AssertionError in that thread (and no more events). A watch the server
    refused has its `status` and `body` and no events."""

    def __init__(self, connection: http.client.HTTPSConnection, answer: http.client.HTTPResponse):
        self.connection, self.status, self.headers = connection, answer.status, answer.headers
        self.events: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        self._end = threading.Event()
        self.how = None
        self.body = b""
        if self.status != 200:
            self.body = answer.read()
            self.how = "refused"
            self._end.set()
            connection.close()
            return
        self._thread = threading.Thread(target=self._read, args=(answer,), daemon=True)
        self._thread.start()

    def _read(self, answer):
        """Each chunk must be one JSON line (read_chunks: a stream cut short raises ConnectionError)."""
        try:
            for _, chunk in read_chunks(answer.fp):
                if not chunk.endswith(b"\n") or chunk.count(b"\n") != 1:
                    raise AssertionError(f"a watch chunk that is not one JSON line: {chunk!r}")
                event = json.loads(chunk)
                self.events.append(event)
                self._queue.put(event)
            self.how = "end"
        except (OSError, ValueError):
            self.how = "dropped"
        finally:
            self._end.set()

    def json(self):
        return json.loads(self.body)

    def next(self, timeout: float = 5.0) -> dict:
        """The next event; TimeoutError if none comes within `timeout` seconds (or the stream ended)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._queue.get(timeout=0.05 if self._end.is_set() else max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                if self._end.is_set() or time.monotonic() >= deadline:
                    raise TimeoutError(f"no watch event within {timeout:g} s (stream: {self.how or 'open'}; "
                                       f"events so far: {self.events})")

    def next_of(self, type: str, timeout: float = 5.0) -> dict:
        """The next event of this type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.0, deadline - time.monotonic()))
            if event["type"] == type:
                return event

    def ended(self, timeout: float = 5.0) -> str:
        """Waits for the end: "end" or "dropped" ("refused" for a non-200 answer); TimeoutError
        if it is still open after `timeout` seconds."""
        if not self._end.wait(timeout):
            raise TimeoutError(f"the watch is still open after {timeout:g} s")
        return self.how

    def close(self):
        """Hangs up (the server notices and ends the watch)."""
        try:
            if self.connection.sock is not None:
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._end.wait(5)  # the reader sees the end first; then the connection can go
        self.connection.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class KubeAPIServer:
    """The server as a subprocess whose state (certificates, service-account folder, port file,
    stderr log) lives in `tmpdir`. A context manager: `with KubeAPIServer(tmp) as api: ...`."""

    def __init__(self, tmpdir, host: str = "127.0.0.1", config: dict | None = None):
        self.state_dir = Path(tmpdir)
        self.host = host
        self.config = config
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self._stderr = None

    # MARK: - Life cycle

    def start(self, timeout: float = 15.0) -> "KubeAPIServer":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "kubeapi", "--state-dir", str(self.state_dir), "--host", self.host,
                "--port", "0"]
        if self.config is not None:
            config_file = self.state_dir / "config.json"
            config_file.write_text(json.dumps(self.config))
            args += ["--config", str(config_file)]
        self._stderr = open(self.state_dir / "server.stderr", "wb")
        # The child imports this package the way the caller did, without depending on its cwd.
        path = os.pathsep.join(filter(None, [*map(str, PACKAGE_PARENTS), os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr,
                                        env={**os.environ, "PYTHONPATH": path})
        line = self._read_line(timeout)
        if not line.startswith("READY "):
            code = self.process.poll()
            self.stop()
            stderr = (self.state_dir / "server.stderr").read_text(errors="replace")
            raise RuntimeError(f"kube API server not ready within {timeout:g} s (exit code {code}, "
                               f"stdout {line!r}); stderr:\n{stderr}")
        self.port = int(line.split()[1])
        return self

    def stop(self):
        if self.process is not None:
            stop(self.process, timeout=5)
            self.process.stdout.close()
            self.process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _read_line(self, timeout):
        """The first stdout line, or what came before the deadline or the process's exit."""
        deadline, data, fd = time.monotonic() + timeout, b"", self.process.stdout.fileno()
        while b"\n" not in data and time.monotonic() < deadline:
            readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if readable else b""
            if readable and not chunk:
                break  # EOF: the server exited
            data += chunk
        return data.decode(errors="replace").strip()

    # MARK: - Where it is

    @property
    def url(self) -> str:
        """`https://host:port`, an IPv6 host in brackets (`https://[::1]:PORT`), as net.JoinHostPort writes it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.state_dir / "ca.crt"

    @property
    def sa_dir(self) -> Path:
        return self.state_dir / "serviceaccount"

    @property
    def namespace(self) -> str:
        return ((self.config or {}).get("serviceAccount") or {}).get("namespace", "onap")

    @property
    def token(self) -> str:
        """The service account's current token, as mounted."""
        return (self.sa_dir / "token").read_text()

    def env(self) -> dict:
        """The in-cluster environment for the binary under test (host without brackets, as kubelet sets it)."""
        return {"KUBERNETES_SERVICE_HOST": self.host, "KUBERNETES_SERVICE_PORT": str(self.port)}

    def client_certificate(self, username: str, groups=()) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM): an EC P-256 client certificate signed by this instance's CA,
        with the clientAuth EKU, CN `username` and one O per group. Presented to this instance it
        authenticates as that user, with those groups and system:authenticated; to another
        instance, whose CA did not sign it, it gets 401."""
        return mint_client_certificate(self.state_dir, username, tuple(groups))

    def write_kubeconfig(self, path, token: str | None = None, context: str = "test",
                         namespace: str | None = None, client_certificate: tuple[bytes, bytes] | None = None) -> Path:
        """A kubeconfig for real clients: certificate-authority-data plus a bearer token (default:
        the SA's). With `client_certificate` (cert PEM, key PEM), the user has
        client-certificate-data and client-key-data, and a token only if one is given."""
        user = {}
        if client_certificate:
            user["client-certificate-data"] = base64.b64encode(client_certificate[0]).decode()
            user["client-key-data"] = base64.b64encode(client_certificate[1]).decode()
        if token or not client_certificate:
            user["token"] = token or self.token
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
            "clusters": [{"name": "local", "cluster": {
                "server": self.url,
                "certificate-authority-data": base64.b64encode(self.ca_file.read_bytes()).decode()}}],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": context, "context": {"cluster": "local", "user": "user",
                                                      "namespace": namespace or self.namespace}}],
        }
        Path(path).write_text(yaml.safe_dump(config, sort_keys=False))
        return Path(path)

    # MARK: - Requests

    def request(self, method: str, path: str, body=None, token: str | None = None, content_type: str | None = None,
                headers: dict | None = None, timeout: float = 10.0,
                client_certificate: tuple[bytes, bytes] | None = None) -> Answer:
        """One HTTPS request on a fresh connection (loopback.request). A dict or list body is sent
        as JSON; a `client_certificate` (cert PEM, key PEM) is presented in the handshake."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        all_headers = dict(headers or {})
        if body is not None:
            all_headers.setdefault("Content-Type", content_type or "application/json")
        return loopback.request(self.host, self.port, method, path, body, token=token or None, headers=all_headers,
                                context=self.ssl_context(client_certificate), timeout=timeout)

    def watch(self, path: str, token: str | None = ADMIN_TOKEN, timeout: float = 30.0, **params) -> EventStream:
        """Opens a watch: GET `path`?watch=true plus `params` (resourceVersion=..., fieldSelector=...,
        allowWatchBookmarks="true", timeoutSeconds=...; a bool is sent as true/false). `timeout`
        bounds each socket read. Close it (or use it as a context manager) when done."""
        query = {"watch": "true", **{key: str(value).lower() if isinstance(value, bool) else str(value)
                                     for key, value in params.items()}}
        connection = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.ssl_context())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", f"{path}?{urlencode(query)}", headers=headers)
        return EventStream(connection, connection.getresponse())

    def ssl_context(self, client_certificate: tuple[bytes, bytes] | None = None) -> ssl.SSLContext:
        """Trusts this instance's CA only; presents `client_certificate` (cert PEM, key PEM) if given."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if client_certificate:
            with tempfile.TemporaryDirectory() as tmp:  # ssl loads a key pair from files only
                cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
                cert.write_bytes(client_certificate[0])
                key.write_bytes(client_certificate[1])
                context.load_cert_chain(cert, key)
        return context

    def _control(self, method, path, body=None):
        answer = self.request(method, "/__control/" + path, body)
        if answer.status >= 400:
            raise RuntimeError(f"control call {method} {path} failed: {answer.status} {answer.body!r}")
        return answer.json()

    # MARK: - Control API

    def reset(self):
        """Initial objects again; no faults, empty request log, no run-time identities."""
        self._control("POST", "reset")

    def put_configmap(self, namespace: str, name: str, data: dict, **fields) -> dict:
        """Creates or replaces a ConfigMap directly (new resourceVersion); fields: labels, annotations, binaryData."""
        return self._control("PUT", f"configmaps/{namespace}/{name}", {"data": data, **fields})

    def get_configmap(self, namespace: str, name: str) -> dict | None:
        answer = self.request("GET", f"/__control/configmaps/{namespace}/{name}")
        return answer.json() if answer.status == 200 else None

    def delete_configmap(self, namespace: str, name: str):
        self._control("DELETE", f"configmaps/{namespace}/{name}")

    def put_secret(self, namespace: str, name: str, data: dict | None = None, type: str = "Opaque",
                   **fields) -> dict:
        """Creates or replaces a Secret directly (new resourceVersion). `data` values are plain text
        or bytes (base64-encoded here); fields: stringData, labels, annotations. Returns it as stored."""
        encoded = {key: base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()
                   for key, value in (data or {}).items()}
        return self._control("PUT", f"secrets/{namespace}/{name}", {"data": encoded, "type": type, **fields})

    def get_secret(self, namespace: str, name: str) -> dict | None:
        """The Secret with its `data` decoded: str values, or bytes where a value is not UTF-8."""
        answer = self.request("GET", f"/__control/secrets/{namespace}/{name}")
        if answer.status != 200:
            return None
        secret = answer.json()
        decoded = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
        secret["data"] = {key: _text_or_bytes(value) for key, value in decoded.items()}
        return secret

    def delete_secret(self, namespace: str, name: str):
        self._control("DELETE", f"secrets/{namespace}/{name}")

    def add_service_account(self, namespace: str, name: str) -> dict:
        """Creates the ServiceAccount if missing (an existing one keeps its uid); returns it."""
        return self._control("PUT", f"serviceaccounts/{namespace}/{name}")

    def delete_service_account(self, namespace: str, name: str):
        """Deletes the ServiceAccount: its tokens stop authenticating, even if it is created again."""
        self._control("DELETE", f"serviceaccounts/{namespace}/{name}")

    def add_namespace(self, name: str, labels: dict | None = None, annotations: dict | None = None) -> dict:
        """Creates the namespace if missing (an existing one keeps its uid; given labels or
        annotations replace its own); returns it."""
        fields = {key: value for key, value in (("labels", labels), ("annotations", annotations)) if value is not None}
        return self._control("PUT", f"namespaces/{name}", fields)

    def get_namespace(self, name: str) -> dict | None:
        answer = self.request("GET", f"/__control/namespaces/{name}")
        return answer.json() if answer.status == 200 else None

    def delete_namespace(self, name: str):
        """Removes the namespace and everything in it at once (its ServiceAccounts' tokens die)."""
        self._control("DELETE", f"namespaces/{name}")

    def cluster_id(self) -> str:
        """kube-system's uid, what tools take for the cluster's id (the config's `clusterId`)."""
        return self.get_namespace("kube-system")["metadata"]["uid"]

    def set_max_token_expiration(self, seconds: int | None) -> dict:
        """TokenRequest grants at most `seconds` (None: no cap), like kube-apiserver's
        --service-account-max-token-expiration; a reset restores the config's value."""
        return self.token_settings(maxExpirationSeconds=seconds)

    def token_settings(self, **changes) -> dict:
        """Reads, or changes, {maxExpirationSeconds, expiryLeewaySeconds}."""
        return self._control("PUT", "token-settings", changes) if changes else self._control("GET", "token-settings")

    def create_token(self, namespace: str, name: str, expiration_seconds: int | None = None,
                     audiences: list[str] | None = None, token: str = ADMIN_TOKEN) -> str:
        """A token for a ServiceAccount through the real TokenRequest API (as `kubectl create
        token`), asked for with `token` (default: the admin's): its RBAC, validation and lifetime
        cap apply, and it shows in `token_requests()`. Raises RuntimeError unless it is granted."""
        spec = {key: value for key, value in (("expirationSeconds", expiration_seconds),
                                              ("audiences", audiences)) if value is not None}
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        answer = self.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", body, token=token)
        if answer.status != 201:
            raise RuntimeError(f"TokenRequest for {namespace}/{name} failed: {answer.status} {answer.body!r}")
        return answer.json()["status"]["token"]

    def revoke_token(self, token: str) -> bool:
        """Makes a token unknown (401 from then on); False if it was not known."""
        return self._control("POST", "revoke-token", {"token": token})["revoked"]

    def token_requests(self, namespace: str | None = None, name: str | None = None) -> list[dict]:
        """The request log's TokenRequests (POST .../serviceaccounts/{name}/token), oldest first."""
        def wanted(entry):
            parts = entry["path"].split("/")  # "", api, v1, namespaces, ns, serviceaccounts, name, token
            return (entry["method"] == "POST" and len(parts) == 8 and parts[5] == "serviceaccounts"
                    and parts[7] == "token" and namespace in (None, parts[4]) and name in (None, parts[6]))
        return [entry for entry in self.requests() if wanted(entry)]

    def add_fault(self, **fault) -> dict:
        """E.g. add_fault(method="PUT", path="/api/v1/namespaces/onap/configmaps/x", action="status", code=503)."""
        return self._control("POST", "faults", fault)

    def faults(self) -> list[dict]:
        """The faults added, with their remaining counts (0: used up)."""
        return self._control("GET", "faults")

    def clear_faults(self):
        self._control("DELETE", "faults")

    def down(self, seconds: float | None = None):
        """Closes the listening port (and open connections); reopens it after `seconds` if given."""
        self._control("POST", "down", {} if seconds is None else {"seconds": seconds})

    def up(self, timeout: float = 5.0):
        """Reopens the port. It is closed, so this is a signal (SIGUSR1) rather than a request."""
        os.kill(self.process.pid, signal.SIGUSR1)
        self.wait_listening(timeout)

    def wait_listening(self, timeout: float = 5.0):
        """Until the port accepts connections again (loopback.StartError after `timeout` seconds)."""
        wait_port(self.host, self.port, self.process, timeout, interval=0.02)

    def requests(self, clear: bool = False) -> list[dict]:
        """The API request log (oldest first); `clear` empties it in the same call."""
        return self._control("GET", "requests?clear=1" if clear else "requests")

    def rotate_token(self, invalidate_old: bool = False) -> str:
        """Kubelet-style rotation of the service-account token; returns the new token."""
        return self._control("POST", "rotate-token", {"invalidateOld": invalidate_old})["token"]

    def add_identity(self, username: str, rules: list | None = None, groups: list | None = None,
                     token: str | None = None, extra: dict | None = None) -> str:
        """A run-time identity; rules are {verbs, resources, namespaces?, resourceNames?}; `extra`
        is its user's extra ({key: [values]}). Returns its token."""
        spec = {"username": username, "rules": rules or [], "groups": groups, "token": token, "extra": extra}
        return self._control("POST", "identities", {k: v for k, v in spec.items() if v is not None})["token"]

    # MARK: - Watches

    def watches(self) -> list[dict]:
        """The open watches, oldest first: {id, path, query, user, resourceVersion, seconds}."""
        return self._control("GET", "watches")["open"]

    def watch_count(self) -> int:
        return len(self.watches())

    def watches_served(self) -> int:
        """How many watches were started since the last reset (refused ones not counted)."""
        return self._control("GET", "watches")["served"]

    def wait_for_watches(self, count: int = 1, path: str = "", timeout: float = 5.0) -> list[dict]:
        """Waits until at least `count` watches (on paths starting with `path`) are open; returns
        them. For a test that must not write before the client under test watches."""
        found: list[dict] = []

        def enough() -> bool:
            found[:] = [watch for watch in self.watches() if watch["path"].startswith(path)]
            return len(found) >= count

        if wait_until(enough, timeout, interval=0.02) is None:
            raise TimeoutError(f"{len(found)} watches of {path or 'any path'} open after {timeout:g} s, "
                               f"wanted {count}")
        return found

    def end_watches(self) -> int:
        """Ends every open watch cleanly (the final chunk), as a server-side timeout does; returns
        how many there were, once they have ended."""
        return self._control("POST", "watches/end")["watches"]

    def drop_watches(self) -> int:
        """Closes every open watch's connection mid-stream (no final chunk), as a crashed server
        or a broken network does."""
        return self._control("POST", "watches/drop")["watches"]

    def watch_error(self, code: int = 500, message: str | None = None) -> int:
        """Sends every open watch an ERROR event (a Status of `code`; 410 is `Expired`, "The
        resourceVersion for the provided watch is too old."), then ends it."""
        spec = {"code": code, **({"message": message} if message is not None else {})}
        return self._control("POST", "watches/error", spec)["watches"]

    def expire_history(self) -> str:
        """Forgets the watch history (an etcd compaction): a watch or Exact list from an older
        resourceVersion gets 410 from now on. Open watches go on. Returns the resourceVersion
        watches may still start from (the current one)."""
        return self._control("POST", "watch-history/expire")["resourceVersion"]

    def watch_settings(self, **changes) -> dict:
        """Reads, or changes, {bookmarkSeconds, historySize, tooOld ("event"|"status"),
        timeoutSeconds (None: 30-60 min), watchList, resourceVersionWaitSeconds}. A reset
        restores the config's values."""
        return self._control("PUT", "watch-settings", changes) if changes else self._control("GET", "watch-settings")
