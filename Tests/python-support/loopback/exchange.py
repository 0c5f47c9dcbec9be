"""HTTP on loopback: one request on a fresh connection (request), the answer (Answer), an answer
read off a raw socket (read_answer, raw_answer) and the chunks of a streamed body (read_chunks)."""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import time
from typing import Iterator


class Answer:
    """An HTTP answer: status code, headers and body (bytes); `text` and `json()` decode it."""

    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Answer({self.status}, {self.body[:300]!r})"


def connect(host: str, port: int, context: ssl.SSLContext | None = None,
            timeout: float = 10.0) -> http.client.HTTPConnection:
    """An HTTPS connection with `context`, else plain HTTP (not yet connected)."""
    if context is not None:
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    return http.client.HTTPConnection(host, port, timeout=timeout)


def request(host: str, port: int, method: str, path: str, body: bytes | str | None = None, *,
            token: str | None = None, headers: dict | None = None, context: ssl.SSLContext | None = None,
            timeout: float = 10.0) -> Answer:
    """One request on a fresh connection, closed afterwards; HTTPS with `context`. A `token` (even
    an empty one) is sent as `Authorization: Bearer <token>`."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    if isinstance(body, str):
        body = body.encode()
    connection = connect(host, port, context, timeout)
    try:
        connection.request(method, path, body=body, headers=all_headers)
        answer = connection.getresponse()
        return Answer(answer.status, answer.headers, answer.read())
    finally:
        connection.close()


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
    """Sends raw bytes to `service` (its `host` and `port`) on a new connection and reads one
    answer (read_answer): for requests http.client will not send, such as a header given twice."""
    with socket.create_connection((service.host, service.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early: read what it said
        return read_answer(sock)


def read_chunks(stream) -> Iterator[tuple[float, bytes]]:
    """The chunks of a chunked body, read from `stream` (an answer's `fp`) as they come: each with
    the moment its bytes arrived (time.perf_counter), until the final, empty chunk. Reads the
    framing itself, since http.client would take a connection closed between chunks for the end:
    a stream cut before its final chunk raises ConnectionError."""
    while size_line := stream.readline():
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return
        chunk = stream.read(size)
        arrived = time.perf_counter()
        if len(chunk) < size or stream.read(2) != b"\r\n":
            break
        yield arrived, chunk
    raise ConnectionError("the stream ended before its final chunk")
