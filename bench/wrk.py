"""wrk, the load: one run against a port, its summary as JSON (a Lua done() hook), and the CPU
time the server and wrk itself spent."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from common import STEP_TIMEOUT, BenchError
from footprint import group_cpu_seconds

WRK_THREADS, WRK_CONNECTIONS = 2, 32

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
