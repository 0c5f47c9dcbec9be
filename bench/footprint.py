"""What a process costs, read from /proc: resident memory (VmRSS, its peak VmHWM, the anonymous
and file-backed parts) and CPU time, of one process or of a process group (nginx's master and
workers)."""

from __future__ import annotations

import os
from pathlib import Path

from common import BenchError


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
