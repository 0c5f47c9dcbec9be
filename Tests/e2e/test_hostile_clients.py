"""Hostile clients (issue 3): many idle connections, garbage, oversized request lines and headers,
lying Content-Length, bad chunking, unknown methods, path tricks and non-UTF-8 bytes get a 4xx or
a closed connection, never a crash and never a hang; a seeded fuzzer sends thousands of generated
and mutated requests, after which the service still answers /healthz and /kubeconfig correctly.

Everything goes to the service on loopback. Every wait is bounded.

Run: KUBECONFIG_SERVICE_BIN=... python3 -m pytest -q Tests/e2e/test_hostile_clients.py
"""

from __future__ import annotations

import collections
import concurrent.futures
import random
import re
import socket
import ssl
import statistics
import time

import yaml

from kubeapi import ADMIN_TOKEN
from support import CONFIGMAP, NAMESPACE

ANSWER_WITHIN = 3.0  # a refused request is answered or closed within this; the idle timeout is longer
STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})")
DOCUMENT_MARKERS = (b"current-context", b"certificate-authority-data", b"token:")


# MARK: - Raw exchanges


class Exchange:
    def __init__(self, outcome: str, data: bytes, elapsed: float):
        self.outcome, self.data, self.elapsed = outcome, data, elapsed  # outcome: answered, closed, timeout

    @property
    def statuses(self) -> list[int]:
        """Status codes of the answers, in order (only those at the start of a message)."""
        found, rest = [], self.data
        while (match := STATUS_LINE.match(rest)) is not None:
            found.append(int(match.group(1)))
            head_end = rest.find(b"\r\n\r\n")
            if head_end < 0:
                break
            length = re.search(rb"(?im)^content-length:\s*([0-9]+)\s*$", rest[:head_end])
            rest = rest[head_end + 4 + (int(length.group(1)) if length else len(rest)):]
        return found

    @property
    def status(self) -> int | None:
        statuses = self.statuses
        return statuses[0] if statuses else None

    def __repr__(self):
        return f"{self.outcome} after {self.elapsed:.2f} s: {self.data[:160]!r}"


def response_complete(data: bytes, head_only: bool) -> bool:
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0 or not STATUS_LINE.match(data):
        return False
    if head_only:
        return True
    status = int(STATUS_LINE.match(data).group(1))
    if status in (204, 304) or 100 <= status < 200:
        return True
    length = re.search(rb"(?im)^content-length:\s*([0-9]+)\s*$", data[:head_end])
    return length is not None and len(data) - head_end - 4 >= int(length.group(1))


def exchange(service, data: bytes, timeout: float = ANSWER_WITHIN, until_close: bool = False,
             half_close: bool = False) -> Exchange:
    """Sends `data` on a new connection; reads the first complete answer (or everything until the
    server closes, with `until_close`), the server's close, or nothing until `timeout`."""
    started = time.monotonic()
    deadline = started + timeout
    received, outcome = b"", "timeout"
    head_only = data.startswith(b"HEAD ")
    with socket.create_connection((service.host, service.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading (an oversized request): read what it answered
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, ConnectionAbortedError):
                outcome = "closed"
                break
            if not chunk:
                outcome = "closed"
                break
            received += chunk
            if not until_close and response_complete(received, head_only):
                outcome = "answered"
                break
    return Exchange(outcome, received, time.monotonic() - started)


def refused_properly(result: Exchange, extra_statuses=()) -> bool:
    """A 4xx (or one of `extra_statuses`) answer, or a close without an answer, and no hang."""
    if result.outcome == "timeout" and not result.statuses:
        return False
    statuses = result.statuses
    if not statuses:
        return result.outcome == "closed"
    return all(400 <= status < 500 or status in extra_statuses for status in statuses)


def healthz_latency(service) -> float:
    started = time.monotonic()
    answer = service.request("GET", "/healthz", timeout=5)
    assert answer.status == 200, answer
    return time.monotonic() - started


def run_probes(service, probes: list[tuple[str, bytes]], extra_statuses=(), until_close=False) -> None:
    """Each probe on a new connection: refused properly, process alive, /healthz still 200."""
    problems = []
    for name, data in probes:
        result = exchange(service, data, until_close=until_close)
        if not refused_properly(result, extra_statuses):
            problems.append(f"{name}: {result!r}")
        if service.process.poll() is not None:
            raise AssertionError(f"the service died (exit code {service.process.returncode}) on probe {name}; "
                                 f"logs:\n{service.logs[-3000:]}")
        try:
            healthz_latency(service)
        except OSError as error:
            raise AssertionError(f"/healthz failed after probe {name}: {error!r}")
    assert not problems, "requests not refused with a 4xx or a close:\n" + "\n".join(problems)


def client_hello() -> bytes:
    """The first flight of a real TLS client, as a misconfigured client would send it."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def started(serve, *args):
    service = serve("--refresh-interval", "0", *args)
    service.wait_ready()
    return service


# MARK: - Many connections


def test_healthz_answers_within_a_second_with_300_idle_connections(serve, api):
    service = started(serve)
    idle = []
    try:
        for index in range(300):
            sock = socket.create_connection((service.host, service.port), timeout=5)
            if index % 2:  # half of them also start a request and stall (slowloris)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            idle.append(sock)
        latencies = [healthz_latency(service) for _ in range(20)]
        answer = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN, timeout=5)
    finally:
        for sock in idle:
            sock.close()
    print(f"\nMEASURE /healthz with 300 idle connections: median {statistics.median(latencies) * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 1.0, f"/healthz took up to {max(latencies):.2f} s with 300 idle connections"
    assert answer.status == 200


def test_stalled_connections_are_closed_by_the_server(serve, api):
    """Idle, half-sent headers, a body shorter than its Content-Length, an unfinished chunk: the
    server closes each after its idle timeout instead of holding it forever."""
    service = started(serve)
    stalls = {
        "idle": b"",
        "partial request line": b"GET /kubecon",
        "headers never end": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\r\n",
        "short body": b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":",
        "unfinished chunk": b"POST /sites/central HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
    }
    sockets = {}
    for name, data in stalls.items():
        sock = socket.create_connection((service.host, service.port), timeout=5)
        if data:
            sock.sendall(data)
        sock.setblocking(False)
        sockets[name] = sock
    started_at = time.monotonic()
    closed_after = {}
    try:
        while len(closed_after) < len(sockets) and time.monotonic() - started_at < 45:
            for name, sock in sockets.items():
                if name in closed_after:
                    continue
                try:
                    if sock.recv(65536) == b"":
                        closed_after[name] = time.monotonic() - started_at
                except BlockingIOError:
                    pass
                except OSError:
                    closed_after[name] = time.monotonic() - started_at
            time.sleep(0.25)
            assert healthz_latency(service) < 1.0
    finally:
        for sock in sockets.values():
            sock.close()
    print("\nMEASURE stalled connections closed by the server after: "
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in closed_after.items()))
    assert set(closed_after) == set(stalls), f"still open after 45 s: {set(stalls) - set(closed_after)}"
    assert service.process.poll() is None


# MARK: - Malformed requests, by kind


def test_garbage_is_refused(serve, api):
    rng = random.Random(3)
    service = started(serve)
    run_probes(service, [
        ("random bytes", rng.randbytes(4096)),
        ("every byte value", bytes(range(256)) * 4),
        ("binary then CRLF", rng.randbytes(200) + b"\r\n\r\n"),
        ("no version", b"GET /healthz\r\n\r\n"),
        ("one word", b"HELLO\r\n\r\n"),
        ("spaces", b"   \r\n\r\n"),
        ("space before colon", b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"),
        ("header without colon", b"GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n"),
        ("missing Host", b"GET /healthz HTTP/1.1\r\n\r\n"),
        ("TLS ClientHello on the HTTP port", client_hello()),
    ])


def test_raw_nul_bytes_never_bypass_routing_or_authorisation(serve, api):
    """libmicrohttpd 0.9.75 hands the request line and header values over as C strings, so a raw
    NUL ends them there and the service cannot see it (docs/FAULTS.md, "Hostile and slow clients"). What
    must hold: such a request is refused, closed, or handled as exactly the text before the NUL,
    with the same authorisation; a line of nothing but NULs is closed within the connection
    timeout; and nothing crashes."""
    service = started(serve, "--connection-timeout", "2")
    truncated = [
        ("NUL inside the request line", b"GET /healthz\0 HTTP/1.1\r\nHost: x\r\n\r\n", (200,)),
        ("NUL inside a header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", (200,)),
        ("NUL after the document path", b"GET /kubeconfig\0.yaml HTTP/1.1\r\nHost: x\r\n\r\n", (401,)),
        ("NUL then a dot-dot", b"GET /healthz\0/../kubeconfig HTTP/1.1\r\nHost: x\r\n\r\n", (200,)),
    ]
    for name, data, as_truncated in truncated:
        result = exchange(service, data)
        assert refused_properly(result) or result.statuses == list(as_truncated), f"{name}: {result!r}"
        assert not any(marker in result.data for marker in DOCUMENT_MARKERS), name
    only_nul = exchange(service, b"\0" * 1024 + b"\r\n\r\n", timeout=ANSWER_WITHIN + 1)
    assert refused_properly(only_nul), only_nul
    assert service.process.poll() is None
    healthz_latency(service)


def test_unsupported_http_versions_are_refused(serve, api):
    """505 is the HTTP answer for a major version the server does not speak (RFC 9110 15.6.6)."""
    service = started(serve)
    run_probes(service, [
        ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n"),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("HTTP/1.x", b"GET /healthz HTTP/1.x\r\nHost: x\r\n\r\n"),
        ("lowercase version", b"GET /healthz http/1.1\r\nHost: x\r\n\r\n"),
    ], extra_statuses=(505,))


def test_oversized_request_lines_headers_and_bodies_are_refused(serve, api):
    service = started(serve)
    run_probes(service, [
        ("100 KiB request line", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("100 KiB query", b"GET /healthz?" + b"a=b&" * 25_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("100 KiB header value", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + b"b" * 100_000 + b"\r\n\r\n"),
        ("100 KiB header name", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X" * 100_000 + b": y\r\n\r\n"),
        ("5000 headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(5000)) + b"\r\n"),
        ("100 KiB Authorization", b"GET /kubeconfig HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"t" * 100_000 + b"\r\n\r\n"),
        ("100 KiB body", b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"a" * 100_000),
        ("128 KiB chunked body", b"POST /sites/central HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         + (b"8000\r\n" + b"a" * 0x8000 + b"\r\n") * 4 + b"0\r\n\r\n"),
        ("Content-Length 10^20", b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000000000\r\n\r\n"),
    ])


def test_lying_content_lengths_are_refused(serve, api):
    service = started(serve)
    run_probes(service, [
        ("negative", b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
        ("not a number", b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
        ("list of values", b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 5\r\n\r\n"),
        ("two different values", b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("hex value", b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n"),
        ("plus sign", b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"),
        ("shorter than the body, rest is garbage",
         b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GARBAGE\x00\xff\r\n\r\n"),
    ])


def test_content_length_with_transfer_encoding_is_not_smuggled(serve, api):
    """Both framings in one request (RFC 9112 6.1): refuse it, or answer it and close the
    connection, so that bytes after it are never read as a second request."""
    service = started(serve)
    smuggled = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
    result = exchange(service, smuggled, until_close=True)
    statuses = result.statuses
    assert statuses, result
    assert (400 <= statuses[0] < 500) or (len(statuses) == 1 and result.outcome == "closed"), \
        f"answers {statuses}, connection {result.outcome}: the bytes after the request were read as another request"


def test_incomplete_requests_are_closed_when_the_client_stops_sending(serve, api):
    """The client sends part of a request, then shuts its side down (EOF): the request can never
    complete. libmicrohttpd 0.9.75 does not act on the EOF itself, so what bounds such a
    connection is `--connection-timeout`: with 2 s, every one is closed within ANSWER_WITHIN.
    Five of each, at once, since one alone may close early by luck."""
    service = started(serve, "--connection-timeout", "2")
    incomplete = {
        "body shorter than Content-Length": b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{}",
        "unfinished chunk": b"POST /sites/central HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
        "unfinished headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
    }
    attempts = [(name, data) for name, data in incomplete.items() for _ in range(5)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        results = list(pool.map(lambda attempt: exchange(service, attempt[1], half_close=True), attempts))
    held = collections.Counter(name for (name, _), result in zip(attempts, results) if not refused_properly(result))
    assert not held, f"still open {ANSWER_WITHIN:g} s after the client's EOF (of 5 each): {dict(held)}"
    assert service.process.poll() is None


def test_bad_chunking_is_refused(serve, api):
    service = started(serve)
    head = b"POST /sites/central HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    run_probes(service, [
        ("size not hex", head + b"zz\r\nab\r\n0\r\n\r\n"),
        ("size overflows", head + b"ffffffffffffffffffff\r\nab\r\n0\r\n\r\n"),
        ("negative size", head + b"-5\r\nabcde\r\n0\r\n\r\n"),
        ("data longer than size", head + b"2\r\n{}XX\r\n0\r\n\r\n"),
        ("no size line", head + b"\r\n\r\n"),
        ("bad extension", head + b"2;\x00\xff\r\n{}\r\n0\r\n\r\n"),
        ("unknown coding", b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
        ("chunked not last", b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
    ])


def test_unknown_methods_are_refused(serve, api):
    service = started(serve)
    run_probes(service, [
        (method.decode(errors="replace")[:20], method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        for method, path in [
            (b"FOO", b"/healthz"), (b"BREW", b"/kubeconfig"), (b"get", b"/healthz"), (b"PROPFIND", b"/"),
            (b"TRACE", b"/healthz"), (b"TRACE", b"/kubeconfig"), (b"CONNECT", b"127.0.0.1:443"),
            (b"DELETE", b"/kubeconfig"), (b"PUT", b"/sites/central"), (b"PATCH", b"/status"),
            (b"M" * 4000, b"/healthz"), (b"G\x00T", b"/healthz"),
        ]
    ])


def test_path_tricks_do_not_reach_the_document(serve, api):
    """With --auth none, an alias of /kubeconfig would hand out the document: every trick must be
    a 4xx, and none may carry the document."""
    service = started(serve, "--auth", "none")
    tricks = [b"/../kubeconfig", b"/%2e%2e/kubeconfig", b"/%2E%2E/kubeconfig", b"//kubeconfig", b"/./kubeconfig",
              b"/kubeconfig/", b"/kubeconfig/.", b"/kubeconfig/..", b"/sites/../kubeconfig", b"/healthz/../kubeconfig",
              b"/%2fkubeconfig", b"/kubeconfig%2f", b"/KUBECONFIG", b"/kubeconfig;x", b"/kubeconfig%20",
              b"/kubeconfig%00", b"/kubeconfig%00.yaml", b"/healthz%00/../kubeconfig", b"/%6bubeconfig/..",
              b"/kubeconfig%0d%0aX-Injected:%201", b"/sites/%2e%2e", b"/sites/central/../../kubeconfig",
              b"/.%2e/kubeconfig", b"/..;/kubeconfig", b"\\kubeconfig", b"/kubeconfig\\"]
    problems = []
    for path in tricks:
        result = exchange(service, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        leaked = any(marker in result.data for marker in DOCUMENT_MARKERS)
        if leaked or not refused_properly(result):
            problems.append(f"{path!r}: {result.status} {'with the document' if leaked else ''}")
        if b"X-Injected" in result.data.split(b"\r\n\r\n")[0]:
            problems.append(f"{path!r}: header injected into the answer")
    assert service.process.poll() is None
    assert not problems, "path tricks answered other than with a 4xx:\n" + "\n".join(problems)
    assert service.request("GET", "/kubeconfig").status == 200  # the real path still works


def test_non_utf8_bytes_are_refused(serve, api):
    service = started(serve)
    run_probes(service, [
        ("path bytes", b"GET /\xff\xfe\x80 HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("percent-encoded path bytes", b"GET /%ff%fe%80 HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("site name bytes", b"POST /sites/\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("method bytes", b"G\xffT /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("query bytes", b"GET /kubeconfig?site=%ff%00 HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("header value bytes", b"GET /kubeconfig HTTP/1.1\r\nHost: x\r\nAccept: \xff\xfe\r\n\r\n"),
        ("Host bytes", b"GET /status HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n"),
        ("Authorization bytes", b"GET /kubeconfig HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\x80\r\n\r\n"),
        ("body bytes", b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n\xff\xfe\x80\x81"),
        ("overlong UTF-8 slash", b"GET /%c0%af..%c0%afkubeconfig HTTP/1.1\r\nHost: x\r\n\r\n"),
    ])


# MARK: - Fuzzing


FUZZ_SEED = 20261126
FUZZ_COUNT = 3000
FUZZ_SECONDS = 60.0
FUZZ_METHODS = [b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE", b"FOO", b"get"]
FUZZ_PATHS = [b"/healthz", b"/livez", b"/readyz", b"/kubeconfig", b"/kubeconfig?site=central", b"/kubeconfig?site=",
              b"/status", b"/metrics", b"/sites/central", b"/sites/edge", b"/sites/", b"/", b"/../kubeconfig",
              b"/%2e%2e/status", b"//kubeconfig", b"/sites/%ff", b"/kubeconfig?site=%00"]
FUZZ_BODIES = [b"", b"{}", b'{"site":"central"}', b"[]", b"null", b"not json", b'{"a":' * 50, b"\xff\xfe"]


def fuzz_request(rng: random.Random) -> bytes:
    """A plausible request, then zero to four mutations."""
    method = rng.choice(FUZZ_METHODS)
    path = rng.choice(FUZZ_PATHS)
    version = rng.choice([b"HTTP/1.1"] * 8 + [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b""])
    headers = [b"Host: 127.0.0.1"]
    if rng.random() < 0.3:
        headers.append(b"Accept: " + rng.choice([b"application/json", b"application/yaml", b"*/*;q=0.1, application/json"]))
    if rng.random() < 0.1:
        headers.append(b'If-None-Match: "' + rng.randbytes(6).hex().encode() + b'"')
    if rng.random() < 0.2:
        headers.append(b"Connection: " + rng.choice([b"close", b"keep-alive", b"upgrade"]))
    body = b""
    if method in (b"POST", b"PUT", b"PATCH") or rng.random() < 0.1:
        body = rng.choice(FUZZ_BODIES + [rng.randbytes(rng.randrange(1, 200))])
        if rng.random() < 0.3:
            body = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" if body else b"0\r\n\r\n"
            headers.append(b"Transfer-Encoding: chunked")
        else:
            headers.append(b"Content-Length: %d" % len(body))
    request = method + b" " + path + (b" " + version if version else b"") + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 4])):
        request = mutate(rng, request)
    return request


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    kind = rng.randrange(10)
    position = rng.randrange(len(data) + 1)
    if kind == 0 and data:  # flip bytes
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:  # insert random bytes
        data[position:position] = rng.randbytes(rng.randrange(1, 40))
    elif kind == 2:  # delete a slice
        del data[position:position + rng.randrange(1, 20)]
    elif kind == 3:  # duplicate a slice
        data[position:position] = data[position:position + rng.randrange(1, 60)]
    elif kind == 4:  # bare LFs or bare CRs
        data = bytearray(bytes(data).replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\r\n"])))
    elif kind == 5:  # an extra header line, maybe huge or binary
        end = bytes(data).find(b"\r\n")
        value = rng.choice([rng.randbytes(rng.randrange(1, 50)), b"x" * rng.randrange(1000, 40000), b""])
        name = rng.choice([b"X-Fuzz", b"Content-Length", b"Transfer-Encoding", b"Expect", b"Host", b"", b"X\xff"])
        if end >= 0:
            data[end + 2:end + 2] = name + b": " + value + b"\r\n"
    elif kind == 6:  # a lying Content-Length
        text = re.sub(rb"Content-Length: [0-9]+", b"Content-Length: " + rng.choice(
            [b"-1", b"999999999999", b"0", str(rng.randrange(0, 300)).encode(), b"1e3", b""]), bytes(data))
        data = bytearray(text)
    elif kind == 7:  # truncated
        del data[position:]
    elif kind == 8:  # pipelined copies
        data = data * rng.randrange(2, 4)
    else:  # percent-encoding tricks in the path
        data = bytearray(bytes(data).replace(b"/", rng.choice([b"/%2e%2e/", b"%2f", b"//", b"/%00", b"/%ff"]), 1))
    return bytes(data)


def test_fuzzed_requests_never_break_the_service(serve, api):
    service = started(serve)
    rng = random.Random(FUZZ_SEED)
    requests = [fuzz_request(rng) for _ in range(FUZZ_COUNT)]
    statuses, outcomes, unexpected = collections.Counter(), collections.Counter(), []
    deadline = time.monotonic() + FUZZ_SECONDS

    def send(data):
        if time.monotonic() > deadline:
            return None
        try:
            return exchange(service, data, timeout=0.4)
        except OSError as error:
            return Exchange(f"error {type(error).__name__}", b"", 0.0)

    started_at = time.monotonic()
    sent = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        for data, result in zip(requests, pool.map(send, requests)):
            if result is None:
                continue
            sent += 1
            outcomes[result.outcome] += 1
            for status in result.statuses:
                statuses[status] += 1
                if status >= 500 and status != 505:
                    unexpected.append((status, data[:120]))
            if service.process.poll() is not None:
                break
    elapsed = time.monotonic() - started_at
    print(f"\nMEASURE fuzz: {sent} requests in {elapsed:.1f} s; outcomes {dict(outcomes)}; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert service.process.poll() is None, f"the service died during the fuzz; logs:\n{service.logs[-3000:]}"
    assert sent >= FUZZ_COUNT * 0.9, f"only {sent} fuzzed requests went out in {FUZZ_SECONDS} s"
    assert not [outcome for outcome in outcomes if outcome.startswith("error")], outcomes
    assert not unexpected, f"{len(unexpected)} server errors, e.g. {unexpected[:5]}"
    assert statuses[200] > 0 and statuses[400] > 0, statuses  # the fuzz reached both the routes and the parser

    # Still healthy, and still serving the published document.
    assert healthz_latency(service) < 1.0
    answer = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN)
    assert answer.status == 200, answer
    stored = api.get_configmap(NAMESPACE, CONFIGMAP)["data"]["kubeconfig"]
    assert yaml.safe_load(answer.body) == yaml.safe_load(stored)
    assert service.request("POST", "/sites/central", token=ADMIN_TOKEN).status == 200
