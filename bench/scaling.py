"""Cost as the document grows: for documents of 1 to 250 sites, `publish` (wall time, CPU, peak
RSS, the logged merge and serialisation), serving next to nginx, and a few repairs and
propagations on each."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import documents  # bench/documents.py, beside this file
from common import (CONFIGMAP, CONFIGMAP_PATH, KEY, MIB, NAMESPACE, STEP_TIMEOUT, TIME, BenchError, api_json,
                    log, published_document, start_service)
from footprint import rss_split_bytes, vm_rss_bytes
from kubeapi import KubeAPIServer
from loopback import Processes, Service
from nginx import start_nginx
from repairs import (DocumentPoller, ObjectWatch, our_server, service_writes, time_propagation, time_repair,
                     wait_service_watching)
from wrk import WRK_SCRIPT, run_wrk


def rusage_run(processes: Processes, args: list[str], env: dict, workdir: Path) -> dict:
    """Runs a command to its end under /usr/bin/time -v: wall time (around the process), user and
    system CPU from wait4 (µs, where time prints 10 ms; /usr/bin/time's own share, about 1 ms,
    included), peak RSS as time reports it, and standard error (the command's and time's).

    Peak RSS comes from time, not from wait4: a child exec'd straight from this process would
    carry this process's own high-water mark (the kernel keeps it across exec)."""
    err_path = workdir / "rusage-stderr.log"
    with open(err_path, "wb") as err:
        started = time.perf_counter()
        process = processes.popen([TIME, "-v", *args], env=env, stdout=subprocess.DEVNULL, stderr=err)
        hung = threading.Timer(STEP_TIMEOUT, lambda: os.killpg(process.pid, signal.SIGKILL))
        hung.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        hung.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    processes.stop(process)
    stderr = err_path.read_text(errors="replace")
    if process.returncode == -signal.SIGKILL:
        raise BenchError(f"{args[0]} {args[1]} did not finish within {STEP_TIMEOUT} s")
    if process.returncode != 0:
        raise BenchError(f"{args[0]} {args[1]} failed ({process.returncode}):\n{stderr[-3000:]}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if not match:
        raise BenchError(f"no peak RSS in {TIME}'s output:\n{stderr[-2000:]}")
    return {"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_bytes": int(match.group(1)) * 1024, "stderr": stderr}


def logged_publication(log_text: str) -> dict:
    """The "publication succeeded" JSON log line."""
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == "publication succeeded":
            return entry
    raise BenchError(f"no 'publication succeeded' line in the log:\n{log_text[-2000:]}")


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points."""
    if len(points) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else None


def latency_at_size(api: KubeAPIServer, service: Service, mode: dict, pool: list[str], size: int) -> dict:
    """A few repairs and propagations on this document, as the repair and propagation parts time
    them (fewer than the service's repair burst)."""
    samples = mode["scaling_latency_samples"]
    watch = ObjectWatch(api, api_json(api, "GET", CONFIGMAP_PATH)["metadata"]["resourceVersion"])
    poller = None
    try:
        wait_service_watching(api, service)
        original = our_server(api)
        api.requests(clear=True)
        repairs, seen = [], 0
        for index in range(samples):
            latency, seen, _ = time_repair(api, watch, seen, original, f"https://edited-{size}-{index}.example.invalid:6443",
                                           service)
            repairs.append(latency)
        poller = DocumentPoller(service)
        additions = [time_propagation(api, poller, site)[0]
                     for site in documents.other_sites(samples, pool, prefix=f"late-{size}")]
        time.sleep(mode["settle_seconds"])
        writes = service_writes(api)
    finally:
        watch.close()
        if poller is not None:
            poller.close()
    return {"repair_s": repairs, "propagation_s": additions, "service_writes": writes,
            "extra_writes": writes["succeeded"] - samples}


def measure_scaling(processes: Processes, api: KubeAPIServer, binary: Path, mode: dict, pool: list[str],
                    workdir: Path) -> dict:
    """For each document size: `publish` into a ConfigMap that holds the other sites (so every run
    writes), then `serve` on that document: GET /kubeconfig and ?site=central next to nginx serving
    the same bytes, and the service's RSS after the load."""
    workdir.mkdir(exist_ok=True)
    for folder in (workdir.parent, workdir):
        folder.chmod(0o755)  # nginx's workers (nobody) serve from below it
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)
    env = {**os.environ, **api.env()}
    publish = [str(binary), "publish", "--service-account-dir", str(api.sa_dir), "--log-format", "json"]
    seconds, warmup = mode["scaling_wrk_seconds"], mode["scaling_wrk_warmup_seconds"]
    results = {}
    for size in mode["scaling_sites"]:
        others = documents.document(documents.other_sites(size - 1, pool))
        folder = workdir / f"scaling-{size}"
        folder.mkdir()
        runs = []
        for run in range(mode["scaling_publish_runs"] + 1):
            api.put_configmap(NAMESPACE, CONFIGMAP, {KEY: others} if others else {})
            measured = rusage_run(processes, publish, env, folder)
            entry = logged_publication(measured.pop("stderr"))
            if entry.get("outcome") != "changed":
                raise BenchError(f"publish into the {size}-site document did not write: {entry}")
            measured["local_ms"] = float(entry["local_ms"])
            measured["logged_duration_ms"] = float(entry["duration_ms"])
            if run > 0:  # the first is a warm-up (page cache)
                runs.append(measured)
        document_bytes = len(published_document(api).encode())
        log(f"{size} site{'s' if size > 1 else ''}: the document is {document_bytes:,} bytes ({document_bytes / MIB:.2f} MiB of the 1 MiB limit); "
            f"publish {statistics.median(r['wall_s'] for r in runs) * 1000:.1f} ms")
        result = {"sites": size, "document_bytes": document_bytes, "publish_runs": runs}
        for key in ("wall_s", "cpu_s", "user_s", "sys_s", "local_ms", "peak_rss_bytes"):
            result[f"publish_median_{key}"] = statistics.median(r[key] for r in runs)
        service = start_service(processes, binary, api, "none", folder / "serve.log",
                                ("--site-probe-interval", "0", "--refresh-interval", "0"))
        nginx = None
        try:
            whole, one_site = service.request("GET", "/kubeconfig"), service.request("GET", "/kubeconfig?site=central")
            body, site_body = whole.body, one_site.body
            if whole.status != 200 or one_site.status != 200:
                raise BenchError(f"{size} sites: GET /kubeconfig answered {whole.status}, "
                                 f"?site=central {one_site.status}")
            time.sleep(0.5)
            result["idle_rss_bytes"] = vm_rss_bytes(service.pid)
            result["idle_rss_split_bytes"] = rss_split_bytes(service.pid)
            nginx, nginx_port = start_nginx(processes, folder, {"kubeconfig": body, "kubeconfig-site": site_body})
            result["served_bytes"] = {"kubeconfig": len(body), "site": len(site_body)}
            result["wrk"] = {}
            for case, path, nginx_path in [("kubeconfig", "/kubeconfig", "/kubeconfig"),
                                           ("site", "/kubeconfig?site=central", "/kubeconfig-site")]:
                result["wrk"][case] = {}
                for server, port, server_path, pgid in [("ours", service.port, path, service.pid),
                                                        ("nginx", nginx_port, nginx_path, nginx.pid)]:
                    log(f"{size} sites: wrk {server} {server_path}: {warmup} s warm-up, {seconds} s measured")
                    if warmup:
                        run_wrk(port, server_path, warmup, script)
                    result["wrk"][case][server] = run_wrk(port, server_path, seconds, script, server_pgid=pgid)
            time.sleep(0.5)
            result["after_load_rss_bytes"] = vm_rss_bytes(service.pid)
            result["after_load_rss_split_bytes"] = rss_split_bytes(service.pid)
            result["latency"] = latency_at_size(api, service, mode, pool, size)
        finally:
            if nginx is not None:
                processes.stop(nginx)
            service.stop()
        results[str(size)] = result
    sizes = [results[str(size)] for size in mode["scaling_sites"]]
    growth = {
        "publish_wall_ms": slope([(r["sites"], r["publish_median_wall_s"] * 1000) for r in sizes]),
        "publish_cpu_ms": slope([(r["sites"], r["publish_median_cpu_s"] * 1000) for r in sizes]),
        "local_ms": slope([(r["sites"], r["publish_median_local_ms"]) for r in sizes]),
        "document_bytes": slope([(r["sites"], r["document_bytes"]) for r in sizes]),
        "kubeconfig_cpu_us_per_request": slope([(r["sites"], r["wrk"]["kubeconfig"]["ours"]["server_cpu_us_per_request"])
                                                for r in sizes]),
        "site_cpu_us_per_request": slope([(r["sites"], r["wrk"]["site"]["ours"]["server_cpu_us_per_request"])
                                          for r in sizes]),
        "after_load_rss_bytes": slope([(r["sites"], r["after_load_rss_bytes"]) for r in sizes]),
        "idle_rss_anon_bytes": slope([(r["sites"], r["idle_rss_split_bytes"]["anon"]) for r in sizes]),
        "repair_ms": slope([(r["sites"], value * 1000) for r in sizes for value in r["latency"]["repair_s"]]),
        "propagation_ms": slope([(r["sites"], value * 1000) for r in sizes for value in r["latency"]["propagation_s"]]),
    }
    return {"sizes": results, "growth_per_site": growth}
