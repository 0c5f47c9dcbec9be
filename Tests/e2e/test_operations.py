"""Operating the service (issue 3): `/metrics`, `/status`, logs, secrets that must never leak,
and stopping on SIGTERM/SIGINT.

Run: KUBECONFIG_SERVICE_BIN=... python3 -m pytest -q Tests/e2e/test_operations.py
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, READER_TOKEN
from loopback import BINARY, Service, StartError, free_port, wait_port, wait_until
from support import CONFIGMAP, CONFIGMAP_PATH, NAMESPACE, run_publish, token_fingerprint

REPO_ROOT = Path(__file__).resolve().parents[2]

ROUTES = {"livez", "healthz", "readyz", "page", "kubeconfig", "status", "metrics", "sites", "site", "site-token",
          "unknown"}


# MARK: - Services with other log settings


class TextLogService(Service):
    """`serve --log-format text`: the port comes from the text `listening` line."""

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))
            match = re.search(r"\bport=([0-9]+)", line)
            if "listening" in line and match:
                self.port = int(match.group(1))
                self._listening.set()


class FixedPortService(Service):
    """`serve` on a port chosen beforehand, for log levels that hide the `listening` line."""

    def __init__(self, api, *args, **kwargs):
        port = free_port()
        super().__init__(api, *args, "--port", str(port), **kwargs)
        self.port = port

    def start(self, timeout: float = 15.0) -> "FixedPortService":
        self._listening.set()
        super().start(timeout)
        try:
            wait_port(self.host, self.port, self.process, timeout, interval=0.05)
        except StartError as error:
            raise StartError(f"service not listening on {self.port} ({error}); logs:\n{self.logs}") from None
        return self


@pytest.fixture
def launch(api):
    started = []

    def start(kind, *args, **kwargs):
        service = kind(api, *args, **kwargs).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


# MARK: - Prometheus text


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?[0-9]+)?$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def parse_metrics(text: str) -> list[tuple[str, dict, float]]:
    samples, typed = [], set()
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                typed.add(parts[2])
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample line: {line!r}"
        name, raw_labels, value = match.groups()
        labels = {}
        if raw_labels:
            consumed = LABEL.sub("", raw_labels)
            assert consumed == "", f"bad labels in {line!r}"
            labels = {key: value for key, value in LABEL.findall(raw_labels)}
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"{name} has no # TYPE line"
        samples.append((name, labels, float(value)))
    return samples


def scrape(service) -> list[tuple[str, dict, float]]:
    answer = service.request("GET", "/metrics")
    assert answer.status == 200, answer
    assert answer.headers.get("Content-Type", "").startswith("text/plain"), answer.headers
    return parse_metrics(answer.text)


def value(samples, name: str, **labels) -> float:
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items()))


def series(samples, name: str) -> list[dict]:
    return [labels for n, labels, _ in samples if n == name]


# MARK: - Helpers


def published(serve, *args):
    service = serve("--auth", "none", "--refresh-interval", "0", *args)
    service.wait_ready()
    return service


def timestamp(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def publication_lines(service) -> list[dict]:
    return [line for line in service.log_entries() if line.get("msg") in ("publication succeeded", "publication failed")]


# MARK: - Metrics


def test_metrics_are_prometheus_text(serve, api):
    service = published(serve)
    samples = scrape(service)
    names = {name for name, _, _ in samples}
    for wanted in ("kubeconfig_publications_total", "kubeconfig_publication_duration_seconds_bucket",
                   "kubeconfig_last_success_timestamp_seconds", "kubeconfig_http_requests_total"):
        assert wanted in names, f"{wanted} missing from /metrics"
    keys = [(name, tuple(sorted(labels.items()))) for name, labels, _ in samples]
    assert len(keys) == len(set(keys)), "a series appears twice"


def test_metrics_count_publications_by_result(serve, api):
    service = published(serve)
    assert service.request("POST", "/sites/central").status == 200  # unchanged
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=403, count=1)
    assert service.request("POST", "/sites/central").status >= 400  # failed
    samples = scrape(service)
    counts = {result: value(samples, "kubeconfig_publications_total", result=result)
              for result in ("changed", "unchanged", "failed")}
    assert counts == {"changed": 1, "unchanged": 1, "failed": 1}, counts


def test_metrics_histogram_of_publication_durations(serve, api):
    service = published(serve)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="delay", seconds=0.6, count=1)
    assert service.request("POST", "/sites/central").status == 200
    samples = scrape(service)
    name = "kubeconfig_publication_duration_seconds"
    buckets = sorted(((float(labels["le"]), v) for n, labels, v in samples if n == name + "_bucket"), key=lambda b: b[0])
    assert buckets and buckets[-1][0] == float("inf"), buckets
    counts = [count for _, count in buckets]
    assert counts == sorted(counts), f"buckets not cumulative: {buckets}"
    assert value(samples, name + "_count") == buckets[-1][1] == 2
    assert value(samples, name + "_sum") >= 0.6
    below = [count for bound, count in buckets if bound < 0.6]
    assert below and below[-1] <= 1, f"the 0.6 s publication is not in a bucket above 0.6: {buckets}"


def test_metrics_last_success_time(serve, api):
    before = time.time()
    service = published(serve)
    first = value(scrape(service), "kubeconfig_last_success_timestamp_seconds")
    assert before - 1 <= first <= time.time() + 1, first
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=403, count=1)
    service.request("POST", "/sites/central")
    assert value(scrape(service), "kubeconfig_last_success_timestamp_seconds") == first, "a failure moved it"
    # The gauge is in seconds: wait until the clock has passed the next whole second.
    assert wait_until(lambda: time.time() >= math.floor(first) + 1, timeout=3) is not None
    assert service.request("POST", "/sites/central").status == 200
    assert value(scrape(service), "kubeconfig_last_success_timestamp_seconds") > first


def test_metrics_count_http_requests_by_route_and_status(serve, api):
    service = serve("--refresh-interval", "0")
    service.wait_ready()
    before = scrape(service)
    service.request("GET", "/healthz")
    service.request("GET", "/healthz")
    service.request("GET", "/no/such/route")
    service.request("GET", "/kubeconfig")  # 401
    service.request("GET", "/kubeconfig", token=ADMIN_TOKEN)
    service.request("DELETE", "/status")  # 405
    after = scrape(service)
    delta = lambda **labels: value(after, "kubeconfig_http_requests_total", **labels) - value(  # noqa: E731
        before, "kubeconfig_http_requests_total", **labels)
    assert delta(route="healthz", status="200") == 2
    assert delta(route="unknown", status="404") == 1
    assert delta(route="kubeconfig", status="401") == 1
    assert delta(route="kubeconfig", status="200") == 1
    assert delta(route="status", status="405") == 1


def test_metrics_labels_stay_bounded_and_carry_no_token(serve, api):
    """Attacker-chosen paths and tokens must not become label values."""
    service = serve("--refresh-interval", "0")
    service.wait_ready()
    secret_path = "/secret-" + "a1b2c3d4" * 4
    service.request("GET", secret_path)
    service.request("GET", "/kubeconfig", token=READER_TOKEN)
    service.request("GET", "/kubeconfig", token=NOBODY_TOKEN)
    service.request("POST", "/sites/central", token=ADMIN_TOKEN)
    text = service.request("GET", "/metrics").text
    for label, secret in (("SA token", api.token.strip()), ("admin", ADMIN_TOKEN), ("reader", READER_TOKEN),
                          ("nobody", NOBODY_TOKEN), ("path", secret_path[1:])):
        assert secret not in text, f"the {label} value appears in /metrics"
    samples = parse_metrics(text)
    routes = {labels["route"] for labels in series(samples, "kubeconfig_http_requests_total")}
    assert routes <= ROUTES, routes
    for _, labels, _ in samples:
        for key, label_value in labels.items():
            assert len(label_value) <= 64, f"label {key} has a {len(label_value)}-character value"


def test_metrics_count_authorisation_decisions(serve, api):
    service = serve("--refresh-interval", "0")
    service.wait_ready()
    assert service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).status == 200
    assert service.request("GET", "/kubeconfig", token=NOBODY_TOKEN).status == 403
    assert service.request("POST", "/sites/central", token=READER_TOKEN).status == 403
    samples = scrape(service)
    name = "kubeconfig_authorization_decisions_total"
    assert value(samples, name, decision="allowed") == 1, series(samples, name)
    assert value(samples, name, decision="denied") == 2, series(samples, name)
    assert value(samples, name, decision="denied", verb="patch") == 1, series(samples, name)


def test_metrics_count_api_server_retries(serve, api):
    service = published(serve)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=503, count=2)
    assert service.request("POST", "/sites/central").status == 200
    samples = scrape(service)
    retries = [(labels, v) for n, labels, v in samples if n == "kubeconfig_apiserver_retries_total"]
    assert sum(v for _, v in retries) == 2, retries


# MARK: - /status


def test_status_reports_the_publication(serve, api):
    service = serve("--refresh-interval", "30")
    service.wait_ready()
    answer = service.request("GET", "/status", token=READER_TOKEN)
    assert answer.status == 200, answer
    assert answer.headers.get("Content-Type", "").startswith("application/json")
    status = answer.json()
    configmap = api.get_configmap(NAMESPACE, CONFIGMAP)
    assert status["location"] == "central"
    assert status["namespace"] == NAMESPACE
    assert status["configMap"] == CONFIGMAP
    assert status["key"] == "kubeconfig"
    assert status["server"] == api.url
    assert status["resourceVersion"] == configmap["metadata"]["resourceVersion"]
    assert status["tokenFingerprint"] == token_fingerprint(api.token)
    assert status.get("lastError") is None, status["lastError"]
    attempt, success = timestamp(status["lastAttempt"]), timestamp(status["lastSuccess"])
    assert attempt <= success <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    assert 28 <= (timestamp(status["nextRefresh"]) - success).total_seconds() <= 32
    assert api.token.strip() not in answer.text


def test_status_needs_the_same_authorisation_as_kubeconfig(serve, api):
    service = serve("--refresh-interval", "0")
    service.wait_ready()
    for token in (None, "", NOBODY_TOKEN, READER_TOKEN, ADMIN_TOKEN):
        for_status = service.request("GET", "/status", token=token).status
        for_document = service.request("GET", "/kubeconfig", token=token).status
        assert for_status == for_document, f"/status {for_status} but /kubeconfig {for_document}"
    assert service.request("GET", "/status").status == 401
    assert service.request("GET", "/status", token=NOBODY_TOKEN).status == 403
    assert service.request("GET", "/status", token=READER_TOKEN).status == 200


def test_status_reports_the_last_error(serve, api):
    service = published(serve)
    first = service.request("GET", "/status").json()
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=403, count=-1)
    # Timestamps have one-second resolution: wait until the clock has passed the last success's second.
    assert wait_until(lambda: time.time() >= timestamp(first["lastSuccess"]).timestamp() + 1, timeout=3) is not None
    assert service.request("POST", "/sites/central").status >= 400
    status = service.request("GET", "/status").json()
    assert status["lastError"]["code"] == "APIServerForbidden", status
    assert status["lastError"]["message"]
    assert status["lastSuccess"] == first["lastSuccess"]
    assert timestamp(status["lastAttempt"]) > timestamp(status["lastSuccess"])
    api.clear_faults()
    assert service.request("POST", "/sites/central").status == 200
    assert service.request("GET", "/status").json().get("lastError") is None


# MARK: - Logs


def test_json_logs_one_object_a_line(serve, api):
    service = published(serve)
    service.request("GET", "/kubeconfig")
    assert service.lines
    for line in service.lines:
        entry = json.loads(line)
        assert {"ts", "level", "msg"} <= set(entry), entry


def test_text_logs(launch):
    service = launch(TextLogService, "--auth", "none", "--refresh-interval", "0", "--log-format", "text")
    service.wait_ready()
    assert service.request("POST", "/sites/central").status == 200
    assert wait_until(lambda: len([line for line in service.lines if "publication succeeded" in line]) >= 2) is not None
    for line in service.lines:
        with pytest.raises(ValueError):
            json.loads(line)
    lines = [line for line in service.lines if "publication succeeded" in line]
    assert all(re.search(r"\boutcome=(changed|unchanged)\b", line) for line in lines), lines
    assert all(re.search(r"\bduration_ms=[0-9]+\b", line) for line in lines), lines


def test_log_level_warning_hides_info_lines(launch, api):
    service = launch(FixedPortService, "--auth", "none", "--refresh-interval", "0", "--log-level", "warning")
    assert wait_until(lambda: service.request("GET", "/healthz").status == 200) is not None
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=403, count=1)
    assert service.request("POST", "/sites/central").status >= 400
    assert service.request("POST", "/sites/central").status == 200
    assert wait_until(lambda: any(line.get("msg") == "publication failed"
                                  for line in service.log_entries())) is not None
    levels = {line["level"] for line in service.log_entries()}
    assert levels <= {"warning", "error", "critical"}, levels
    assert not [line for line in service.log_entries() if line.get("msg") == "publication succeeded"]


def test_log_level_debug_shows_retries(serve, api):
    service = published(serve, "--log-level", "debug")
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=503, count=1)
    assert service.request("POST", "/sites/central").status == 200
    assert wait_until(lambda: any(line["level"] == "debug" and "retr" in line.get("msg", "").lower()
                                  for line in service.log_entries())) is not None, "no debug line about the retry"


def test_one_log_line_per_publication_with_outcome_and_duration(serve, api):
    service = published(serve)
    service.request("POST", "/sites/central")
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=403, count=1)
    service.request("POST", "/sites/central")
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="delay", seconds=0.3, count=1)
    service.request("POST", "/sites/central")
    assert wait_until(lambda: len(publication_lines(service)) >= 4) is not None
    time.sleep(0.2)  # nothing to poll for: no fifth line may follow
    lines = publication_lines(service)
    outcomes = [line.get("outcome") for line in lines]
    assert outcomes == ["changed", "unchanged", "failed", "unchanged"], outcomes
    for line in lines:
        assert re.fullmatch(r"[0-9]+", str(line.get("duration_ms"))), line
    assert int(lines[3]["duration_ms"]) >= 300
    assert lines[2]["level"] in ("warning", "error") and lines[2].get("error"), lines[2]


def test_one_log_line_per_refused_request(serve, api):
    service = serve("--refresh-interval", "0")
    service.wait_ready()
    assert service.request("GET", "/kubeconfig").status == 401
    assert service.request("GET", "/status", token=NOBODY_TOKEN).status == 403
    assert service.request("POST", "/sites/central", token=READER_TOKEN).status == 403
    assert service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).status == 200
    assert wait_until(lambda: len([line for line in service.log_entries()
                                   if line.get("msg") == "request refused"]) >= 3) is not None
    time.sleep(0.2)  # nothing to poll for: no fourth line may follow
    refused = [line for line in service.log_entries() if line.get("msg") == "request refused"]
    assert [(line.get("path"), line.get("status")) for line in refused] == [
        ("/kubeconfig", "401"), ("/status", "403"), ("/sites/central", "403")], refused


def test_an_invalid_bearer_token_is_refused_with_401(serve, api):
    """A token the API server does not know: TokenReview says `authenticated: false` (and, as
    kube-apiserver does, an empty `user`) → 401, logged as refused, counted as unauthenticated."""
    service = serve("--refresh-interval", "0")
    service.wait_ready()
    bogus = "bogus-" + hashlib.sha256(b"not a token").hexdigest()
    answer = service.request("GET", "/kubeconfig", token=bogus)
    assert answer.status == 401, f"an invalid token got {answer.status}: {answer.body[:200]!r}"
    assert answer.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert service.request("POST", "/sites/central", token=bogus).status == 401
    assert wait_until(lambda: any(line.get("msg") == "request refused" and line.get("status") == "401"
                                  for line in service.log_entries())) is not None
    samples = scrape(service)
    assert value(samples, "kubeconfig_authorization_decisions_total", decision="unauthenticated") >= 1


# MARK: - Secrets


def pem_body_lines(path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]


def test_secrets_never_appear_in_logs_metrics_status_or_error_bodies(serve, api):
    """Tokens (the service account's before and after rotation, and every caller's), the CA's
    private key and Authorization header values: nowhere but in the kubeconfig document."""
    carol = api.add_identity("carol", rules=[{"verbs": ["get"], "resources": ["configmaps"]}])
    service = serve("--refresh-interval", "1", "--log-level", "trace")
    service.wait_ready()
    first_sa_token = api.token.strip()
    bogus = "bogus-caller-" + hashlib.sha256(b"bogus").hexdigest()[:24]
    basic = base64.b64encode(b"operator:correct-horse-battery-staple").decode()
    secrets = {"service-account token": first_sa_token, "admin token": ADMIN_TOKEN, "reader token": READER_TOKEN,
               "nobody token": NOBODY_TOKEN, "carol token": carol, "bogus token": bogus, "basic credentials": basic,
               "custom-scheme credentials": "opaque-credential-0123456789"}
    for index, line in enumerate(pem_body_lines(api.state_dir / "ca.key")):
        secrets[f"ca.key line {index}"] = line
    for index, line in enumerate(pem_body_lines(api.state_dir / "server.key")):
        secrets[f"server.key line {index}"] = line

    texts = {}  # where -> text

    def call(method, path, authorization=None, **kwargs):
        headers = {"Authorization": authorization} if authorization else None
        answer = service.request(method, path, headers=headers, **kwargs)
        document = answer.status == 200 and path.startswith("/kubeconfig")
        if not document:  # the document carries the service-account token by design
            texts[f"{method} {path} ({answer.status})"] = answer.text + str(dict(answer.headers))
        return answer

    authorizations = [f"Bearer {token}" for token in (ADMIN_TOKEN, READER_TOKEN, NOBODY_TOKEN, carol, bogus)]
    authorizations += [f"bearer {READER_TOKEN}", f"Basic {basic}", "Token opaque-credential-0123456789",
                       f"Bearer  {bogus}  "]
    for authorization in authorizations:
        for method, path in (("GET", "/kubeconfig"), ("GET", "/status"), ("POST", "/sites/central"),
                             ("POST", "/sites/elsewhere"), ("GET", "/nope"), ("PUT", "/kubeconfig"),
                             ("GET", "/kubeconfig?site=missing")):
            call(method, path, authorization)
    for code in (401, 403, 500):  # API failures, reported to the caller and logged
        api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=code, count=1)
        call("POST", "/sites/central", f"Bearer {ADMIN_TOKEN}")
    api.add_fault(path="/apis/authentication.k8s.io/v1/tokenreviews", action="status", code=500, count=1)
    call("GET", "/kubeconfig", "Bearer review-fails-" + "x" * 20)
    secrets["token under a failed review"] = "review-fails-" + "x" * 20

    rotated = api.rotate_token(invalidate_old=True)
    secrets["rotated service-account token"] = rotated
    assert wait_until(lambda: service.request("GET", "/status", token=ADMIN_TOKEN).json().get("tokenFingerprint")
                      == token_fingerprint(rotated), timeout=8) is not None
    call("GET", "/status", f"Bearer {ADMIN_TOKEN}")
    call("GET", "/metrics")

    run = run_publish(api, "--log-level", "trace", "--log-format", "json")
    assert run.returncode == 0
    texts["publish stdout and stderr"] = run.stdout + run.stderr
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=401, count=-1)
    run = run_publish(api, "--log-level", "trace")
    assert run.returncode != 0
    texts["failed publish stdout and stderr"] = run.stdout + run.stderr
    api.clear_faults()
    texts["service logs"] = service.logs

    leaks = [f"{label} in {where}" for where, text in texts.items() for label, secret in secrets.items() if secret in text]
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks[:40])


# MARK: - Stopping


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_accepting_lets_in_flight_requests_finish_and_exits_0(serve, api, sig):
    service = published(serve)
    port = service.port
    delay = api.add_fault(method="GET", path=CONFIGMAP_PATH, action="delay", seconds=2.5, count=1)
    result = {}

    def in_flight():
        try:
            result["answer"] = service.request("POST", "/sites/central", timeout=20)
        except Exception as error:  # noqa: BLE001 - reported below
            result["error"] = error

    thread = threading.Thread(target=in_flight)
    thread.start()
    # The signal comes once the POST's publication is waiting on the delayed GET.
    assert wait_until(lambda: any(f["id"] == delay["id"] and f["count"] == 0 for f in api.faults()), timeout=10) is not None
    signalled = time.monotonic()
    service.process.send_signal(sig)

    def refused():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return False
        except OSError:
            return True

    assert wait_until(refused, timeout=2) is not None, "still accepting connections after the signal"
    thread.join(20)
    assert "error" not in result, f"the in-flight POST failed: {result.get('error')!r}"
    answer = result["answer"]
    assert answer.status == 200, answer
    assert answer.json()["site"] == "central"
    code = service.process.wait(15)
    print(f"\nMEASURE exit {time.monotonic() - signalled:.2f} s after {sig.name} with a request in flight")
    assert code == 0, f"exit code {code} after {sig.name}"
    messages = [line.get("msg") for line in service.log_entries()]
    assert "stopping" in messages and messages[-1] == "stopped", messages[-5:]
    # The watch is cancelled, not failed: no error, no retry announced on the way out.
    stopping = messages.index("stopping")
    late = [line for line in service.log_entries()[stopping:] if "watch" in (line.get("msg") or "")]
    assert not late, late


def test_stopping_is_bounded_with_idle_and_stalled_connections(serve, api):
    service = published(serve)
    held = []
    try:
        for _ in range(5):  # kept alive after an answer
            sock = socket.create_connection((service.host, service.port), timeout=5)
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.recv(4096)
            held.append(sock)
        stalled = socket.create_connection((service.host, service.port), timeout=5)
        stalled.sendall(b"POST /sites/central HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        held.append(stalled)
        time.sleep(0.2)  # lets the service read the partial request; nothing observable to poll
        signalled = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        try:
            code = service.process.wait(12)
        except subprocess.TimeoutExpired:
            pytest.fail("still running 12 s after SIGTERM with idle and stalled connections")
        took = time.monotonic() - signalled
    finally:
        for sock in held:
            sock.close()
    print(f"\nMEASURE exit {took:.2f} s after SIGTERM with idle and stalled connections")
    assert code == 0



def test_the_command_line_says_its_version_and_what_it_does():
    """`--version` is the chart's appVersion; the top-level help names remote sites and both
    commands; `--threads`' help states its default as a rule, not this machine's core count."""
    chart = (REPO_ROOT / "deploy" / "helm" / "kubeconfig-service" / "Chart.yaml").read_text()
    app_version = re.search(r'^appVersion:\s*"?([^"\n]+)"?$', chart, re.M).group(1)
    version = subprocess.run([BINARY, "--version"], capture_output=True, text=True, timeout=10)
    assert version.returncode == 0 and version.stdout.strip() == app_version, (version.stdout, app_version)

    def shown(*args) -> str:
        return " ".join(subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=10).stdout.split())
    overview = shown("--help")
    assert "PUT /sites/NAME" in overview and "`serve`" in overview and "`publish`" in overview, overview
    serve_help = shown("serve", "--help")
    threads = serve_help[serve_help.index("--threads <threads>"):][:120]
    assert "(default: the CPU cores, at most 64)" in threads, threads
    assert f"(default: {os.cpu_count()})" not in threads, threads
