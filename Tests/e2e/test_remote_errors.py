"""What the service says about a remote site's failures: only a remote's parsed Kubernetes
Status.message is quoted, never with a credential presented to it, in whatever encoding the remote
echoes it; and connections that fail are named by their cause in an operator's words, with no
library internals or build paths.

The echo remotes here are small HTTPS servers that refuse every request with a Kubernetes Status
echoing the bearer token they were sent, one encoding each; the TLS failures are a plain-HTTP
port (answering as nginx does), an SSH-like port, and HTTPS servers with certificates for another name, expired, or from
another CA. The certificates are made with openssl (the site's CA is the one the API test
server's `certificates` module makes).

Texts that may hold a credential are checked with encodings_found() and never shown whole.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import secrets
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from kubeapi import ADMIN_TOKEN
from kubeapi.certificates import ensure_certificates

from loopback import wait_until
from redaction import load_json, redact
from managed import jwt_shaped, outputs, put_json

# MARK: - Encodings a remote may echo a credential in


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def json_escaped(text: str) -> str:
    """A JSON string's inside as a PHP-like encoder might write it: `/` as `\\/`, every other
    character as `\\uXXXX` (hex digits in either case)."""
    out = []
    for index, char in enumerate(text):
        if char == "/":
            out.append("\\/")
        elif index % 2 == 0 or char in '"\\':
            digits = f"{ord(char):04x}"
            out.append("\\u" + (digits.upper() if index % 4 == 0 else digits))
        else:
            out.append(char)
    return "".join(out)


def wrapped(text: str) -> str:
    return "\n".join(text[i:i + 76] for i in range(0, len(text), 76))


ENCODINGS = {
    "raw": lambda t: t,
    "base64 of the Authorization header": lambda t: b64(f"Bearer {t}".encode()),
    "base64url, unpadded": lambda t: b64url(t.encode()),
    "base64 after one byte": lambda t: b64(b"\x00" + t.encode()),
    "base64 after two bytes": lambda t: b64(b"\x00\x01" + t.encode()),
    "base64 of a JSON document": lambda t: b64(json.dumps({"seen": {"Authorization": f"Bearer {t}"}}).encode()),
    "base64, wrapped at 76 columns": lambda t: wrapped(b64(json.dumps({"headers": [f"Bearer {t}"] * 2}).encode())),
    "base64, percent-encoded": lambda t: urllib.parse.quote(b64(b"Bearer " + t.encode()), safe=""),
    "percent-encoded, every byte, lowercase": lambda t: "".join(f"%{byte:02x}" for byte in t.encode()),
    "percent-encoded, partly, mixed case": lambda t: "".join(
        chr(byte) if i % 3 == 2 and byte != ord("%") else f"%{byte:02X}" if i % 2 else f"%{byte:02x}"
        for i, byte in enumerate(t.encode())),
    "JSON-escaped": json_escaped,
    "hex, uppercase": lambda t: t.encode().hex().upper(),
}


def random_token(index: int) -> str:
    """JWT-shaped, or (every other one) any printable ASCII but space: `/`, `%`, `"` and `\\` too."""
    if index % 2 == 0:
        return jwt_shaped(f"echo-{index}")
    alphabet = [chr(code) for code in range(33, 127)]
    return "".join(secrets.choice(alphabet) for _ in range(48))


# MARK: - Finding a credential in a text, independently of the service's own redaction


def _unescaped(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)),
                  text.replace("\\/", "/").replace('\\"', '"').replace("\\n", "\n")).replace("\\\\", "\\")


def _views(text: str) -> list[str]:
    views = {text, urllib.parse.unquote(text), _unescaped(text), urllib.parse.unquote(_unescaped(text)),
             _unescaped(urllib.parse.unquote(text))}
    return sorted(views | {view.replace("\n", "").replace("\r", "") for view in views})


def _base64_cores(data: bytes) -> list[str]:
    """The base64 characters that encode nothing but `data`, after 0, 1 or 2 other bytes."""
    cores = []
    for offset in range(3):
        encoded = b64(b"\x00" * offset + data)
        core = encoded[(8 * offset + 5) // 6:8 * (offset + len(data)) // 6]
        cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


def encodings_found(text: str, token: str) -> list[str]:
    """The forms of `token` in `text` (raw, base64 either alphabet at any alignment, hex in any
    case; base64 and hex also of the token as a JSON string holds it), looked for also with
    percent-encoding and JSON escapes undone."""
    found = set()
    escaped = json.dumps(token)[1:-1]
    forms = {token.encode(), escaped.encode(), escaped.replace("/", "\\/").encode()}
    for view in _views(text):
        if token in view:
            found.add("raw")
        for data in forms:
            if data.hex() in view.lower():
                found.add("hex")
            if any(core in view for core in _base64_cores(data)):
                found.add("base64")
    return sorted(found)


def test_the_finder_finds_every_echo_and_nothing_else():
    """The oracle the tests below rely on: it must see each encoding, or they could not fail."""
    for index in range(6):
        token = random_token(index)
        for name, encode in ENCODINGS.items():
            assert encodings_found(f"you sent {encode(token)}.", token), f"{name} of token {index} not found"
            assert not encodings_found(f"you sent {encode(random_token(index))}.", token), name


# MARK: - The remotes


def _openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


LEAF_CONFIG = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = remote
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {names}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


class Certificates:
    """The site's CA (made by kubeapi.certificates, with a certificate for 127.0.0.1), and
    certificates that fail against it: for another name, expired, and from another CA of the same
    name (as every kubeadm cluster's CA is `CN=kubernetes`)."""

    def __init__(self, directory: Path):
        self.directory = directory
        site, other = directory / "site", directory / "other-ca"
        for state in (site, other):
            state.mkdir(parents=True, exist_ok=True)
            ensure_certificates(state)
        self.ca = site / "ca.crt"
        self.valid = (site / "server.crt", site / "server.key")
        self.other_ca = (other / "server.crt", other / "server.key")
        self.other_name = self._leaf("other-name", "DNS:other.example", days=30)
        self.expired = self._leaf("expired", "IP:127.0.0.1", days=-1)

    def _leaf(self, name: str, names: str, days: int) -> tuple[Path, Path]:
        crt, key = self.directory / f"{name}.crt", self.directory / f"{name}.key"
        with tempfile.TemporaryDirectory() as tmp:
            config, csr = Path(tmp) / "leaf.cnf", Path(tmp) / "leaf.csr"
            config.write_text(LEAF_CONFIG.format(names=names))
            _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", key, "-out", csr, "-config", config)
            # -days -1: valid from now until a day ago, which is expired for every check.
            _openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca.parent / "ca.key",
                     "-set_serial", "0x" + secrets.token_hex(15), "-days", days, "-sha256", "-extfile", config,
                     "-extensions", "leaf", "-out", crt)
        return crt, key

    @property
    def ca_data(self) -> str:
        return b64(self.ca.read_bytes())


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # a client that gives up on the certificate is what these tests are about


class EchoRemote:
    """HTTPS at 127.0.0.1 that refuses every request with a Kubernetes Status echoing the bearer
    token it was sent, in one encoding: 403, except discovery (`GET /api`), which answers 500 so
    that a probe (after SelfSubjectReview's 403) quotes it. The first `grants` TokenRequests are
    granted instead: a token `lifetime` seconds long, which the service soon renews. With
    `not_a_status` the body is JSON without `kind: Status`; `certificate` replaces the one for
    127.0.0.1 by the site's CA."""

    def __init__(self, certificates: Certificates, encode, grants: int = 0, lifetime: int = 10,
                 not_a_status: bool = False, certificate: tuple[Path, Path] | None = None):
        self.encode, self.grants, self.lifetime, self.not_a_status = encode, grants, lifetime, not_a_status
        self.issued: list[str] = []
        self.presented: list[str] = []
        remote = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                remote._answer(self)

            def do_POST(self):
                remote._answer(self)

        self.server = _Server(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*map(str, certificate or certificates.valid))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def _answer(self, request: http.server.BaseHTTPRequestHandler):
        length = int(request.headers.get("Content-Length") or 0)
        if length:
            request.rfile.read(length)
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        self.presented.append(token)
        if request.command == "POST" and request.path.endswith("/token") and self.grants > 0:
            self.grants -= 1
            issued = jwt_shaped(f"issued-{len(self.issued)}")
            self.issued.append(issued)
            expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + self.lifetime))
            self._send(request, 201, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                      "status": {"token": issued, "expirationTimestamp": expires}})
            return
        code = 500 if request.path == "/api" else 403
        said = f"you presented {self.encode(token)} here"
        if self.not_a_status:
            self._send(request, code, {"message": said, "reason": "Forbidden"})
        else:
            self._send(request, code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                       "message": said, "reason": "Forbidden", "code": code})

    @staticmethod
    def _send(request, code: int, body: dict):
        data = json.dumps(body).encode()
        request.send_response(code)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class RawServer:
    """A TCP server at 127.0.0.1 that does not speak TLS: `greet` is called with each connection
    it accepts, on a thread of its own."""

    def __init__(self, greet):
        self.greet = greet
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.connections: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            self.connections.append(connection)
            threading.Thread(target=self._greet, args=(connection,), daemon=True).start()

    def _greet(self, connection: socket.socket):
        try:
            self.greet(connection)
        except OSError:
            pass

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.listener.getsockname()[1]}"

    def stop(self):
        self.stopped.set()
        for connection in self.connections:
            connection.close()
        self.listener.close()


def plain_http(connection: socket.socket):
    """As nginx answers bytes that are no request line (a TLS client hello): 400, then close."""
    connection.recv(4096)
    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 11\r\n"
                       b"Connection: close\r\n\r\nBad Request")
    connection.close()


def ssh_banner(connection: socket.socket):
    """As sshd does: its banner at once, then it waits for the client's."""
    connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")


@pytest.fixture
def certificates(tmp_path) -> Certificates:
    return Certificates(tmp_path / "certificates")


@pytest.fixture
def started():
    """Starts test servers (`started(EchoRemote(...))`); stopped after the test."""
    servers = []

    def start(server):
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


# MARK: - What the service shows


def shape(text: str) -> str:
    """`text` with every long run that could be an encoded credential cut out: safe to show."""
    return redact(re.sub(r"[A-Za-z0-9+/=_%\\-]{16,}", "<...>", text))


def listed(service) -> dict[str, dict]:
    """GET /sites by name (safe to show: redact() hides JWT-shaped tokens)."""
    answer = service.request("GET", "/sites", token=ADMIN_TOKEN)
    assert answer.status == 200, redact(answer.text)
    return {entry["name"]: entry for entry in load_json(answer.body)["sites"]}


def health_errors(service, names) -> dict[str, dict | None]:
    shown = listed(service)
    return {name: ((shown.get(name) or {}).get("health") or {}).get("error") for name in names}


def assert_in_no_encoding(credentials: dict[str, str], texts: dict[str, str]):
    """No credential (label: value) in any text (where: text), in any encoding; failures name the
    label, the place and the encodings found, never the credential."""
    for where, text in texts.items():
        for label, credential in credentials.items():
            found = encodings_found(text, credential)
            assert not found, f"{label} is in {where}, {' and '.join(found)}"


def static_site(remote, certificates: Certificates, token: str) -> dict:
    return {"server": remote.url, "certificateAuthorityData": certificates.ca_data, "token": token}


def managed_site(remote, certificates: Certificates, bootstrap: str) -> dict:
    return {"server": remote.url, "certificateAuthorityData": certificates.ca_data, "namespace": "apps",
            "bootstrapToken": bootstrap,
            "tokenRequest": {"serviceAccount": "deployer", "namespace": "apps", "expirationSeconds": 3600}}


# MARK: - A credential echoed back


def test_a_static_sites_token_echoed_in_any_encoding_shows_in_no_encoding_in_the_site_list_or_the_log(
        services, certificates, started):
    service = services()
    tokens: dict[str, str] = {}
    for index, (encoding, encode) in enumerate(ENCODINGS.items()):
        remote = started(EchoRemote(certificates, encode))
        name, token = f"echo-{index}", random_token(index)
        tokens[name] = token
        answer = put_json(service, name, static_site(remote, certificates, token))
        assert answer.status == 201, f"{encoding}: {answer.status} {redact(answer.text)[:300]}"
    plain = started(EchoRemote(certificates, ENCODINGS["base64 of the Authorization header"], not_a_status=True))
    tokens["not-a-status"] = random_token(0)
    assert put_json(service, "not-a-status", static_site(plain, certificates, tokens["not-a-status"])).status == 201

    assert wait_until(lambda: all(health_errors(service, tokens).values()), timeout=20) is not None, \
        f"not every site was probed: {sorted(name for name, error in health_errors(service, tokens).items() if not error)}"
    shown = health_errors(service, tokens)
    for index, encoding in enumerate(ENCODINGS):
        error = shown[f"echo-{index}"]
        # The remote's Status was quoted (or this test could not fail), without the token.
        assert error["code"] == "SiteProbeFailed", f"{encoding}: {error['code']}"
        quoted = error["message"].endswith(": you presented <redacted> here")
        assert quoted, f"{encoding}: {shape(error['message'])}"
    said = f"you presented {ENCODINGS['base64 of the Authorization header'](tokens['not-a-status'])} here"
    size = len(json.dumps({"message": said, "reason": "Forbidden"}).encode())
    described = shown["not-a-status"]["message"] == \
        f"{plain.url} answered HTTP 500 with a body that is not a Kubernetes Status ({size} bytes)"
    assert described, shape(shown["not-a-status"]["message"])
    assert_in_no_encoding({f"the token of site {name}": token for name, token in tokens.items()}, outputs(service))


def test_a_managed_sites_bootstrap_token_echoed_in_any_encoding_shows_in_no_encoding_in_the_answer_or_the_log(
        services, certificates, started):
    service = services()
    bootstraps: dict[str, str] = {}
    answers: dict[str, str] = {}
    for index, (encoding, encode) in enumerate(ENCODINGS.items()):
        remote = started(EchoRemote(certificates, encode))
        name, bootstrap = f"managed-{index}", random_token(index)
        bootstraps[name] = bootstrap
        answer = put_json(service, name, managed_site(remote, certificates, bootstrap))
        answers[f"the answer to PUT /sites/{name}"] = answer.text
        presented = remote.presented == [bootstrap]
        assert presented, f"{encoding}: the remote was not asked once with the bootstrap token"
        assert answer.status == 502, f"{encoding}: {answer.status}"
        error = load_json(answer.body)["error"]
        assert error["code"] == "TokenRequestForbidden", f"{encoding}: {error['code']}"
        quoted = "refused its bootstrap credential: forbidden: you presented <redacted> here; it needs create" in \
            error["message"]
        assert quoted, f"{encoding}: {shape(error['message'])}"
    assert_in_no_encoding({f"the bootstrap token of {name}": token for name, token in bootstraps.items()},
                          {**answers, "logs": service.logs})


def test_a_renewal_refused_with_an_echo_shows_no_token_in_any_encoding_in_renewal_errors_or_the_log(
        services, certificates, started):
    """The first TokenRequest is granted a 10 s token; its renewal (at 7.5 to 8 s) is refused with
    the bootstrap token echoed, and the probes with the issued token refused with it echoed."""
    service = services()
    sites: dict[str, tuple[str, EchoRemote, str]] = {}
    for index, encoding in enumerate(["raw", "base64 of a JSON document", "percent-encoded, partly, mixed case",
                                      "JSON-escaped", "hex, uppercase"]):
        remote = started(EchoRemote(certificates, ENCODINGS[encoding], grants=1, lifetime=10))
        name, bootstrap = f"renewing-{index}", random_token(index)
        answer = put_json(service, name, managed_site(remote, certificates, bootstrap))
        assert answer.status == 201, f"{encoding}: {answer.status} {redact(answer.text)[:300]}"
        sites[name] = (encoding, remote, bootstrap)

    def renewal_errors():
        shown = listed(service)
        return {name: (shown.get(name) or {}).get("renewalError") for name in sites}
    assert wait_until(lambda: all(renewal_errors().values()), timeout=20) is not None, \
        f"no renewal error: {sorted(name for name, error in renewal_errors().items() if not error)}"
    for name, error in renewal_errors().items():
        encoding = sites[name][0]
        assert error["code"] == "TokenRequestForbidden", f"{encoding}: {error['code']}"
        quoted = "forbidden: you presented <redacted> here" in error["message"]
        assert quoted, f"{encoding}: {shape(error['message'])}"
    credentials = {}
    for name, (encoding, remote, bootstrap) in sites.items():
        assert len(remote.issued) == 1 and remote.presented.count(bootstrap) >= 2, f"{encoding}: {len(remote.issued)}"
        credentials[f"the bootstrap token of {name}"] = bootstrap
        credentials[f"the token issued for {name}"] = remote.issued[0]
    assert_in_no_encoding(credentials, outputs(service))


# MARK: - Connections that fail


INTERNALS = [".build", ".swift:", ".cc:", "BoringSSL", "NIOSSL", "error:1", "Error:", "IOError", "NIOConnectionError",
             "HTTPClientError", "handshakeFailed"]


def test_a_connection_that_fails_is_named_by_its_cause_in_an_operators_words(services, certificates, started):
    service = services()
    servers = {
        "plain-http": (started(RawServer(plain_http)), "SiteNotTLS",
                       r"{url} does not speak TLS: what answers on that port is not an HTTPS server "
                       r"\(a plain-HTTP or SSH port\?\)"),
        "ssh": (started(RawServer(ssh_banner)), "SiteNotTLS", r"{url} does not speak TLS: .*"),
        "other-name": (started(EchoRemote(certificates, str, certificate=certificates.other_name)),
                       "SiteTLSVerificationFailed",
                       r'TLS with {url} failed: its certificate is not valid for the name "127\.0\.0\.1" '
                       r'\(it is for "other\.example"\)'),
        "expired": (started(EchoRemote(certificates, str, certificate=certificates.expired)),
                    "SiteTLSVerificationFailed",
                    r"TLS with {url} failed: its certificate expired on \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ"),
        "other-ca": (started(EchoRemote(certificates, str, certificate=certificates.other_ca)),
                     "SiteTLSVerificationFailed",
                     r"TLS with {url} failed: its certificate is not signed by the site's CA but by another CA of "
                     r'the same name "CN=kube-api-test-server-ca"'),
    }
    for name, (server, _, _) in servers.items():
        answer = put_json(service, name, static_site(server, certificates, f"static-token-for-{name}"))
        assert answer.status == 201, f"{name}: {answer.status} {answer.text[:300]}"
    assert wait_until(lambda: all(health_errors(service, servers).values()), timeout=20) is not None, \
        f"not every site was probed: {health_errors(service, servers)}"

    shown = health_errors(service, servers)
    for name, (server, code, pattern) in servers.items():
        error = shown[name]
        print(f"{name}: {error['code']}: {error['message']}")
        assert error["code"] == code, f"{name}: {error}"
        assert re.fullmatch(pattern.format(url=re.escape(server.url)), error["message"]), f"{name}: {error['message']}"
        for internal in INTERNALS:
            assert internal not in error["message"], f"{name}: {internal} in {error['message']}"
        # No path, rooted or not: the server's URL is the only place a slash may appear.
        assert "/" not in error["message"].replace(server.url, ""), f"{name}: {error['message']}"
    for line in service.lines:
        for internal in INTERNALS:
            assert internal not in line, f"{internal} in a log line: {line[:400]}"
