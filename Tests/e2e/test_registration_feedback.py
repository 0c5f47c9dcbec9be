"""What `PUT /sites/NAME` tells its sender, through the real binary: the probe of a site made
before it is written (`health`, a warning when it failed, `?verify=true` refusing such a site with
422 and nothing written), and, for each mistake newcomers make sending a registration, an answer
that names the fix. The mistakes are made with the real tools that make them: kubectl's
`config view --minify` without `--raw`, curl's `-d @file`.

Remote sites are instances of the project's Kubernetes API test server (test_sites.remote_config);
a hanging remote is a socket that accepts connections and never answers."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest
import yaml
from kubeapi import ADMIN_TOKEN, KubeAPIServer

from loopback import kubectl
from managed import managed_body, put_json, put_kubeconfig, site
from redaction import load_json, redact
from support import CONFIGMAP, NAMESPACE
from test_sites import ca_data, json_site, put, remote_config, sites


@pytest.fixture
def remote(tmp_path):
    server = KubeAPIServer(tmp_path / "remote", config=remote_config()).start()
    yield server
    server.stop()


@pytest.fixture
def hanging_port():
    """A port whose connections are accepted by the kernel and never answered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def error_of(answer) -> dict:
    return load_json(answer.body)["error"]


def document_version(api) -> str:
    return api.get_configmap(NAMESPACE, CONFIGMAP)["metadata"]["resourceVersion"]


def test_a_healthy_site_is_answered_with_its_probe_and_shown_so_at_once(api, serve, remote):
    service = serve("--site-probe-interval", "3600")
    service.wait_ready()
    token = remote.create_token("apps", "deployer")
    answer = put(service, "edge-1", json_site(remote, token))
    assert answer.status == 201, redact(answer.text)
    body = load_json(answer.body)
    assert body["site"]["health"]["reachable"] is True
    assert body["site"]["health"]["authenticated"] is True
    assert body["site"]["health"]["user"] == "system:serviceaccount:apps:deployer"
    assert "warnings" not in body
    assert token not in answer.text
    shown = sites(service)["edge-1"].get("health") or {}
    assert {key: shown.get(key) for key in ("reachable", "authenticated", "user")} == {
        key: body["site"]["health"][key] for key in ("reachable", "authenticated", "user")}, shown


@pytest.mark.parametrize("fault", ["stopped", "wrong-ca", "revoked-token", "unresolvable"])
def test_a_site_whose_probe_fails_is_written_with_a_warning_and_refused_with_verify(
        api, serve, remote, tmp_path, fault):
    service = serve("--site-probe-interval", "0")
    service.wait_ready()
    token = remote.create_token("apps", "deployer")
    site = json.loads(json_site(remote, token))
    expected = {"stopped": "SiteConnectionRefused", "wrong-ca": "SiteTLSVerificationFailed",
                "revoked-token": "SiteUnauthorized", "unresolvable": "SiteDNSFailed"}[fault]
    other = None
    if fault == "stopped":
        remote.down()
    elif fault == "wrong-ca":
        other = KubeAPIServer(tmp_path / "other", config=remote_config()).start()
        site["certificateAuthorityData"] = ca_data(other)
    elif fault == "revoked-token":
        remote.revoke_token(token)
    else:
        site["server"] = "https://no-such-site.invalid:6443"
    try:
        before = document_version(api)
        refused = put(service, "edge-1?verify=true", json.dumps(site))
        assert refused.status == 422, redact(refused.text)
        error = error_of(refused)
        assert error["code"] == "SiteVerificationFailed"
        assert "was not written" in error["message"] and expected in error["message"], error["message"]
        assert token not in refused.text
        assert document_version(api) == before, "a refused verification wrote the document"
        assert "edge-1" not in sites(service)

        written = put(service, "edge-1", json.dumps(site))
        assert written.status == 201, redact(written.text)
        body = load_json(written.body)
        assert len(body["warnings"]) == 1 and expected in body["warnings"][0], body["warnings"]
        assert body["site"]["health"]["reachable"] is (fault == "revoked-token")
        assert "edge-1" in sites(service)
        assert token not in written.text
    finally:
        if other is not None:
            other.stop()


def test_a_hanging_site_is_answered_within_the_api_timeout(api, serve, remote, hanging_port):
    service = serve("--site-probe-interval", "0", "--api-timeout", "2")
    service.wait_ready()
    site = json.loads(json_site(remote, "some-token"))
    site["server"] = f"https://127.0.0.1:{hanging_port}"
    started = time.monotonic()
    answer = service.request("PUT", "/sites/edge-1?verify=true", token=ADMIN_TOKEN,
                             headers={"Content-Type": "application/json"}, body=json.dumps(site), timeout=15)
    elapsed = time.monotonic() - started
    assert answer.status == 422, redact(answer.text)
    assert "SiteTimeout" in error_of(answer)["message"]
    assert elapsed < 8, f"the answer took {elapsed:.1f} s with --api-timeout 2"


def test_common_mistakes_are_answered_with_their_fix_and_write_nothing(api, serve, remote, tmp_path):
    service = serve("--site-probe-interval", "0")
    service.wait_ready()
    token = remote.create_token("apps", "deployer")
    exported = remote.write_kubeconfig(tmp_path / "edge.kubeconfig", token=token)
    before = document_version(api)

    # A kubeconfig sent as JSON, and a JSON registration sent as a kubeconfig.
    answer = put(service, "edge-1", exported.read_text(), content_type="application/json")
    assert answer.status == 400 and "Content-Type: application/yaml" in error_of(answer)["message"], answer.text
    answer = put(service, "edge-1", json_site(remote, token), content_type="application/yaml")
    assert answer.status == 400, redact(answer.text)
    assert "a YAML body must be a kubeconfig" in error_of(answer)["message"]
    assert "Content-Type: application/json" in error_of(answer)["message"]

    # Malformed JSON: where.
    answer = put(service, "edge-1", '{\n  "server": "https://x:6443",\n  "token" "t"\n}')
    assert error_of(answer)["message"] == "body: is not valid JSON: line 3, column 11: expected ':' after the key, found '\"'"

    # What kubectl exports without --raw.
    minified = kubectl(exported, "config", "view", "--minify", home=tmp_path)
    assert minified.returncode == 0, minified.stderr
    assert "DATA+OMITTED" in minified.stdout and "REDACTED" in minified.stdout
    answer = put(service, "edge-1", minified.stdout, content_type="application/yaml")
    assert answer.status == 400
    message = error_of(answer)["message"]
    assert "DATA+OMITTED" in message and "kubectl config view --minify --raw" in message, message

    # What curl -d @file sends: the file without its line breaks; first with curl's own content type.
    def curl(*args) -> dict:
        command = ["curl", "-s", "-X", "PUT", "-H", f"Authorization: Bearer {ADMIN_TOKEN}", *args,
                   f"http://127.0.0.1:{service.port}/sites/edge-1"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        return json.loads(result.stdout)["error"]
    form = curl("-d", f"@{exported}")
    assert form["code"] == "UnsupportedMediaType" and "-H 'Content-Type: application/yaml'" in form["message"], form
    stripped = curl("-H", "Content-Type: application/yaml", "-d", f"@{exported}")
    assert stripped["code"] == "InvalidSite" and "curl --data-binary @FILE" in stripped["message"], stripped
    for error in (form, stripped):
        assert token not in json.dumps(error)

    assert document_version(api) == before, "a refused registration wrote the document"
    # The same file sent as it should be is registered.
    fixed = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
                            "-H", f"Authorization: Bearer {ADMIN_TOKEN}", "-H", "Content-Type: application/yaml",
                            "--data-binary", f"@{exported}", f"http://127.0.0.1:{service.port}/sites/edge-1"],
                           capture_output=True, text=True, timeout=30)
    assert fixed.stdout == "201"
    assert yaml.safe_load(exported.read_text())["users"][0]["user"]["token"] == token


def test_a_managed_registration_answers_the_renewal_time_get_shows(services, remotes, tmp_path):
    """The PUT's `tokenRenewsAt` is the one GET /sites shows for that token, for a new, a changed
    and an identical registration; a managed site carries no pre-write probe (issuing its token
    proved the server and the bootstrap credential)."""
    service = services()
    service.wait_ready()
    remote = remotes("edge-1")
    for expiration in (600, 900, 900, 1200):
        if expiration == 900:
            # verify=true changes nothing for a managed site: issuing its token verified it.
            answer = put_json(service, "edge-1", managed_body(remote, expirationSeconds=expiration),
                              query="?verify=true")
        elif expiration == 1200:
            # The same through a kubeconfig and `?serviceAccount=`.
            query = {"serviceAccount": "deployer", "expirationSeconds": str(expiration)}
            answer = put_kubeconfig(service, "edge-1", remote, tmp_path, query=query)
        else:
            answer = put_json(service, "edge-1", managed_body(remote, expirationSeconds=expiration))
        assert answer.status in (200, 201), redact(answer.text)
        shown = load_json(answer.body)["site"]
        assert shown["tokenManagement"] == "managed"
        assert "health" not in shown
        assert shown["tokenRenewsAt"] == site(service, "edge-1")["tokenRenewsAt"], expiration
