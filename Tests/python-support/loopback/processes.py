"""Local processes: started in a process group of their own (Processes), stopped with a signal
and then SIGKILL (stop), the ports they listen on (free_port, wait_port), and polling for a
condition (wait_until)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

KUBECTL = "/usr/bin/kubectl"


class StartError(RuntimeError):
    """A process did not come up: it exited, or it did not listen or answer in time."""


def wait_until(condition, timeout: float = 10.0, interval: float = 0.05) -> float | None:
    """Polls `condition()` until it holds: the seconds that took, or None after `timeout`.
    (0.0 is a success: compare with `is not None`.)"""
    started = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - started
        if time.monotonic() - started >= timeout:
            return None
        time.sleep(interval)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0, group: bool = False) -> int:
    """Sends `sig` unless the process has ended, waits up to `timeout` seconds, then sends SIGKILL;
    its exit code. With `group`, the signals go to the process group that `start_new_session`
    made (its pgid is its pid), so its children end too."""
    if process.poll() is None:
        _send(process, sig, group)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _send(process, signal.SIGKILL, group)
            process.wait()
    return process.returncode


def _send(process: subprocess.Popen, sig: int, group: bool) -> None:
    if not group:
        process.send_signal(sig)
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


class Processes:
    """Processes started in a process group each, so that stopping one ends its children too
    (nginx's workers), and `stop_all` ends whatever is still running when a run fails half-way."""

    def __init__(self):
        self.started: list[subprocess.Popen] = []

    def popen(self, args, **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 10.0, sig: int = signal.SIGTERM) -> int:
        code = stop(process, sig, timeout, group=True)
        if process in self.started:
            self.started.remove(process)
        return code

    def stop_all(self):
        for process in reversed(list(self.started)):
            self.stop(process, timeout=5)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_port(host: str, port: int, process: subprocess.Popen | None = None, timeout: float = 15.0,
              interval: float = 0.01) -> None:
    """Until `host`:`port` accepts a connection. StartError when `process` (if given) exits first,
    or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise StartError(f"process {process.args[0]} exited ({process.returncode}) before listening "
                             f"on {host}:{port}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise StartError(f"nothing listens on {host}:{port} after {timeout:g} s") from None
            time.sleep(interval)


def kubectl(kubeconfig, *args, home) -> subprocess.CompletedProcess:
    """`kubectl --kubeconfig KUBECONFIG ARGS...` with HOME at `home` (its cache goes there), text
    output captured."""
    return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "HOME": str(home)})
