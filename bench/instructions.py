#!/usr/bin/env python3
"""Instructions per request of `serve`, counted by valgrind's callgrind: repeatable on a shared,
noisy machine where requests/s and CPU time move from run to run (issue 26's profiling tool).

    PYTHONPATH=Tests/kube-api-server:Tests/python-support python3 bench/instructions.py BINARY [--requests N] [--path P]

Starts the API test server and `serve --auth none --site-probe-interval 0 --refresh-interval 0`
under callgrind, warms up with 50 requests, zeroes the counters (callgrind_control -z), sends N
requests (default 2000) one after another on one kept-alive connection, dumps the counters and
prints instructions per request (every thread of the process counted: the log writer's too).
Kernel time (system calls) is not counted: pair it with the benchmark's CPU per request. Under
valgrind threads take turns and a request takes longer than the log writer's 0.5 ms gather, so
the count has the writer's worst case (a wake-up and a write per line), and the second after the
last request (the writer's last batch) is counted too.

valgrind cannot read the debug information of the static release binary: give it a stripped one
(`strip -o /tmp/kcs kubeconfig-service`, or scripts/build-release.sh's, already stripped)."""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubeapi import KubeAPIServer
from loopback import Service

NAMESPACE, CONFIGMAP = "onap", "multisite-kubeconfig-configmap"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", type=Path)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--path", default="/kubeconfig")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kcs-callgrind-") as tmp:
        workdir = Path(tmp)
        api = KubeAPIServer(workdir / "api").start()
        counts = workdir / "callgrind.out"
        wrapper = workdir / "callgrind.sh"
        wrapper.write_text(f'#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={counts} '
                           f'{args.binary.resolve()} "$@"\n')
        wrapper.chmod(0o755)
        service = None
        try:
            api.put_configmap(NAMESPACE, CONFIGMAP, {})
            service = Service(api, "--auth", "none", "--site-probe-interval", "0", "--refresh-interval", "0",
                              binary=wrapper).start(timeout=120)
            service.wait_ready(timeout=120)
            connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)

            def get():
                connection.request("GET", args.path)
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    raise SystemExit(f"GET {args.path} answered {answer.status}")

            for _ in range(50):
                get()
            time.sleep(1)
            subprocess.run(["callgrind_control", "-z", str(service.pid)], check=True, capture_output=True)
            for _ in range(args.requests):
                get()
            time.sleep(1)  # the log writer's last batch
            subprocess.run(["callgrind_control", "-d", str(service.pid)], check=True, capture_output=True)
            time.sleep(1)
        finally:
            if service is not None:
                service.stop(timeout=60)
            api.stop()
        dumps = sorted(workdir.glob("callgrind.out.*"))
        if not dumps:
            raise SystemExit("callgrind wrote no dump after the requests (is callgrind_control on PATH?)")
        dump = dumps[0]
        total = next(int(line.split()[1]) for line in dump.read_text().splitlines()
                     if line.startswith(("summary:", "totals:")))
    print(f"{args.path}: {total / args.requests:,.0f} instructions per request ({total:,} for {args.requests})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
