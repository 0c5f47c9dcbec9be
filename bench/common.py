"""What every part of the benchmark shares: where the document lives in the API test server,
units and limits, the log, BenchError, and `serve` as the benchmark runs it (start_service).
Processes, `serve` as a subprocess and requests are the `loopback` package's
(Tests/python-support), shared with the tests."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

from kubeapi import ADMIN_TOKEN, KubeAPIServer  # Tests/kube-api-server on PYTHONPATH (scripts/benchmark.sh)
from loopback import Processes, Service  # Tests/python-support on PYTHONPATH

ROOT = Path(__file__).resolve().parents[1]

NAMESPACE = "onap"
CONFIGMAP = "multisite-kubeconfig-configmap"
KEY = "kubeconfig"
CONFIGMAP_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}"
TIME = "/usr/bin/time"
MIB = 1024 * 1024
CORES = os.cpu_count() or 1
STEP_TIMEOUT = 60  # seconds any single process may take before it counts as hung


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# MARK: - The document and the service


def start_service(processes: Processes, binary: Path, api: KubeAPIServer, auth: str, log_file: Path,
                  extra_args: tuple[str, ...] = ()) -> Service:
    """`serve --auth AUTH` on 127.0.0.1, port 0, in a process group of its own, its log written to
    `log_file`; once GET /healthz answers 200."""
    service = Service(api, "--auth", auth, *extra_args, binary=binary, processes=processes, log_file=log_file)
    service.start()
    service.wait_ready(interval=0.01)
    return service


def reset_configmap(api: KubeAPIServer) -> None:
    """The ConfigMap as Helm creates it: empty, so that every publication writes."""
    api.put_configmap(NAMESPACE, CONFIGMAP, {})


def published_document(api: KubeAPIServer) -> str:
    configmap = api.get_configmap(NAMESPACE, CONFIGMAP) or {}
    document = (configmap.get("data") or {}).get(KEY)
    if not document:
        raise BenchError(f"configmap {NAMESPACE}/{CONFIGMAP} holds no {KEY!r} after a publication")
    return document


def api_json(api: KubeAPIServer, method: str, path: str, body=None) -> dict:
    answer = api.request(method, path, body, token=ADMIN_TOKEN)
    if answer.status != 200:
        raise BenchError(f"{method} {path} answered {answer.status}: {answer.body[:300]!r}")
    return answer.json()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: with fewer than 100 values, p99 is the largest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
