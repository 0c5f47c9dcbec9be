"""The README's quick start, as a newcomer follows it: `scripts/run-local.sh` started as the README
says, then each shell block of the "Quick start" section run as written (only the temporary folder
run-local.sh made and its port filled in), checking that each does what the README says it does.
A README edit that breaks a command, or a run-local.sh change the README no longer matches, fails
here."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from loopback import BINARY, free_port, request, stop, wait_until

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def quick_start_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def answers(port: int) -> bool:
    try:
        return request("127.0.0.1", port, "GET", "/healthz", timeout=2).status == 200
    except OSError:
        return False


@pytest.fixture
def run_local():
    """`scripts/run-local.sh` on a free port (PORT=), until its service answers /healthz; stopped
    with everything it started. Yields (port, the folder it wrote the kubeconfigs to)."""
    port = free_port()
    process = subprocess.Popen(["scripts/run-local.sh"], cwd=REPO, env={**os.environ, "PORT": str(port)},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    try:
        ready = wait_until(lambda: answers(port), timeout=300, interval=0.5)
        assert ready is not None, "run-local.sh did not serve within 5 minutes:\n" + "".join(output)
        printed = "".join(output)
        folder = re.search(r"--data-binary @(\S+)/edge-1\.kubeconfig", printed)
        assert folder, "run-local.sh no longer prints the edge-1 registration:\n" + printed
        yield port, folder.group(1)
    finally:
        stop(process, signal.SIGTERM, timeout=15, group=True)


def test_the_quick_start_registers_edge_1_sees_it_healthy_and_reads_through_it(run_local, tmp_path):
    port, folder = run_local
    blocks = quick_start_blocks()
    assert len(blocks) == 3, "the quick start's shell blocks changed: update this test with them"

    def run(block: str) -> str:
        script = (block.replace("/tmp/tmp.XXXX", folder).replace("127.0.0.1:8080", f"127.0.0.1:{port}")
                  .replace(".build/debug/kubeconfig-service", str(BINARY)))
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                                text=True, timeout=60, env={**os.environ, "TOKEN": "admin-token"})
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    # Add your first remote cluster: its accounts and rights created, the site registered, managed
    # and up.
    added = run(blocks[0])
    assert "created serviceaccount apps/kubeconfig-bootstrap" in added, added
    assert "registered site edge-1 with the service (created)" in added, added
    row = [line for line in added.splitlines() if line.startswith("edge-1 ")]
    assert row and "managed" in row[0] and " up " in row[0], added
    assert "admin-token" not in added

    # See it healthy: GET /sites/edge-1 as the README's prose shows it.
    shown = json.loads(request("127.0.0.1", port, "GET", "/sites/edge-1", token="admin-token").body)
    assert shown["tokenManagement"] == "managed" and shown["tokenRenewsAt"], shown
    assert shown["health"]["reachable"] is True and shown["health"]["authenticated"] is True, shown

    # Point Cloudify at it: the document, read through by kubectl at edge-1 with the issued token.
    assert "workload" in run(blocks[1])

    # Or register a kubeconfig as it is: 201, probed before the answer, healthy.
    registered = json.loads(run(blocks[2]))
    assert registered["created"] is True, registered
    assert registered["site"]["health"]["reachable"] is True
    assert registered["site"]["health"]["authenticated"] is True
    assert "warnings" not in registered
