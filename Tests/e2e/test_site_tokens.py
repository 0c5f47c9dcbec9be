"""`POST /sites/NAME/token` through the real binary: a caller whom RBAC allows `create` on one
site's `sites/token` (API group kubeconfig-service.onap.org) gets a fresh token of that site's
deployer account as an ExecCredential, minted at the site with its bootstrap credential, and
kubectl reads the site with it; one site's right is not another's, nor the document's; a site
whose credential is not issued here has none to give; each issuance is audited by fingerprint and
jti, never the token; a caller asking too often waits.

The central cluster and the remote sites are the project's Kubernetes API test servers
(managed.py); the service reviews callers with TokenReview and SubjectAccessReview at the central
one, as in a cluster."""

from __future__ import annotations

import base64
import datetime
import json
import os
import select
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubeapi import ADMIN_TOKEN, READER_TOKEN

from loopback import BINARY, KUBECTL, free_port, kubectl, wait_until
from managed import DEPLOYER, NAMESPACE, SERVICE_USER, managed_body, put_json, start_central, start_service
from redaction import load_json, redact
from support import CONFIGMAP

GROUP = "kubeconfig-service.onap.org"


def site_token_rule(*sites: str) -> dict:
    return {"verbs": ["create"], "apiGroups": [GROUP], "resources": ["sites/token"], "namespaces": [NAMESPACE],
            "resourceNames": list(sites)}


def ask(service, site: str, token: str, body: dict | None = None):
    return service.request("POST", f"/sites/{site}/token", token=token,
                           headers={"Content-Type": "application/json"}, body=json.dumps(body) if body else None)


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


EXAMPLE_ROLE = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "site-tokens-rbac.yaml"


def example_rules() -> list[dict]:
    """deploy/examples/site-tokens-rbac.yaml's Role as the API test server's rules: what the
    documented Role grants is what these tests' operator holds."""
    role = next(o for o in yaml.safe_load_all(EXAMPLE_ROLE.read_text()) if o["kind"] == "Role")
    return [{**rule, "namespaces": [role["metadata"]["namespace"]]} for rule in role["rules"]]


@pytest.fixture
def edge(central, services, remotes):
    """The service with edge-1 registered as a managed site; an operator holding the example Role
    (edge-1's tokens only)."""
    service = services("--credential-requests-per-minute", "3")
    remote = remotes("edge-1", cap=900)
    registered = put_json(service, "edge-1", managed_body(remote))
    assert registered.status == 201, redact(registered.text)
    operator = central.add_identity("edge-1-operator", rules=example_rules())
    return service, remote, operator


def test_a_caller_allowed_a_site_gets_its_deployers_token_and_kubectl_reads_the_site_with_it(edge, tmp_path):
    service, remote, operator = edge
    before = len(remote.token_requests("apps", "deployer"))
    answer = ask(service, "edge-1", operator, {"expirationSeconds": 3600})
    assert answer.status == 200, redact(answer.text)
    credential = json.loads(answer.body)
    assert (credential["apiVersion"], credential["kind"]) == ("client.authentication.k8s.io/v1", "ExecCredential")
    token = credential["status"]["token"]
    # Minted at the site, now, for its deployer; what the site granted (its cap, 900 s) is what it says.
    assert len(remote.token_requests("apps", "deployer")) == before + 1
    assert claims(token)["sub"] == DEPLOYER
    expires = datetime.datetime.fromisoformat(credential["status"]["expirationTimestamp"].replace("Z", "+00:00"))
    assert abs(expires.timestamp() - claims(token)["exp"]) <= 1
    assert 850 <= claims(token)["exp"] - claims(token)["iat"] <= 900
    # Not the token the document holds: the caller's own.
    assert token not in service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).text

    kubeconfig = remote.write_kubeconfig(tmp_path / "edge-1.kubeconfig", token=token, namespace="apps")
    read = kubectl(kubeconfig, "get", "configmap", "workload", "-o", "name", home=tmp_path)
    assert read.returncode == 0 and read.stdout.strip() == "configmap/workload", read.stderr

    # Audited by fingerprint and jti, with the caller; the token nowhere the service speaks.
    issued = service.wait_log("issued a token to a caller")[0]
    assert (issued["user"], issued["site"], issued["jti"]) == ("edge-1-operator", "edge-1", claims(token)["jti"])
    metrics = service.request("GET", "/metrics").text
    assert 'kubeconfig_site_tokens_issued_total{site="edge-1"} 1' in metrics
    everything = "\n".join([service.logs, metrics, service.request("GET", "/status", token=ADMIN_TOKEN).text,
                            service.request("GET", "/sites", token=ADMIN_TOKEN).text])
    assert token not in everything and token.split(".")[2] not in everything

    # A removed site's series goes with it, as its other series do.
    assert service.request("DELETE", "/sites/edge-1", token=ADMIN_TOKEN).status == 200
    assert wait_until(lambda: "kubeconfig_site_tokens_issued_total{" not in service.request("GET", "/metrics").text,
                      10) is not None, "a removed site's issued-token series stayed"


def test_a_site_removed_while_a_callers_token_is_minted_leaves_no_series_behind(edge):
    """The invariant: a removed site has no series. A mint in flight when the site is removed
    must not bring its counter back: the remote holds the TokenRequest 2 s, the site is deleted
    meanwhile, then the mint ends."""
    service, remote, operator = edge
    held = remote.add_fault(method="POST", path="/api/v1/namespaces/apps/serviceaccounts/deployer/token",
                            action="delay", seconds=2, count=1)
    answers = []
    asking = threading.Thread(target=lambda: answers.append(ask(service, "edge-1", operator)))
    asking.start()
    # The fault is used up as the TokenRequest arrives (it is logged only once answered).
    assert wait_until(lambda: any(f["id"] == held["id"] and f["count"] == 0 for f in remote.faults()), 5) is not None
    assert service.request("DELETE", "/sites/edge-1", token=ADMIN_TOKEN).status == 200
    asking.join(timeout=30)
    assert answers and answers[0].status == 200, answers and redact(answers[0].text)
    time.sleep(0.5)
    assert "kubeconfig_site_tokens_issued_total{" not in service.request("GET", "/metrics").text


def test_one_sites_right_is_not_anothers_nor_the_documents(edge, central, remotes):
    service, remote, operator = edge
    other = remotes("edge-2")
    assert put_json(service, "edge-2", managed_body(other)).status == 201
    asked = len(other.token_requests("apps", "deployer"))
    refused = ask(service, "edge-2", operator)
    assert refused.status == 403, redact(refused.text)
    assert 'cannot create sites/token "edge-2"' in load_json(refused.body)["error"]["message"]
    # Reading (and changing) the whole document does not imply a site's token.
    assert ask(service, "edge-1", READER_TOKEN).status == 403
    writer = central.add_identity("writer", rules=[{"verbs": ["get", "patch"], "resources": ["configmaps"]}])
    assert ask(service, "edge-1", writer).status == 403
    assert ask(service, "edge-1", "not-a-token").status == 401
    assert len(other.token_requests("apps", "deployer")) == asked, "a refused caller had a token minted"


def test_a_site_whose_credential_is_not_issued_here_has_none_to_give(edge, central):
    service, remote, _ = edge
    pasted = remote.create_token("apps", "deployer")
    site = {"server": remote.url, "certificateAuthorityData": managed_body(remote)["certificateAuthorityData"],
            "token": pasted}
    assert put_json(service, "static-1", site).status == 201
    caller = central.add_identity("static-operator", rules=[site_token_rule("static-1", "central")])
    for name in ("static-1", "central"):
        answer = ask(service, name, caller)
        assert answer.status == 409, redact(answer.text)
        assert load_json(answer.body)["error"]["code"] == "SiteNotManaged"
    assert ask(service, "nowhere", ADMIN_TOKEN).status == 404


def test_a_caller_asking_too_often_is_told_when_to_ask_again(edge):
    service, _, operator = edge
    for _ in range(3):
        assert ask(service, "edge-1", operator).status == 200
    refused = ask(service, "edge-1", operator)
    assert refused.status == 429, redact(refused.text)
    assert int(refused.headers["retry-after"]) >= 1
    # Another caller's share is its own.
    assert ask(service, "edge-1", ADMIN_TOKEN).status == 200


def test_a_site_refusing_its_bootstrap_credential_is_the_callers_error_without_the_credential(edge):
    service, remote, operator = edge
    assert remote.revoke_token(remote.bootstrap)
    answer = ask(service, "edge-1", operator)
    assert answer.status == 502, redact(answer.text)
    error = load_json(answer.body)["error"]
    assert error["code"] == "BootstrapCredentialRejected"
    assert remote.bootstrap not in answer.text and remote.bootstrap not in service.logs


# MARK: - The exec credential plugin, run by kubectl


def exec_kubeconfig(path, remote, service, token_file, api_version="client.authentication.k8s.io/v1",
                    site="edge-1"):
    """A kubeconfig for `site` with no secret in it: its user runs `kubeconfig-service credential`."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": site,
        "clusters": [{"name": site, "cluster": {"server": remote.url, "certificate-authority-data": base64.b64encode(
            remote.ca_file.read_bytes()).decode()}}],
        "users": [{"name": site, "user": {"exec": {
            "apiVersion": api_version, "command": str(BINARY), "interactiveMode": "Never",
            "args": ["credential", "--site", site, "--service", f"http://127.0.0.1:{service.port}"],
            "env": [{"name": "KUBECONFIG_SERVICE_TOKEN_FILE", "value": str(token_file)}]}}}],
        "contexts": [{"name": site, "context": {"cluster": site, "user": site, "namespace": "apps"}}],
    }
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
def test_kubectl_reads_a_site_through_the_plugin_asking_anew_each_run(edge, tmp_path, api_version):
    service, remote, operator = edge
    token_file = tmp_path / "service.token"
    token_file.write_text(operator + "\n")
    kubeconfig = exec_kubeconfig(tmp_path / "exec.kubeconfig", remote, service, token_file, api_version)
    assert operator not in kubeconfig.read_text()
    before = len(remote.token_requests("apps", "deployer"))
    for run in range(2):
        read = kubectl(kubeconfig, "get", "configmap", "workload", "-o", "name", home=tmp_path / f"home-{run}")
        assert read.returncode == 0 and read.stdout.strip() == "configmap/workload", read.stderr
    assert len(remote.token_requests("apps", "deployer")) == before + 2
    assert len(service.wait_log("issued a token to a caller", count=2)) == 2


def test_one_kubectl_process_asks_the_plugin_again_once_the_sites_token_expired(edge, tmp_path):
    """client-go keeps an ExecCredential until its expirationTimestamp, then runs the plugin
    again: `kubectl proxy` is one kubectl process whose every request is authenticated with it.
    The site caps its tokens at 10 s, so what the service answers expires 10 s later: time
    enough for two reads on a loaded machine."""
    service, remote, operator = edge
    remote.set_max_token_expiration(10)
    token_file = tmp_path / "service.token"
    token_file.write_text(operator)
    kubeconfig = exec_kubeconfig(tmp_path / "exec.kubeconfig", remote, service, token_file)
    proxy = subprocess.Popen([KUBECTL, "--kubeconfig", str(kubeconfig), "proxy", "--port=0"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "HOME": str(tmp_path)})
    try:
        # A line within 30 s, or the process is ended and what it said shown.
        ready = select.select([proxy.stdout], [], [], 30)[0]
        line = proxy.stdout.readline() if ready else ""
        if not line.startswith("Starting to serve on 127.0.0.1:"):
            proxy.kill()
            pytest.fail(f"kubectl proxy did not start: {line!r} {proxy.communicate(timeout=10)[1]!r}")
        url = f"http://{line.split()[-1]}/api/v1/namespaces/apps/configmaps/workload"
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy from the environment

        def read() -> int:
            with direct.open(url, timeout=30) as answer:
                return answer.status

        def issued() -> list[dict]:
            return [entry for entry in service.log_entries() if entry.get("msg") == "issued a token to a caller"]

        assert read() == 200 and read() == 200
        first = service.wait_log("issued a token to a caller")[0]
        time.sleep(0.3)  # the service's log is read from a pipe: let a second line, if any, arrive
        assert len(issued()) == 1, "kubectl ran the plugin again before the credential expired"
        expires = datetime.datetime.fromisoformat(first["expires_at"].replace("Z", "+00:00")).timestamp()
        time.sleep(max(0.0, expires - time.time()) + 0.5)
        # The expired token would be refused at the site (401): the read succeeds because kubectl
        # asked for a fresh one first.
        assert read() == 200
        second = service.wait_log("issued a token to a caller", count=2)[1]
        assert second["jti"] != first["jti"]
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)


def test_kubectl_reads_the_central_site_through_the_plugin(tmp_path):
    """The central site's token is minted at the home API server for the account the service
    publishes (`--token-service-account`), not the service's own."""
    consumer = "cloudify"
    home = start_central(tmp_path / "home", rules=[
        {"user": SERVICE_USER, "verbs": ["create"], "resources": ["serviceaccounts/token"],
         "namespaces": [NAMESPACE], "resourceNames": [consumer]},
        {"user": f"system:serviceaccount:{NAMESPACE}:{consumer}", "verbs": ["get"], "resources": ["configmaps"],
         "namespaces": [NAMESPACE]},
    ], serviceAccounts=[{"namespace": NAMESPACE, "name": consumer}])
    service = start_service(home, "--token-service-account", consumer)
    try:
        operator = home.add_identity("central-operator", rules=[site_token_rule("central")])
        token_file = tmp_path / "service.token"
        token_file.write_text(operator)
        kubeconfig = exec_kubeconfig(tmp_path / "exec.kubeconfig", home, service, token_file, site="central")
        before = len(home.token_requests(NAMESPACE, consumer))
        read = kubectl(kubeconfig, "get", "-n", NAMESPACE, "configmap", CONFIGMAP, "-o", "name", home=tmp_path)
        assert read.returncode == 0 and read.stdout.strip() == f"configmap/{CONFIGMAP}", read.stderr
        assert len(home.token_requests(NAMESPACE, consumer)) == before + 1
        issued = service.wait_log("issued a token to a caller")[0]
        assert (issued["user"], issued["site"]) == ("central-operator", "central")
    finally:
        service.stop()
        home.stop()


def test_the_plugins_failures_are_one_readable_line_for_kubectl(edge, central, tmp_path):
    service, remote, operator = edge
    token_file = tmp_path / "service.token"
    stranger = central.add_identity("stranger", rules=[site_token_rule("edge-2")])
    token_file.write_text(stranger)
    kubeconfig = exec_kubeconfig(tmp_path / "exec.kubeconfig", remote, service, token_file)
    # --raw: one request, no discovery retried around the failing plugin.
    raw = "/api/v1/namespaces/apps/configmaps/workload"
    refused = kubectl(kubeconfig, "get", "--raw", raw, home=tmp_path)
    assert refused.returncode != 0
    assert ("kubeconfig-service credential: the service refused a token for site edge-1: 403, Forbidden: forbidden: "
            "User \"stranger\" cannot create sites/token \"edge-1\"") in refused.stderr, \
        refused.stderr
    assert stranger not in refused.stderr

    token_file.write_text(operator)
    service.stop()
    down = kubectl(kubeconfig, "get", "--raw", raw, home=tmp_path)
    assert down.returncode != 0
    assert "kubeconfig-service credential: cannot reach http://127.0.0.1:" in down.stderr, down.stderr
    assert operator not in down.stderr


def test_the_plugin_prints_nothing_but_the_credential(edge, tmp_path):
    service, _, operator = edge
    token_file = tmp_path / "service.token"
    token_file.write_text(operator)
    command = [str(BINARY), "credential", "--site", "edge-1", "--service", f"http://127.0.0.1:{service.port}",
               "--service-token-file", str(token_file)]
    info = json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                       "spec": {"interactive": False}})
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, env={**os.environ,
                                                                                  "KUBERNETES_EXEC_INFO": info})
    assert done.returncode == 0 and done.stderr == "", done.stderr
    printed = json.loads(done.stdout)
    assert printed["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert set(printed) == {"apiVersion", "kind", "status"} and set(printed["status"]) == {"token",
                                                                                          "expirationTimestamp"}
    # A plain-HTTP service off loopback is refused before any token is sent.
    far = subprocess.run([*command[:5], "http://example.org", *command[6:]], capture_output=True, text=True,
                         timeout=30)
    assert far.returncode == 1 and far.stdout == ""
    assert "--service must be an https URL" in far.stderr


def test_the_served_exec_kubeconfig_holds_no_secret_and_kubectl_reads_the_site_through_it(central, remotes, tmp_path):
    port = free_port()
    service = start_service(central, "--port", str(port), "--public-url", f"http://127.0.0.1:{port}")
    try:
        assert service.port == port
        remote = remotes("edge-1")
        assert put_json(service, "edge-1", managed_body(remote)).status == 201
        operator = central.add_identity("edge-1-operator", rules=[site_token_rule("edge-1")])
        served = service.request("GET", "/kubeconfig?site=edge-1&credentials=exec", token=ADMIN_TOKEN)
        assert served.status == 200, redact(served.text)
        config = yaml.safe_load(served.text)
        assert [context["name"] for context in config["contexts"]] == ["edge-1"]
        user = config["users"][0]["user"]
        assert set(user) == {"exec"}
        assert user["exec"]["args"] == ["credential", "--site", "edge-1", "--service", f"http://127.0.0.1:{port}"]
        assert user["exec"]["interactiveMode"] == "Never"
        # No credential of any kind: not the site's token, not a bootstrap one, not the caller's.
        document = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).text
        site_token = yaml.safe_load(document)["users"]
        assert all(entry["user"].get("token", "") not in served.text for entry in site_token if entry["user"].get("token"))
        assert remote.bootstrap not in served.text and ADMIN_TOKEN not in served.text

        kubeconfig = tmp_path / "edge-1.kubeconfig"
        kubeconfig.write_text(served.text)
        token_file = tmp_path / "service.token"
        token_file.write_text(operator)
        # kubectl finds the plugin by its name on PATH, whatever the binary under test is called.
        (tmp_path / "bin").mkdir()
        (tmp_path / "bin" / "kubeconfig-service").symlink_to(BINARY)
        env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
               "KUBECONFIG_SERVICE_TOKEN_FILE": str(token_file), "HOME": str(tmp_path)}
        read = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "configmap", "workload", "-o",
                               "name"], capture_output=True, text=True, timeout=30, env=env)
        assert read.returncode == 0 and read.stdout.strip() == "configmap/workload", read.stderr

        missing = service.request("GET", "/kubeconfig?site=nowhere&credentials=exec", token=ADMIN_TOKEN)
        assert missing.status == 404

        # `kubeconfig-service kubeconfig` prints the same, naming the caller's token file in the
        # plugin's arguments: kubectl reads the site with no variable set.
        admin_file = tmp_path / "admin.token"
        admin_file.write_text(ADMIN_TOKEN)
        command = [str(BINARY), "kubeconfig", "--site", "edge-1", "--service", f"http://127.0.0.1:{port}"]
        printed = subprocess.run([*command, "--service-token-file", str(admin_file)], capture_output=True, text=True,
                                 timeout=30, env={**os.environ, "HOME": str(tmp_path)})
        assert printed.returncode == 0 and printed.stderr == "", printed.stderr
        written = yaml.safe_load(printed.stdout)
        assert written["clusters"] == config["clusters"] and written["contexts"] == config["contexts"]
        assert written["users"][0]["user"]["exec"]["args"] == [
            "credential", "--site", "edge-1", "--service", f"http://127.0.0.1:{port}",
            "--service-token-file", str(admin_file)]
        assert ADMIN_TOKEN not in printed.stdout
        (tmp_path / "cli.kubeconfig").write_text(printed.stdout)
        env.pop("KUBECONFIG_SERVICE_TOKEN_FILE")
        read = subprocess.run(["kubectl", "--kubeconfig", str(tmp_path / "cli.kubeconfig"), "get", "configmap",
                               "workload", "-o", "name"], capture_output=True, text=True, timeout=30, env=env)
        assert read.returncode == 0 and read.stdout.strip() == "configmap/workload", read.stderr

        # The kubeconfig is read like the document: the operator, allowed only edge-1's tokens, may not.
        refused = subprocess.run(command, capture_output=True, text=True, timeout=30,
                                 env={**os.environ, "KUBECONFIG_SERVICE_TOKEN_FILE": str(token_file)})
        assert refused.returncode == 1 and refused.stdout == ""
        assert refused.stderr.startswith("kubeconfig-service kubeconfig: the service refused the kubeconfig of site "
                                         "edge-1: 403, Forbidden: "), refused.stderr
        assert operator not in refused.stderr and refused.stderr.count("\n") == 1
    finally:
        service.stop()


def test_without_a_public_url_the_exec_kubeconfig_names_the_flag(edge):
    service, _, _ = edge
    answer = service.request("GET", "/kubeconfig?site=edge-1&credentials=exec", token=ADMIN_TOKEN)
    assert answer.status == 400 and "serve --public-url" in load_json(answer.body)["error"]["message"]
    # Reading it is reading the document: a caller with only a site's token right may not.
    _, _, operator = edge
    assert service.request("GET", "/kubeconfig?site=edge-1&credentials=exec", token=operator).status == 403
