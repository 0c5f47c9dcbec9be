"""Serving: wrk against `serve` (auth off, and auth on with a cached decision) next to nginx
serving the same bytes, and the service's footprint idle and after the load."""

from __future__ import annotations

import os
import time
from pathlib import Path

from common import BenchError, log, reset_configmap, start_service
from footprint import group_rss_bytes, rss_split_bytes, vm_hwm_bytes, vm_rss_bytes
from kubeapi import ADMIN_TOKEN, KubeAPIServer
from loopback import Processes, request
from nginx import start_nginx
from wrk import WRK_SCRIPT, run_wrk


def measure_serving(processes: Processes, api: KubeAPIServer, binary: Path, mode: dict, workdir: Path) -> dict:
    """wrk against `serve` (auth off, and auth on with a cached decision) and nginx serving the
    same bytes; the service's RSS idle after start-up and after the load."""
    script = workdir / "report.lua"
    script.write_text(WRK_SCRIPT)
    seconds, warmup = mode["wrk_seconds"], mode["wrk_warmup_seconds"]
    reset_configmap(api)
    open_service = start_service(processes, binary, api, "none", workdir / "serve-auth-none.log")
    authed_service = start_service(processes, binary, api, "kubernetes", workdir / "serve-auth-kubernetes.log")
    nginx = logged = None
    try:
        time.sleep(1.0)  # settle after start-up
        footprint = {
            "idle_rss_bytes": vm_rss_bytes(open_service.pid),
            "idle_rss_split_bytes": rss_split_bytes(open_service.pid),
            "idle_rss_bytes_auth_on": vm_rss_bytes(authed_service.pid),
        }
        served, probed = open_service.request("GET", "/kubeconfig"), open_service.request("GET", "/healthz")
        document, healthz = served.body, probed.body
        if served.status != 200 or probed.status != 200:
            raise BenchError(f"GET /kubeconfig answered {served.status}, /healthz {probed.status}")
        files = {"healthz": healthz, "kubeconfig": document}
        nginx, nginx_port = start_nginx(processes, workdir, files)
        # The same, logging each GET /kubeconfig as the service audits it (issue 26's reference).
        logged, logged_port = start_nginx(processes, workdir, files, logged=("kubeconfig",))
        footprint["nginx_idle_rss_bytes"] = group_rss_bytes(nginx.pid)
        for path, body in [("/healthz", healthz), ("/kubeconfig", document)]:
            for port in (nginx_port, logged_port):
                answer = request("127.0.0.1", port, "GET", path)
                if (answer.status, answer.body) != (200, body):
                    raise BenchError(f"nginx does not serve the service's bytes at {path}")

        def warm_cache():
            answer = authed_service.request("GET", "/kubeconfig", token=ADMIN_TOKEN)
            if (answer.status, answer.body) != (200, document):
                raise BenchError(f"auth-on GET /kubeconfig with the admin token answered {answer.status}")

        cases = [
            ("healthz", "/healthz", open_service.port, None),
            ("kubeconfig", "/kubeconfig", open_service.port, None),
            ("kubeconfig_auth", "/kubeconfig", authed_service.port, ADMIN_TOKEN),
        ]
        results = {}
        for name, path, port, token in cases:
            results[name] = {}
            servers = [("ours", port), ("nginx", nginx_port)]
            if path == "/kubeconfig":
                servers.append(("nginx_logged", logged_port))
            for server, server_port in servers:
                if token and server == "ours":
                    warm_cache()
                log(f"wrk {server} {path}{' (auth on)' if token else ''}: {warmup} s warm-up, {seconds} s measured")
                pgid = {"nginx": nginx.pid, "nginx_logged": logged.pid}.get(
                    server, (authed_service if token else open_service).pid)
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
        for server in (nginx, logged):
            if server is not None:
                processes.stop(server)
        open_service.stop()
        authed_service.stop()
