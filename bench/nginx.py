"""nginx, the reference server: the same bytes served as static files, tuned as usual."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from common import CORES, BenchError
from loopback import Processes, StartError, free_port, wait_port


def start_nginx(processes: Processes, workdir: Path, files: dict[str, bytes],
                logged: tuple[str, ...] = ()) -> tuple[subprocess.Popen, int]:
    """nginx as a foreground process with its own prefix, serving `files` as static files,
    tuned as usual: one worker per core, keep-alive, sendfile, no access log but for the files
    named in `logged`, which get nginx's usual one (the combined format, buffered 64k), as every
    `GET /kubeconfig` of the service writes an audit line."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = workdir / ("nginx-logged" if logged else "nginx")
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
    content_types = {"healthz": "text/plain; charset=utf-8"}
    def log(name: str) -> str:
        return f" access_log {prefix}/access.log combined buffer=64k;" if name in logged else ""

    locations = "".join(
        f'    location = /{name} {{ default_type "{content_types.get(name, "application/yaml")}";{log(name)} }}\n'
        for name in files)
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
{locations}  }}
}}
"""
    (prefix / "nginx.conf").write_text(config)
    process = processes.popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
                              stdout=subprocess.DEVNULL, stderr=open(prefix / "stderr.log", "wb"))
    try:
        wait_port("127.0.0.1", port, process)
    except StartError as error:
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
