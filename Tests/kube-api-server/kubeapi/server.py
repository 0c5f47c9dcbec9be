"""HTTP: the request handler (API requests authenticated by client certificate or bearer token,
faulted, routed and logged; control calls handed to control.py), the threaded TLS server and the
listener that /__control/down closes.

A watch is the one streaming answer: 200 with `Transfer-Encoding: chunked`, one JSON event per
line, each line its own chunk, sent from the connection's thread while the watch runs
(watches.py); it ends with the final chunk (the connection stays usable), or with the connection
closed mid-stream when a control drops it or the client goes away."""

from __future__ import annotations

import http.server
import json
import os
import select
import socket
import socketserver
import sys
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

from . import clientcerts, control
from .authz import impersonate
from .cluster import Cluster
from .faults import concurrent_write, fault_status
from .request import Request
from .requestlog import RequestLog
from .status import APIError, bad_request, unauthorized
from .watches import WatchStream

MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's default --max-request-body-bytes


class APIHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: every answer has a Content-Length, every request body is read."""

    protocol_version = "HTTP/1.1"
    server_version = "kube-api-test-server"
    # Headers and body go out in two writes; without TCP_NODELAY the body waits ~40 ms for the
    # client's delayed ACK (Nagle), which no real API server makes its clients wait.
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections

    def setup(self):
        super().setup()
        # Here, in the connection's thread, not in the accept loop; the client's certificate, if
        # it sent one, is checked per request by the authenticator, as kube-apiserver does.
        self.peer = clientcerts.handshake(self.request)
        self.server.listener.track(self.request)

    def finish(self):
        self.server.listener.untrack(self.request)
        super().finish()

    def log_message(self, format, *args):  # the request log is at /__control/requests
        pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def dispatch(self):
        url = urlsplit(self.path)
        try:
            body = self.read_body()
        except APIError as error:
            self.close_connection = True  # the rest of the body is still unread
            return self.respond(error.code, error.body(), error.headers)
        if url.path.startswith(control.PREFIX):
            return self.respond(*control.answer(self, url, body))
        cluster: Cluster = self.server.cluster
        user = cluster.authn.authenticate(self.headers.get("Authorization"), self.peer)
        fault = cluster.faults.take(self.command, url.path, url.query)
        entry = RequestLog.entry(self.command, url.path, url.query, self.headers.get("Content-Type"), user, fault)
        if fault and fault["action"] == "drop":
            cluster.request_log.append(entry)
            return self.drop()
        request = Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True),
                          self.headers.get("Content-Type", ""), body, user, self.headers.get("Host", ""))
        code, payload, headers = self.answer(cluster, request, fault)
        entry.update(request.log, code=code)
        cluster.request_log.append(entry)  # a watch's entry too, as its stream starts
        if isinstance(payload, WatchStream):
            return self.stream(payload)
        self.respond(code, payload, headers)

    def answer(self, cluster, request, fault):
        """(code, payload, headers) for an API request, after its fault if it has one."""
        try:
            if fault and fault["action"] == "status":
                raise fault_status(fault, request.path)
            if fault and fault["action"] == "delay":
                time.sleep(float(fault.get("seconds", 1)))
            if fault and fault["action"] == "conflict":
                concurrent_write(cluster.store, request.path, fault)
            if request.user is None:
                raise unauthorized()
            acting = impersonate(cluster.authz, request.user, self.headers)
            if acting is not request.user:
                request.user, request.log["impersonatedUser"] = acting, acting["username"]
            code, payload, *headers = self.route(cluster, request)  # an operation may add headers (Warning)
            return code, payload, headers[0] if headers else {}
        except APIError as error:
            return error.code, error.body(), error.headers

    def route(self, cluster, request):
        if request.path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok"
        for pattern, operations in cluster.routes:
            match = pattern.fullmatch(request.path)
            if match:
                if request.method not in operations:
                    message = "the server does not allow this method on the requested resource"
                    raise APIError(405, "MethodNotAllowed", message, {})
                return operations[request.method](request, *match.groups())
        raise APIError(404, "NotFound", "the server could not find the requested resource", {})

    def read_body(self):
        """The request body, Content-Length or chunked, refused beyond kube-apiserver's 3 MiB."""
        try:
            return self._read_body()
        except ValueError:
            raise bad_request("malformed request body framing")

    def _read_body(self):
        limit = MAX_REQUEST_BODY_BYTES
        too_large = APIError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while size := int(self.rfile.readline().split(b";")[0], 16):
                total += size
                if total > limit:
                    raise too_large
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            while length > 0 and (chunk := self.rfile.read(min(length, 1 << 16))):  # so the client reads the 413
                length -= len(chunk)
            raise too_large
        return self.rfile.read(length)

    def respond(self, code, payload, headers=None):
        if isinstance(payload, str):
            body, kind = payload.encode(), "text/plain; charset=utf-8"
        else:
            body, kind = (json.dumps(payload, separators=(",", ":")) + "\n").encode(), "application/json"
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def stream(self, watch: WatchStream):
        """A watch's answer, as handlers/watch.go's serveWatch writes it: 200, JSON, chunked, each
        event a line flushed as its own chunk; then the final chunk, or a dropped connection."""
        watch.connection = self.request
        hangup, ended = None, "drop"
        try:
            hangup = Hangup(self.request, watch.client_gone)
            self.send_response(200)
            self.send_header("Audit-Id", str(uuid.uuid4()))
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            ended = watch.run(self.write_event)
            if ended == "end":
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away mid-write (ssl.SSLError is an OSError too)
            ended = "drop"
        finally:
            if hangup is not None:
                hangup.stop()
            watch.watches.unregister(watch)  # when the stream never started
        if ended != "end":
            self.drop()

    def write_event(self, event):
        line = (json.dumps(event, separators=(",", ":")) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))

    def drop(self):
        """Closes the TCP connection without an answer."""
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

class Hangup:
    """Notices a streaming answer's client going away while the stream has nothing to send (Go's
    server cancels the request's context then): a thread waits for the socket to turn readable
    (the client sends nothing during a watch, so that is its FIN or close_notify) and calls
    `on_hangup`. `stop` ends the thread."""

    def __init__(self, connection, on_hangup):
        self._wake_read, self._wake_write = os.pipe()
        self._thread = threading.Thread(target=self._wait, args=(connection.fileno(), on_hangup), daemon=True)
        self._thread.start()

    def _wait(self, fd, on_hangup):
        try:
            readable, _, _ = select.select([fd, self._wake_read], [], [])
        except (OSError, ValueError):  # the socket is already closed
            readable = [fd]
        if fd in readable:
            on_hangup()

    def stop(self):
        os.write(self._wake_write, b"x")
        self._thread.join()
        os.close(self._wake_read)
        os.close(self._wake_write)


class TLSServer(http.server.ThreadingHTTPServer):
    """A threaded HTTPS server; the TLS handshake happens in each connection's own thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, ssl_context, cluster, listener):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ssl_context, self.cluster, self.listener = ssl_context, cluster, listener
        super().__init__(address, APIHandler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's reverse-DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, address = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up or rejecting the certificate are normal
            super().handle_error(request, client_address)


class Listener:
    """Owns the listening socket, so /__control/down can close it (connects are then refused) and
    reopen it on the same port later. Open connections are closed too, as a restart would."""

    def __init__(self, host, port, ssl_context, cluster):
        self.host, self.port, self.ssl_context, self.cluster = host, port, ssl_context, cluster
        self.lock = threading.Lock()
        self.server = None
        self.connections = set()
        self.reopen_timer = None

    def open(self):
        with self.lock:
            self._cancel_timer()
            if self.server is None:
                self.server = TLSServer((self.host, self.port), self.ssl_context, self.cluster, self)
                self.port = self.server.server_address[1]
                threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self, reopen_after=None, keep=None):
        with self.lock:
            self._cancel_timer()
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()
                self.server = None
            for connection in self.connections - {keep}:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if reopen_after is not None:
                self.reopen_timer = threading.Timer(reopen_after, self.open)
                self.reopen_timer.daemon = True
                self.reopen_timer.start()

    def _cancel_timer(self):
        if self.reopen_timer is not None:
            self.reopen_timer.cancel()
            self.reopen_timer = None

    def track(self, connection):
        with self.lock:
            self.connections.add(connection)

    def untrack(self, connection):
        with self.lock:
            self.connections.discard(connection)
