#!/usr/bin/env python3
"""The benchmark of kubeconfig-service: serving, one publication, start-up and footprint, each
next to its reference; repairs and propagation of other writers' changes through the watch; and
the cost of publication and serving as the document grows. All on loopback against the
project's local HTTPS API server (Tests/kube-api-server). bench/README.md says what is measured
and how.

    PYTHONPATH=Tests/kube-api-server:Tests/python-support python3 bench/benchmark.py --binary PATH [--smoke] [--output FILE.md]

Prints Markdown tables and writes them to FILE.md (default bench-results/benchmark.md), with the
raw figures as JSON beside it (FILE.json). Targets are reported, never asserted: the exit code is
1 only when a figure could not be produced or a run had errors (smoke mode's check in CI).

This file runs the parts in turn; each is a module beside it: publication.py (one publication,
the API test server's time per request, start-up), serving.py (wrk next to nginx, and the
footprint), repairs.py (repairs and propagation through the watch), scaling.py (cost as the
document grows), report.py (the table, the Markdown, the completeness check); wrk.py, nginx.py
and footprint.py (/proc) are what they measure with; issuance.py times tokens on request, common.py what they share.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import documents  # bench/documents.py, beside this file
from common import CORES, ROOT, TIME, BenchError, log, reset_configmap
from kubeapi import KubeAPIServer  # Tests/kube-api-server on PYTHONPATH (scripts/benchmark.sh)
from loopback import Processes, StartError  # Tests/python-support on PYTHONPATH
from bootstrap_renewal import measure_bootstrap_renewal
from issuance import measure_issuance
from publication import measure_api_server, measure_publication, measure_startup
from repairs import measure_propagation, measure_repairs
from report import build_rows, check_complete, markdown
from scaling import measure_scaling
from serving import measure_serving

# Durations and counts per mode. The auth decision is cached 60 s: a wrk run stays well under it
# and the cache is warmed again right before each run.
MODES = {
    "full": {"wrk_seconds": 15, "wrk_warmup_seconds": 3, "publish_runs": 7, "startup_runs": 7,
             "repair_edits": 50, "propagation_additions": 50, "settle_seconds": 1.0,
             "scaling_sites": [1, 10, 100, 250], "scaling_publish_runs": 5, "scaling_wrk_seconds": 5,
             "scaling_wrk_warmup_seconds": 1, "scaling_latency_samples": 3, "issuance_samples": 200,
              "bootstrap_renewals": 5, "bootstrap_lifetime_seconds": 20},
    "smoke": {"wrk_seconds": 2, "wrk_warmup_seconds": 1, "publish_runs": 3, "startup_runs": 3,
              "repair_edits": 10, "propagation_additions": 10, "settle_seconds": 0.5,
              "scaling_sites": [1, 250], "scaling_publish_runs": 2, "scaling_wrk_seconds": 1,
              "scaling_wrk_warmup_seconds": 0, "scaling_latency_samples": 1, "issuance_samples": 20,
              "bootstrap_renewals": 1, "bootstrap_lifetime_seconds": 10},
}


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
            pool = documents.ca_pool(workdir / "site-cas")
            log(f"repairs: {mode['repair_edits']} edits of our entry by another writer")
            figures["repair"] = measure_repairs(processes, api, binary, mode["repair_edits"], mode["settle_seconds"],
                                                pool, workdir)
            log(f"propagation: {mode['propagation_additions']} sites added by another writer")
            figures["propagation"] = measure_propagation(processes, api, binary, mode["propagation_additions"],
                                                         mode["settle_seconds"], pool, workdir)
            log(f"scaling: documents of {', '.join(map(str, mode['scaling_sites']))} sites")
            figures["scaling"] = measure_scaling(processes, api, binary, mode, pool, workdir / "scaling")
            log(f"issuance: {mode['issuance_samples']} tokens of each site for a caller")
            figures["issuance"] = measure_issuance(processes, binary, mode["issuance_samples"], workdir)
            log(f"bootstrap renewal: {mode['bootstrap_renewals']} renewals of a "
                f"{mode['bootstrap_lifetime_seconds']} s bootstrap credential")
            figures["bootstrap_renewal"] = measure_bootstrap_renewal(
                processes, binary, mode["bootstrap_renewals"], mode["bootstrap_lifetime_seconds"], workdir)
        except (BenchError, StartError) as error:
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
