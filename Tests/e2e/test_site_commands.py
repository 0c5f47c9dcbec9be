"""`kubeconfig-service site ...` through the real binary, against the real service: `site list`
shows each site as an operator reads it (its credential, when its token and bootstrap credential
expire, its health) and `-o json` gives the service's own answer to scripts; a caller the
service refuses gets one line saying so, and nothing on standard output."""

from __future__ import annotations

import json
import os
import subprocess

from kubeapi import ADMIN_TOKEN

from loopback import BINARY, wait_until
from managed import managed_body, put_json


def site_list(service, token_file, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BINARY), "site", "list", "--service", f"http://127.0.0.1:{service.port}",
                           "--service-token-file", str(token_file), *args], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "HOME": "/nonexistent"})


def test_site_list_shows_each_site_as_the_operator_reads_it(services, remotes, central, tmp_path):
    service = services()
    remote = remotes("edge-1")
    assert put_json(service, "edge-1", managed_body(remote)).status == 201
    pasted = remote.create_token("apps", "deployer")
    static = {"server": "https://127.0.0.1:9", "certificateAuthorityData": managed_body(remote)["certificateAuthorityData"],
              "token": pasted}
    assert put_json(service, "static-1", static).status == 201
    # Both sites probed (every second here) before the table is read.
    assert wait_until(lambda: all(site.get("health", {}).get("checkedAt") for site in
                                  service.request("GET", "/sites", token=ADMIN_TOKEN).json()["sites"]), 10) is not None
    token_file = tmp_path / "admin.token"
    token_file.write_text(ADMIN_TOKEN + "\n")

    table = site_list(service, token_file)
    assert table.returncode == 0 and table.stderr == "", table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert table.stdout.splitlines()[0].split("   ")[0] == "NAME"
    assert set(rows) == {"central", "edge-1", "static-1"}
    assert "managed" in rows["edge-1"] and " up " in rows["edge-1"] and remote.url in rows["edge-1"]
    assert "in 59m" in rows["edge-1"] or "in 60m" in rows["edge-1"], rows["edge-1"]
    assert "static token" in rows["static-1"] and "down (SiteConnectionRefused)" in rows["static-1"], rows["static-1"]
    for secret in (ADMIN_TOKEN, pasted, remote.bootstrap):
        assert secret not in table.stdout

    as_json = site_list(service, token_file, "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    listed = json.loads(as_json.stdout)["sites"]
    assert [site["name"] for site in listed] == ["central", "edge-1", "static-1"]
    assert listed[1]["tokenManagement"] == "managed" and "bootstrapToken" not in as_json.stdout
    for secret in (ADMIN_TOKEN, pasted, remote.bootstrap):
        assert secret not in as_json.stdout

    nobody = central.add_identity("nobody")
    token_file.write_text(nobody)
    refused = site_list(service, token_file)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("kubeconfig-service site list: the service refused the list of sites: 403, "
                                     "Forbidden: "), refused.stderr
    assert refused.stderr.count("\n") == 1 and nobody not in refused.stderr
