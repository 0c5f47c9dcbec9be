#!/usr/bin/env python3
"""The benchmark of kubeconfig-service: serving, one publication, start-up and footprint, each
next to its reference, all on loopback against the project's local HTTPS API server
(Tests/kube-api-server). bench/README.md says what is measured and how.

    PYTHONPATH=Tests/kube-api-server python3 bench/benchmark.py --binary PATH [--smoke] [--output FILE.md]

Prints a Markdown table and writes it to FILE.md (default bench-results/benchmark.md), with the
raw figures as JSON beside it (FILE.json). Targets are reported, never asserted: the exit code is
1 only when a figure could not be produced or a run had errors (smoke mode's check in CI).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml
from kubeapi import ADMIN_TOKEN, KubeAPIServer  # Tests/kube-api-server on PYTHONPATH (scripts/benchmark.sh)

ROOT = Path(__file__).resolve().parents[1]

NAMESPACE = "onap"
CONFIGMAP = "multisite-kubeconfig-configmap"
KEY = "kubeconfig"
BASELINE = ROOT / "bench" / "baseline_publish.py"
TIME = "/usr/bin/time"
MIB = 1024 * 1024
CORES = os.cpu_count() or 1

# Durations and counts per mode. The auth decision is cached 60 s: a wrk run stays well under it
# and the cache is warmed again right before each run.
MODES = {
    "full": {"wrk_seconds": 15, "wrk_warmup_seconds": 3, "publish_runs": 7, "startup_runs": 7},
    "smoke": {"wrk_seconds": 2, "wrk_warmup_seconds": 1, "publish_runs": 3, "startup_runs": 3},
}
WRK_THREADS, WRK_CONNECTIONS = 2, 32
STEP_TIMEOUT = 60  # seconds any single process may take before it counts as hung

# wrk's done() hook: the summary as one JSON line (latencies in microseconds).
WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,' ..
    '"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,' ..
    '"max_us":%.0f,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# MARK: - Processes


class Processes:
    """Every process the benchmark starts, each in its own process group, so that cleanup can
    end the group (nginx's workers too) even when the benchmark fails half-way."""

    def __init__(self):
        self.started: list[subprocess.Popen] = []

    def popen(self, args, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 10.0) -> int:
        if process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait()
        if process in self.started:
            self.started.remove(process)
        return process.returncode

    @staticmethod
    def _signal(process, sig):
        try:
            os.killpg(process.pid, sig)  # the group that start_new_session made: pgid == pid
        except ProcessLookupError:
            pass

    def stop_all(self):
        for process in reversed(list(self.started)):
            self.stop(process, timeout=5)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"process {process.args[0]} exited ({process.returncode}) before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise BenchError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def http_get(port: int, path: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET on a fresh connection; (status, body)."""
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def vm_rss_bytes(pid: int) -> int:
    return _status_field(pid, "VmRSS")


def vm_hwm_bytes(pid: int) -> int:
    return _status_field(pid, "VmHWM")


def _status_field(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"no {field} in /proc/{pid}/status")


def rss_split_bytes(pid: int) -> dict:
    """RssAnon (heap, stacks, dirtied pages) and RssFile (mapped files: mostly the binary's own pages)."""
    return {"anon": _status_field(pid, "RssAnon"), "file": _status_field(pid, "RssFile")}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def group_cpu_seconds(pgid: int) -> float:
    total = 0.0
    for pid in group_pids(pgid):
        try:
            total += cpu_seconds(pid)
        except OSError:
            continue
    return total


def group_rss_bytes(pgid: int) -> int:
    """VmRSS summed over the processes of a group (nginx's master and workers)."""
    total = 0
    for pid in group_pids(pgid):
        try:
            total += vm_rss_bytes(pid)
        except (OSError, BenchError):
            continue
    return total


# MARK: - The service


class Service:
    """`kubeconfig-service serve` on 127.0.0.1, port 0, JSON logs read for the port."""

    def __init__(self, processes: Processes, binary: Path, api: KubeAPIServer, auth: str, log_file: Path):
        self.processes, self.binary, self.api, self.auth, self.log_file = processes, binary, api, auth, log_file
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.lines: list[str] = []

    def start(self, timeout: float = 15.0) -> "Service":
        args = [str(self.binary), "serve", "--service-account-dir", str(self.api.sa_dir), "--address", "127.0.0.1",
                "--port", "0", "--log-format", "json", "--auth", self.auth]
        self.process = self.processes.popen(args, env={**os.environ, **self.api.env()}, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, text=True)
        listening = threading.Event()

        def read():
            with open(self.log_file, "w") as sink:
                for line in self.process.stderr:
                    sink.write(line)
                    self.lines.append(line)
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if entry.get("msg") == "listening":
                        self.port = int(entry["port"])
                        listening.set()

        threading.Thread(target=read, daemon=True).start()
        if not listening.wait(timeout):
            raise BenchError(f"serve --auth {self.auth} did not log 'listening' within {timeout} s:\n"
                             + "".join(self.lines[-20:]))
        deadline = time.monotonic() + timeout
        while http_get(self.port, "/healthz")[0] != 200:
            if time.monotonic() > deadline:
                raise BenchError(f"serve --auth {self.auth}: /healthz not 200 within {timeout} s:\n"
                                 + "".join(self.lines[-20:]))
            time.sleep(0.01)
        return self

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self):
        if self.process is not None:
            self.processes.stop(self.process)
            self.process = None


# MARK: - nginx


def start_nginx(processes: Processes, workdir: Path, files: dict[str, bytes]) -> tuple[subprocess.Popen, int]:
    """nginx as a foreground process with its own prefix, serving `files` as static files,
    tuned as usual: one worker per core, keep-alive, no access log, sendfile."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = workdir / "nginx"
    html = prefix / "html"
    html.mkdir(parents=True)
    for name, body in files.items():
        (html / name).write_bytes(body)
    # Workers run as nobody when started as root: they must be able to reach the files.
    for path in [workdir, prefix, html, *html.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    port = free_port()
    version = subprocess.run([nginx, "-V"], capture_output=True, text=True).stderr
    temp_paths = "".join(
        f"  {module}_temp_path {prefix}/{module}_temp;\n"
        for module in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        if module == "client_body" or f"--without-http_{module}_module" not in version)
    user = ""
    if os.geteuid() == 0:
        group = next((name for name in ("nogroup", "nobody") if _group_exists(name)), None)
        user = f"user nobody {group};\n" if group else "user nobody;\n"
    config = f"""{user}daemon off;
master_process on;
worker_processes {CORES};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
  worker_connections 1024;
}}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  open_file_cache max=64 inactive=60s;
  open_file_cache_valid 60s;
  server_tokens off;
{temp_paths}  server {{
    listen 127.0.0.1:{port} backlog=1024;
    root {html};
    location = /healthz {{ default_type "text/plain; charset=utf-8"; }}
    location = /kubeconfig {{ default_type application/yaml; }}
  }}
}}
"""
    (prefix / "nginx.conf").write_text(config)
    process = processes.popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
                              stdout=subprocess.DEVNULL, stderr=open(prefix / "stderr.log", "wb"))
    try:
        wait_port(port, process)
    except BenchError as error:
        raise BenchError(f"{error}; nginx said:\n{(prefix / 'stderr.log').read_text(errors='replace')}"
                         f"{(prefix / 'error.log').read_text(errors='replace') if (prefix / 'error.log').exists() else ''}")
    return process, port


def _group_exists(name: str) -> bool:
    import grp
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


# MARK: - wrk


def run_wrk(port: int, path: str, seconds: int, script: Path, token: str | None = None, server_pgid: int | None = None) -> dict:
    """One wrk run; with `server_pgid`, also the server's CPU time per request and wrk's own CPU use."""
    args = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script)]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    args.append(f"http://127.0.0.1:{port}{path}")
    server_cpu = group_cpu_seconds(server_pgid) if server_pgid else None
    children = os.times()
    answer = subprocess.run(args, capture_output=True, text=True, timeout=seconds + STEP_TIMEOUT)
    children_after = os.times()
    if server_pgid:
        server_cpu = group_cpu_seconds(server_pgid) - server_cpu
    line = next((line for line in answer.stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
    if answer.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({answer.returncode}): {answer.stdout}\n{answer.stderr}")
    result = json.loads(line[len("BENCH_JSON "):])
    seconds_run = result["duration_us"] / 1e6
    result["requests_per_second"] = result["requests"] / seconds_run if seconds_run > 0 else 0.0
    result["socket_errors"] = result["connect"] + result["read"] + result["write"] + result["timeout"]
    result["non_2xx"] = result["status"]
    result["errors"] = result["socket_errors"] + result["non_2xx"]
    result["p99_ms"] = result["p99_us"] / 1000
    wrk_cpu = (children_after.children_user + children_after.children_system
               - children.children_user - children.children_system)
    result["wrk_cpu_cores"] = wrk_cpu / seconds_run if seconds_run > 0 else None
    if server_cpu is not None:
        result["server_cpu_cores"] = server_cpu / seconds_run if seconds_run > 0 else None
        result["server_cpu_us_per_request"] = server_cpu * 1e6 / result["requests"] if result["requests"] else None
    return result


# MARK: - Measurements


def reset_configmap(api: KubeAPIServer) -> None:
    """The ConfigMap as Helm creates it: empty, so that every publication writes."""
    api.put_configmap(NAMESPACE, CONFIGMAP, {})


def published_document(api: KubeAPIServer) -> str:
    configmap = api.get_configmap(NAMESPACE, CONFIGMAP) or {}
    document = (configmap.get("data") or {}).get(KEY)
    if not document:
        raise BenchError(f"configmap {NAMESPACE}/{CONFIGMAP} holds no {KEY!r} after a publication")
    return document


def timed_run(processes: Processes, args: list[str], env: dict) -> tuple[float, int, str]:
    """Runs under /usr/bin/time -v in its own process group: (wall seconds, peak RSS bytes, stdout)."""
    started = time.perf_counter()
    process = processes.popen([TIME, "-v", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        processes.stop(process)
        raise BenchError(f"{args[0]} {args[1]} did not finish within {STEP_TIMEOUT} s")
    wall = time.perf_counter() - started
    processes.stop(process)
    if process.returncode != 0:
        raise BenchError(f"{args[0]} {args[1]} failed ({process.returncode}):\n{stdout}\n{stderr[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if not match:
        raise BenchError(f"no peak RSS in {TIME}'s output:\n{stderr[-2000:]}")
    return wall, int(match.group(1)) * 1024, stdout


def measure_api_server(api: KubeAPIServer, requests: int = 6) -> dict:
    """How long the API test server takes to answer one request (a GET of the ConfigMap on a
    kept-alive TLS connection, the first one left out): every publication pays it per request."""
    import http.client
    connection = http.client.HTTPSConnection(api.host, api.port, timeout=10, context=api.ssl_context())
    times = []
    try:
        for _ in range(requests + 1):
            started = time.perf_counter()
            connection.request("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}",
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                raise BenchError(f"GET of the ConfigMap from the API server answered {answer.status}")
            times.append(time.perf_counter() - started)
    finally:
        connection.close()
    return {"request_s": times[1:], "median_request_s": statistics.median(times[1:])}


def measure_publication(processes: Processes, api: KubeAPIServer, binary: Path, runs: int) -> dict:
    """`publish` and the Python baseline, interleaved, after one unmeasured warm-up run of each."""
    env = {**os.environ, **api.env()}
    commands = {
        "ours": [str(binary), "publish", "--service-account-dir", str(api.sa_dir), "--log-format", "json"],
        "python": [sys.executable, str(BASELINE), "--service-account-dir", str(api.sa_dir)],
    }
    results = {name: {"wall_s": [], "peak_rss_bytes": []} for name in commands}
    documents = {}
    for run in range(runs + 1):
        for name, command in commands.items():
            reset_configmap(api)
            wall, rss, _ = timed_run(processes, command, env)
            documents[name] = published_document(api)
            if run == 0:
                continue  # warm-up: page cache, Python's bytecode cache
            results[name]["wall_s"].append(wall)
            results[name]["peak_rss_bytes"].append(rss)
    for name in commands:
        results[name]["median_wall_s"] = statistics.median(results[name]["wall_s"])
        results[name]["peak_rss_bytes_max"] = max(results[name]["peak_rss_bytes"])
    results["same_document"] = yaml.safe_load(documents["ours"]) == yaml.safe_load(documents["python"])
    return results


def measure_startup(processes: Processes, api: KubeAPIServer, binary: Path, runs: int, workdir: Path) -> dict:
    """Process start to the first /healthz 200, polled every 1 ms with a raw socket. /healthz
    answers 503 until the first publication succeeded, so that publication is included."""
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    ready, listening, publication_ms = [], [], []
    for run in range(runs):
        reset_configmap(api)
        port = free_port()
        args = [str(binary), "serve", "--service-account-dir", str(api.sa_dir), "--address", "127.0.0.1",
                "--port", str(port), "--log-format", "json"]
        log_path = workdir / f"startup-{run}.log"
        with open(log_path, "wb") as log_file:
            started = time.perf_counter()
            process = processes.popen(args, env={**os.environ, **api.env()}, stdout=subprocess.DEVNULL, stderr=log_file)
            first_connection = None
            try:
                while True:
                    now = time.perf_counter()
                    if now - started > 15:
                        raise BenchError(f"serve not ready within 15 s:\n{log_path.read_text(errors='replace')}")
                    if process.poll() is not None:
                        raise BenchError(f"serve exited ({process.returncode}):\n{log_path.read_text(errors='replace')}")
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                            if first_connection is None:
                                first_connection = time.perf_counter() - started
                            sock.sendall(request)
                            data = b""
                            while b"\r\n" not in data:
                                chunk = sock.recv(4096)
                                if not chunk:
                                    break
                                data += chunk
                        if data.split(b" ", 2)[1:2] == [b"200"]:
                            ready.append(time.perf_counter() - started)
                            listening.append(first_connection)
                            break
                    except OSError:
                        pass
                    time.sleep(0.001)
            finally:
                processes.stop(process)
        for line in log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "publication succeeded" and "duration_ms" in entry:
                publication_ms.append(float(entry["duration_ms"]))
                break
    published_document(api)
    return {"ready_s": ready, "median_ready_s": statistics.median(ready), "first_connection_s": listening,
            "median_first_connection_s": statistics.median(listening),
            "logged_publication_ms": publication_ms}


def measure_serving(processes: Processes, api: KubeAPIServer, binary: Path, mode: dict, workdir: Path) -> dict:
    """wrk against `serve` (auth off, and auth on with a cached decision) and nginx serving the
    same bytes; the service's RSS idle after start-up and after the load."""
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)
    seconds, warmup = mode["wrk_seconds"], mode["wrk_warmup_seconds"]
    reset_configmap(api)
    open_service = Service(processes, binary, api, "none", workdir / "serve-auth-none.log").start()
    authed_service = Service(processes, binary, api, "kubernetes", workdir / "serve-auth-kubernetes.log").start()
    nginx = None
    try:
        time.sleep(1.0)  # settle after start-up
        footprint = {
            "idle_rss_bytes": vm_rss_bytes(open_service.pid),
            "idle_rss_split_bytes": rss_split_bytes(open_service.pid),
            "idle_rss_bytes_auth_on": vm_rss_bytes(authed_service.pid),
        }
        status, document = http_get(open_service.port, "/kubeconfig")
        status_healthz, healthz = http_get(open_service.port, "/healthz")
        if status != 200 or status_healthz != 200:
            raise BenchError(f"GET /kubeconfig answered {status}, /healthz {status_healthz}")
        nginx, nginx_port = start_nginx(processes, workdir, {"healthz": healthz, "kubeconfig": document})
        footprint["nginx_idle_rss_bytes"] = group_rss_bytes(nginx.pid)
        for path, body in [("/healthz", healthz), ("/kubeconfig", document)]:
            if http_get(nginx_port, path) != (200, body):
                raise BenchError(f"nginx does not serve the service's bytes at {path}")

        def warm_cache():
            answer = http_get(authed_service.port, "/kubeconfig", token=ADMIN_TOKEN)
            if answer != (200, document):
                raise BenchError(f"auth-on GET /kubeconfig with the admin token answered {answer[0]}")

        cases = [
            ("healthz", "/healthz", open_service.port, None),
            ("kubeconfig", "/kubeconfig", open_service.port, None),
            ("kubeconfig_auth", "/kubeconfig", authed_service.port, ADMIN_TOKEN),
        ]
        results = {}
        for name, path, port, token in cases:
            results[name] = {}
            for server, server_port in [("ours", port), ("nginx", nginx_port)]:
                if token and server == "ours":
                    warm_cache()
                log(f"wrk {server} {path}{' (auth on)' if token else ''}: {warmup} s warm-up, {seconds} s measured")
                pgid = nginx.pid if server == "nginx" else (authed_service if token else open_service).pid
                run_wrk(server_port, path, warmup, script, token)
                if token and server == "ours":
                    warm_cache()  # the measured run starts with a fresh 60 s decision
                results[name][server] = run_wrk(server_port, path, seconds, script, token, server_pgid=pgid)
        time.sleep(0.5)
        footprint["after_load_rss_bytes"] = vm_rss_bytes(open_service.pid)
        footprint["after_load_rss_split_bytes"] = rss_split_bytes(open_service.pid)
        footprint["after_load_rss_bytes_auth_on"] = vm_rss_bytes(authed_service.pid)
        footprint["peak_rss_bytes"] = vm_hwm_bytes(open_service.pid)
        footprint["peak_rss_bytes_auth_on"] = vm_hwm_bytes(authed_service.pid)
        footprint["nginx_after_load_rss_bytes"] = group_rss_bytes(nginx.pid)
        footprint["threads"] = len(os.listdir(f"/proc/{open_service.pid}/task"))
        footprint["document_bytes"] = len(document)
        return {"wrk": results, "footprint": footprint}
    finally:
        if nginx is not None:
            processes.stop(nginx)
        open_service.stop()
        authed_service.stop()


# MARK: - Report


def ms(seconds):
    return None if seconds is None else seconds * 1000


def fmt(value, unit="", digits=2):
    if value is None:
        return "missing"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if isinstance(value, int) and not unit:
        return str(value)
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def ratio(ours, reference):
    if ours is None or reference in (None, 0):
        return None
    return ours / reference


def build_rows(figures: dict) -> list[dict]:
    """The table: metric, ours, reference, ratio, target, met."""
    rows = []
    wrk = figures["serving"]["wrk"]
    labels = {"healthz": "GET /healthz", "kubeconfig": "GET /kubeconfig, auth off",
              "kubeconfig_auth": "GET /kubeconfig, auth on (cached)"}
    for case, label in labels.items():
        ours, nginx = wrk[case]["ours"], wrk[case]["nginx"]
        r = ratio(ours["requests_per_second"], nginx["requests_per_second"])
        rows.append({"metric": f"{label}: requests/s", "ours": fmt(ours["requests_per_second"], "req/s"),
                     "reference": fmt(nginx["requests_per_second"], "req/s") + " (nginx)",
                     "ratio": r, "target": "≥ 0.8× nginx", "met": r is not None and r >= 0.8})
        rows.append({"metric": f"{label}: p99 latency", "ours": fmt(ours["p99_ms"], "ms", 3),
                     "reference": fmt(nginx["p99_ms"], "ms", 3) + " (nginx)",
                     "ratio": ratio(ours["p99_ms"], nginx["p99_ms"]), "target": "< 2 ms", "met": ours["p99_ms"] < 2})
        rows.append({"metric": f"{label}: errors (non-2xx + socket)",
                     "ours": f"{ours['errors']} ({ours['non_2xx']} + {ours['socket_errors']})",
                     "reference": f"{nginx['errors']} (nginx)", "ratio": None, "target": "0",
                     "met": ours["errors"] == 0})
    publication = figures["publication"]
    runs = len(publication["ours"]["wall_s"])
    r = ratio(publication["ours"]["median_wall_s"], publication["python"]["median_wall_s"])
    rows.append({"metric": f"publish: wall time (median of {runs})", "ours": fmt(ms(publication["ours"]["median_wall_s"]), "ms", 1),
                 "reference": fmt(ms(publication["python"]["median_wall_s"]), "ms", 1) + " (python)",
                 "ratio": r, "target": "≤ 0.1× python", "met": r is not None and r <= 0.1})
    r = ratio(publication["ours"]["peak_rss_bytes_max"], publication["python"]["peak_rss_bytes_max"])
    rows.append({"metric": "publish: peak RSS", "ours": fmt(publication["ours"]["peak_rss_bytes_max"] / MIB, "MiB", 1),
                 "reference": fmt(publication["python"]["peak_rss_bytes_max"] / MIB, "MiB", 1) + " (python)",
                 "ratio": r, "target": "≤ 1/3 python", "met": r is not None and r <= 1 / 3})
    startup = figures["startup"]
    ready_ms = ms(startup["median_ready_s"])
    rows.append({"metric": f"start to /healthz 200, first publication included (median of {len(startup['ready_s'])})",
                 "ours": fmt(ready_ms, "ms", 1), "reference": "—", "ratio": None, "target": "< 100 ms",
                 "met": ready_ms < 100})
    footprint = figures["serving"]["footprint"]
    for key, label, limit in [("idle_rss_bytes", "serve RSS, idle after start-up", 16),
                              ("after_load_rss_bytes", "serve RSS, after the load", 24)]:
        value = footprint[key] / MIB
        nginx_key = "nginx_idle_rss_bytes" if key.startswith("idle") else "nginx_after_load_rss_bytes"
        split = footprint[key.replace("_rss_bytes", "_rss_split_bytes")]
        rows.append({"metric": f"{label} (auth off)",
                     "ours": fmt(value, "MiB", 1) + f" (anon {split['anon'] / MIB:.1f}, file {split['file'] / MIB:.1f})",
                     "reference": fmt(footprint[nginx_key] / MIB, "MiB", 1) + f" (nginx, master + {CORES} workers)",
                     "ratio": ratio(footprint[key], footprint[nginx_key]), "target": f"< {limit} MiB",
                     "met": value < limit})
    value = footprint["after_load_rss_bytes_auth_on"] / MIB
    rows.append({"metric": "serve RSS, after the load (auth on)", "ours": fmt(value, "MiB", 1), "reference": "—",
                 "ratio": None, "target": "< 24 MiB", "met": value < 24})
    rows.append({"metric": "release binary size", "ours": fmt(figures["binary"]["size_bytes"] / MIB, "MiB", 1),
                 "reference": "—", "ratio": None, "target": "—", "met": None})
    return rows


def markdown(figures: dict, rows: list[dict]) -> str:
    meta = figures["meta"]
    lines = [
        f"# kubeconfig-service benchmark ({meta['mode']} mode)",
        "",
        f"{meta['date']} · {meta['machine']} · {CORES} cores · binary `{meta['binary']}` · "
        f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{meta['wrk_seconds']}s (after a {meta['wrk_warmup_seconds']} s warm-up) · "
        f"serve --threads default ({CORES}) · nginx worker_processes {CORES} · all on 127.0.0.1 · "
        f"load average {meta['loadavg_before']:.2f} before, {meta['loadavg_after']:.2f} after · "
        f"benchmark took {meta['elapsed_s']:.0f} s",
        "",
        "| Metric | kubeconfig-service | Reference | Ratio | Target | Met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        r = "—" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        met = "—" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['metric']} | {row['ours']} | {row['reference']} | {r} | {row['target']} | {met} |")
    notes = [f"the API test server answered a request in {ms(figures['api_server']['median_request_s']):.1f} ms "
             "(median, GET of the ConfigMap on a kept-alive connection); a publication by the service makes two "
             "requests (GET + PATCH), the Python baseline one (PATCH)"]
    wrk = figures["serving"]["wrk"]
    cpu = "; ".join(
        f"{case} {wrk[case]['ours'].get('server_cpu_us_per_request', 0):.1f} vs {wrk[case]['nginx'].get('server_cpu_us_per_request', 0):.1f}"
        for case in wrk)
    notes.append(f"server CPU time per request in µs, ours vs nginx (noise-robust on a shared machine): {cpu}; "
                 f"wrk itself used {max(r['wrk_cpu_cores'] for c in wrk.values() for r in c.values()):.2f} cores at most")
    startup = figures["startup"]
    notes.append(f"start-up: the port accepted connections after {ms(startup['median_first_connection_s']):.1f} ms "
                 f"(median); the rest is the first publication")
    if not figures["publication"].get("same_document"):
        notes.append("the Python baseline wrote a different document from the service's")
    if meta["mode"] == "smoke":
        notes.append("smoke mode: short runs, the timings are not meaningful")
    if notes:
        lines += ["", *[f"Note: {note}." for note in notes]]
    return "\n".join(lines) + "\n"


def check_complete(figures: dict) -> list[str]:
    """What smoke mode (and CI) insists on: every figure present, zero errors."""
    problems = []
    for case, servers in figures["serving"]["wrk"].items():
        for server, result in servers.items():
            if result["requests"] <= 0:
                problems.append(f"{case}/{server}: no request completed")
            if result["errors"]:
                problems.append(f"{case}/{server}: {result['errors']} errors ({result['non_2xx']} non-2xx, "
                                f"{result['socket_errors']} socket)")
    for name in ("ours", "python"):
        if not figures["publication"][name]["wall_s"]:
            problems.append(f"publication/{name}: no run")
    if not figures["startup"]["ready_s"]:
        problems.append("startup: no run")
    return problems


# MARK: - Main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks kubeconfig-service against nginx and the Python baseline.")
    parser.add_argument("--binary", required=True, type=Path, help="the kubeconfig-service binary (a release build)")
    parser.add_argument("--smoke", action="store_true", help="short runs: checks that every figure is produced")
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "benchmark.md",
                        help="Markdown report; the JSON figures go beside it with the suffix .json")
    args = parser.parse_args(argv)
    binary = args.binary.resolve()
    if not os.access(binary, os.X_OK):
        parser.error(f"{binary} is not an executable")
    for tool in ("wrk", "nginx", TIME):
        if not (shutil.which(tool) or (tool == "nginx" and os.access("/usr/sbin/nginx", os.X_OK))):
            parser.error(f"{tool} is missing (Debian packages: wrk, nginx-light, time)")
    mode_name = "smoke" if args.smoke else "full"
    mode = MODES[mode_name]
    output_md = args.output
    output_json = output_md.with_suffix(".json") if output_md.suffix != ".json" else output_md.with_suffix(".out.json")

    # SIGTERM and SIGHUP end the run through the finally blocks, like Ctrl-C.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _: sys.exit(128 + number))

    started = time.monotonic()
    processes = Processes()
    figures = {"meta": {"mode": mode_name, "binary": str(binary), "cores": CORES, "machine": platform.machine(),
                        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                        "loadavg_before": os.getloadavg()[0], **mode}}
    with tempfile.TemporaryDirectory(prefix="kcs-bench-") as tmp:
        workdir = Path(tmp)
        api = KubeAPIServer(workdir / "api")
        try:
            api.start()
            reset_configmap(api)
            figures["api_server"] = measure_api_server(api)
            log(f"publication: {mode['publish_runs']} runs of each (plus a warm-up)")
            figures["publication"] = measure_publication(processes, api, binary, mode["publish_runs"])
            log(f"start-up: {mode['startup_runs']} runs")
            figures["startup"] = measure_startup(processes, api, binary, mode["startup_runs"], workdir)
            log("serving")
            figures["serving"] = measure_serving(processes, api, binary, mode, workdir)
        except BenchError as error:
            log(f"FAILED: {error}")
            return 1
        finally:
            processes.stop_all()
            api.stop()
    figures["binary"] = {"size_bytes": binary.stat().st_size}
    figures["meta"]["elapsed_s"] = time.monotonic() - started
    figures["meta"]["loadavg_after"] = os.getloadavg()[0]

    rows = build_rows(figures)
    figures["table"] = rows
    report = markdown(figures, rows)
    output_md.parent.mkdir(parents=True, exist_ok=True)
    output_md.write_text(report)
    output_json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(report, end="")
    log(f"wrote {output_md} and {output_json}")

    problems = check_complete(figures)
    for problem in problems:
        log(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
