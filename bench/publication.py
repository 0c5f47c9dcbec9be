"""One publication (`publish` next to the Python baseline, under /usr/bin/time), the API test
server's own time per request, and start-up (process start to the first /healthz 200)."""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from common import (CONFIGMAP, NAMESPACE, ROOT, STEP_TIMEOUT, TIME, BenchError, published_document,
                    reset_configmap)
from kubeapi import ADMIN_TOKEN, KubeAPIServer
from loopback import Processes, connect, free_port

BASELINE = ROOT / "bench" / "baseline_publish.py"


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
    connection = connect(api.host, api.port, api.ssl_context(), timeout=10)
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
