"""Remote sites through the API: registered by JSON and by kubeconfig, listed with live health,
read through by real clients, removed; bad input refused with the document untouched; storms of
concurrent changes; who may do what; no credential anywhere it should not be.

Each remote site is another instance of the project's Kubernetes API test server, with its own CA
and tokens (one of them on IPv6), holding a `deployer` account in namespace `apps` that may read
ConfigMaps there."""

from __future__ import annotations

import base64
import concurrent.futures
import json

import pytest
import yaml
from kubeapi import ADMIN_TOKEN, KubeAPIServer

from loopback import kubectl, wait_until
from redaction import load, load_json, redact
from support import CONFIGMAP, NAMESPACE, stored_document

DEPLOYER = "system:serviceaccount:apps:deployer"
READER_TOKEN = "reader-token"
NOBODY_TOKEN = "nobody-token"


def remote_config(**extra) -> dict:
    return {
        "serviceAccounts": [{"namespace": "apps", "name": "deployer"}],
        "configmaps": [{"namespace": "apps", "name": "workload", "data": {"site": "remote"}}],
        "rules": [{"user": DEPLOYER, "verbs": ["get", "list"], "resources": ["configmaps"], "namespaces": ["apps"]}],
        **extra,
    }


@pytest.fixture
def remotes(tmp_path):
    """Starts remote clusters: `remotes("a", host="::1", config={...})`; stopped after the test."""
    started: list[KubeAPIServer] = []

    def start(name: str, host: str = "127.0.0.1", **extra) -> KubeAPIServer:
        server = KubeAPIServer(tmp_path / f"remote-{name}", host=host, config=remote_config(**extra)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def ca_data(server: KubeAPIServer) -> str:
    return base64.b64encode(server.ca_file.read_bytes()).decode()


def json_site(server: KubeAPIServer, token: str, **fields) -> str:
    return json.dumps({"server": server.url, "certificateAuthorityData": ca_data(server), "token": token, **fields})


def put(service, name: str, body: str, content_type: str = "application/json", token: str = ADMIN_TOKEN):
    return service.request("PUT", f"/sites/{name}", token=token, headers={"Content-Type": content_type}, body=body)


def sites(service) -> dict:
    answer = service.request("GET", "/sites", token=ADMIN_TOKEN)
    assert answer.status == 200, redact(answer.text)
    return {site["name"]: site for site in load_json(answer.body)["sites"]}


def health(service, name: str) -> dict | None:
    return sites(service).get(name, {}).get("health")


def metric_lines(service, name: str) -> list[str]:
    text = service.request("GET", "/metrics").text
    return [line for line in text.splitlines() if line.startswith(name)]


def test_sites_registered_by_json_and_kubeconfig_are_probed_and_read_through_by_real_clients(
        api, serve, remotes, tmp_path):
    service = serve("--site-probe-interval", "1")
    service.wait_ready()
    a, b, c = remotes("a"), remotes("b", host="::1"), remotes("c")

    # a: JSON with a token issued there for the deployer.
    token_a = a.create_token("apps", "deployer", expiration_seconds=3600)
    created = put(service, "site-a", json_site(a, token_a, namespace="apps"))
    assert created.status == 201, redact(created.text)
    assert load_json(created.body)["created"] is True
    again = put(service, "site-a", json_site(a, token_a, namespace="apps"))
    assert again.status == 200 and load_json(again.body)["changed"] is False

    # b (IPv6): what `kubectl config view --minify --raw` prints, as YAML.
    token_b = b.create_token("apps", "deployer")
    exported = b.write_kubeconfig(tmp_path / "b.kubeconfig", token=token_b, namespace="apps")
    minified = kubectl(exported, "config", "view", "--minify", "--raw", home=tmp_path)
    assert minified.returncode == 0, redact(minified.stderr)
    answer = put(service, "site-b", minified.stdout, content_type="application/yaml")
    assert answer.status == 201, redact(answer.text)

    # c: a client certificate, from a kubeconfig.
    certificate = c.client_certificate("deployer-c")
    c.add_identity("deployer-c", rules=[{"verbs": ["get", "list"], "resources": ["configmaps"], "namespaces": ["apps"]}],
                   token="unused-c-token")
    exported_c = c.write_kubeconfig(tmp_path / "c.kubeconfig", namespace="apps", client_certificate=certificate)
    answer = put(service, "site-c", exported_c.read_text(), content_type="application/yaml")
    assert answer.status == 201, redact(answer.text)

    expected_users = {"site-a": DEPLOYER, "site-b": DEPLOYER, "site-c": "deployer-c"}
    waited = wait_until(lambda: all((health(service, name) or {}).get("user") == user
                                    for name, user in expected_users.items()), timeout=10)
    listed = sites(service)
    assert waited is not None, f"sites not all authenticated: {listed}"
    for name in expected_users:
        site = listed[name]
        assert site["health"]["reachable"] is True and site["health"]["authenticated"] is True
        assert site["ours"] is False and site["cluster"] == name and site["user"] == name
        assert "certificateAuthorityExpiresAt" in site
    assert listed["site-a"]["credential"] == "token" and "tokenExpiresAt" in listed["site-a"]
    assert listed["site-b"]["server"] == b.url and listed["site-b"]["server"].startswith("https://[::1]:")
    assert listed["site-c"]["credential"] == "client-certificate" and "clientCertificateExpiresAt" in listed["site-c"]
    assert listed["central"]["ours"] is True
    one = service.request("GET", "/sites/site-b", token=ADMIN_TOKEN)
    assert one.status == 200 and load_json(one.body)["name"] == "site-b"

    # The stored document, given to kubectl and the python client with --context <site>.
    document = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN)
    kubeconfig = tmp_path / "published.kubeconfig"
    kubeconfig.write_bytes(document.body)
    from kubernetes import client, config
    for name in expected_users:
        result = kubectl(kubeconfig, "--context", name, "get", "configmap", "workload", "-o", "json", home=tmp_path)
        assert result.returncode == 0, f"kubectl --context {name}: {redact(result.stderr)}"
        assert load_json(result.stdout)["data"] == {"site": "remote"}
        api_client = config.new_client_from_config(config_file=str(kubeconfig), context=name)
        try:
            read = client.CoreV1Api(api_client).read_namespaced_config_map("workload", "apps")
        finally:
            api_client.close()
        assert read.data == {"site": "remote"}
    central = kubectl(kubeconfig, "--context", "central", "get", "configmap", CONFIGMAP, "-n", NAMESPACE, home=tmp_path)
    assert central.returncode == 0, redact(central.stderr)

    # Metrics per site.
    up = metric_lines(service, "kubeconfig_site_up")
    for name in ["central", *expected_users]:
        assert f'kubeconfig_site_up{{site="{name}"}} 1.0' in up or f'kubeconfig_site_up{{site="{name}"}} 1' in up, up
    assert any('site="site-a"' in line for line in metric_lines(service, "kubeconfig_site_token_expiry_timestamp_seconds"))
    certificates = metric_lines(service, "kubeconfig_site_certificate_expiry_timestamp_seconds")
    assert any('site="site-c"' in line and 'certificate="client"' in line for line in certificates), certificates

    # Removed: gone from the document, the list and the metrics; others stay.
    deleted = service.request("DELETE", "/sites/site-b", token=ADMIN_TOKEN)
    assert deleted.status == 200, redact(deleted.text)
    stored = stored_document(api)
    assert "site-b" not in [entry["name"] for entry in stored["contexts"]]
    assert {"site-a", "site-c", "central"} <= {entry["name"] for entry in stored["contexts"]}
    assert service.request("DELETE", "/sites/site-b", token=ADMIN_TOKEN).status == 404
    gone = wait_until(lambda: not any('site="site-b"' in line for line in metric_lines(service, "kubeconfig_site")),
                      timeout=5)
    assert gone is not None, "site-b's series stayed after it was removed"


def test_a_stopped_site_is_unreachable_and_a_revoked_token_unauthenticated_while_the_rest_carries_on(
        api, serve, remotes):
    service = serve("--site-probe-interval", "1", "--refresh-interval", "1")
    service.wait_ready()
    a, b = remotes("a"), remotes("b")
    token_a, token_b = a.create_token("apps", "deployer"), b.create_token("apps", "deployer")
    assert put(service, "site-a", json_site(a, token_a)).status == 201
    assert put(service, "site-b", json_site(b, token_b)).status == 201
    assert wait_until(lambda: all((health(service, n) or {}).get("authenticated") for n in ("site-a", "site-b")))

    a.down()
    down = wait_until(lambda: (health(service, "site-a") or {}).get("reachable") is False, timeout=5)
    assert down is not None, f"site-a still reachable: {sites(service)['site-a']}"
    assert health(service, "site-a")["error"]["code"] == "SiteConnectionRefused"
    assert health(service, "site-b")["reachable"] is True
    assert service.request("GET", "/readyz").status == 200
    published = service.request("POST", "/sites/central", token=ADMIN_TOKEN)
    assert published.status == 200, redact(published.text)
    assert wait_until(lambda: any(line.startswith('kubeconfig_site_up{site="site-a"} 0')
                                  for line in metric_lines(service, "kubeconfig_site_up")), timeout=3) is not None

    b.revoke_token(token_b)
    rejected = wait_until(lambda: (health(service, "site-b") or {}).get("authenticated") is False, timeout=5)
    assert rejected is not None, f"site-b still authenticated: {sites(service)['site-b']}"
    assert health(service, "site-b")["reachable"] is True
    assert health(service, "site-b")["error"]["code"] == "SiteUnauthorized"

    a.up()
    back = wait_until(lambda: (health(service, "site-a") or {}).get("authenticated") is True, timeout=5)
    assert back is not None, "site-a did not come back"
    service.wait_log("site is up")


def test_probe_errors_name_their_cause(api, serve, remotes):
    service = serve("--site-probe-interval", "1")
    service.wait_ready()
    a, b = remotes("a"), remotes("b")
    token = a.create_token("apps", "deployer")
    # a's server with b's CA: the certificate does not verify.
    assert put(service, "wrong-ca", json.dumps(
        {"server": a.url, "certificateAuthorityData": ca_data(b), "token": token})).status == 201
    assert put(service, "no-dns", json.dumps(
        {"server": "https://no-such-site.invalid:6443", "certificateAuthorityData": ca_data(a), "token": token})).status == 201
    expected = {"wrong-ca": "SiteTLSVerificationFailed", "no-dns": "SiteDNSFailed"}

    def codes():
        listed = sites(service)
        return {name: ((listed[name].get("health") or {}).get("error") or {}).get("code") for name in expected}
    assert wait_until(lambda: codes() == expected, timeout=10) is not None, codes()
    assert all(health(service, name)["reachable"] is False for name in expected)


def test_a_server_without_self_subject_review_is_probed_through_discovery(api, serve, remotes):
    service = serve("--site-probe-interval", "1")
    service.wait_ready()
    old = remotes("old", selfSubjectReview=False)
    token = old.create_token("apps", "deployer")
    assert put(service, "old", json_site(old, token)).status == 201
    assert wait_until(lambda: (health(service, "old") or {}).get("authenticated") is True) is not None
    assert "user" not in health(service, "old")
    old.revoke_token(token)
    assert wait_until(lambda: (health(service, "old") or {}).get("authenticated") is False) is not None


BAD_INPUTS = [
    ("not-json", "application/json", "{", "body"),
    ("http", "application/json", {"server": "http://h:1"}, "server"),
    ("no-host", "application/json", {"server": "https://:6443"}, "server"),
    ("ca-not-pem", "application/json", {"certificateAuthorityData": base64.b64encode(b"hello").decode()},
     "certificateAuthorityData"),
    ("ca-not-base64", "application/json", {"certificateAuthorityData": "***"}, "certificateAuthorityData"),
    ("empty-token", "application/json", {"token": ""}, "token"),
    ("spaced-token", "application/json", {"token": "abc def"}, "token"),
    ("control-token", "application/json", {"token": "abc\u0007"}, "token"),
    ("unknown-field", "application/json", {"insecureSkipTLSVerify": True}, "insecureSkipTLSVerify"),
    ("Bad_Name", "application/json", {}, "name"),
    ("yaml-two-contexts", "application/yaml", "two-contexts", "contexts"),
    ("yaml-exec", "application/yaml", "exec", "user.exec"),
    ("yaml-key-mismatch", "application/yaml", "mismatch", "user.client-key-data"),
    ("yaml-insecure", "application/yaml", "insecure", "cluster.insecure-skip-tls-verify"),
]


def test_each_bad_input_is_a_400_naming_its_field_and_the_document_stays_byte_identical(
        api, serve, remotes, tmp_path):
    service = serve("--site-probe-interval", "0")
    service.wait_ready()
    remote = remotes("a")
    token = remote.create_token("apps", "deployer")
    assert put(service, "site-a", json_site(remote, token)).status == 201
    before = api.get_configmap(NAMESPACE, CONFIGMAP)

    exported = yaml.safe_load(remote.write_kubeconfig(tmp_path / "r.kubeconfig", token=token).read_text())
    other_key = remotes("b").client_certificate("x")[1]
    certificate = remote.client_certificate("y")[0]

    def kubeconfig(kind: str) -> str:
        config = json.loads(json.dumps(exported))
        if kind == "two-contexts":
            config["contexts"].append({"name": "second", "context": config["contexts"][0]["context"]})
        elif kind == "exec":
            config["users"][0]["user"] = {"exec": {"command": "login", "apiVersion": "client.authentication.k8s.io/v1"}}
        elif kind == "mismatch":
            config["users"][0]["user"] = {"client-certificate-data": base64.b64encode(certificate).decode(),
                                          "client-key-data": base64.b64encode(other_key).decode()}
        elif kind == "insecure":
            config["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
        return yaml.safe_dump(config)

    for name, content_type, change, field in BAD_INPUTS:
        if content_type == "application/yaml":
            body = kubeconfig(change)
        elif isinstance(change, dict):
            body = json.dumps({**json.loads(json_site(remote, token)), **change})
        else:
            body = change
        answer = put(service, name if name == "Bad_Name" else "bad-site", body, content_type=content_type)
        assert answer.status == 400, f"{name}: {answer.status} {redact(answer.text)}"
        error = load_json(answer.body)["error"]
        assert error["code"] == "InvalidSite", name
        assert error["message"].startswith(f"{field}:"), f"{name}: {error['message']}"
        assert token not in answer.text and "abc def" not in answer.text
    assert put(service, "bad-site", json_site(remote, token), content_type="text/plain").status == 415
    assert put(service, "central", json_site(remote, token)).status == 409
    assert service.request("DELETE", "/sites/central", token=ADMIN_TOKEN).status == 409
    after = api.get_configmap(NAMESPACE, CONFIGMAP)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    identical = after["data"] == before["data"]
    assert identical, "a refused request changed the document"


def test_concurrent_puts_and_deletes_of_twenty_sites_end_with_exactly_the_expected_set(api, serve, remotes):
    service = serve("--site-probe-interval", "0")
    service.wait_ready()
    remote = remotes("a")
    token = remote.create_token("apps", "deployer")
    names = [f"site-{index:02d}" for index in range(20)]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda name: put(service, name, json_site(remote, token)).status, names))
    assert statuses == [201] * 20
    removed = names[::3]
    added = [f"late-{index}" for index in range(5)]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        deletes = pool.map(lambda name: service.request("DELETE", f"/sites/{name}", token=ADMIN_TOKEN).status, removed)
        puts = pool.map(lambda name: put(service, name, json_site(remote, token)).status, added)
        assert list(deletes) == [200] * len(removed) and list(puts) == [201] * len(added)
    expected = (set(names) - set(removed)) | set(added) | {"central"}
    stored = stored_document(api)
    assert {entry["name"] for entry in stored["contexts"]} == expected
    assert {entry["name"] for entry in stored["clusters"]} == expected
    assert {entry["name"] for entry in stored["users"]} == (expected - {"central"}) | {"user00"}
    assert set(sites(service)) == expected
    # Group commit: far fewer writes than changes.
    patches = [entry for entry in api.requests() if entry["method"] == "PATCH" and CONFIGMAP in entry["path"]]
    assert len(patches) < 20 + len(removed) + len(added), len(patches)


@pytest.mark.parametrize("method,path", [("GET", "/sites"), ("GET", "/sites/central"), ("PUT", "/sites/site-a"),
                                         ("DELETE", "/sites/site-a")])
def test_who_may_read_and_change_sites(api, serve, remotes, method, path):
    service = serve("--site-probe-interval", "0")
    service.wait_ready()
    remote = remotes("a")
    body = json_site(remote, remote.create_token("apps", "deployer"))
    if method == "DELETE":
        assert put(service, "site-a", body).status == 201

    def send(token):
        return service.request(method, path, token=token, headers={"Content-Type": "application/json"},
                               body=body if method == "PUT" else None).status
    assert send(None) == 401
    assert send("unknown-token") == 401
    assert send(NOBODY_TOKEN) == 403
    assert send(READER_TOKEN) == (200 if method == "GET" else 403)
    assert send(ADMIN_TOKEN) in (200, 201)


def test_changes_and_disclosures_are_audited_and_no_credential_leaks(api, serve, remotes, tmp_path):
    service = serve("--site-probe-interval", "1")
    service.wait_ready()
    remote = remotes("a")
    token = remote.create_token("apps", "deployer")
    certificate, key = remote.client_certificate("deployer-k")
    assert put(service, "site-a", json_site(remote, token)).status == 201
    exported = remote.write_kubeconfig(tmp_path / "k.kubeconfig", client_certificate=(certificate, key))
    assert put(service, "site-k", exported.read_text(), content_type="application/yaml").status == 201
    assert put(service, "bad", json_site(remote, token + " x")).status == 400
    assert service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).status == 200
    assert service.request("DELETE", "/sites/site-a", token=ADMIN_TOKEN).status == 200
    wait_until(lambda: health(service, "site-k") is not None)

    audit = [entry for entry in service.log_entries() if entry.get("msg") == "audit"]
    seen = [(entry["method"], entry["path"], entry["status"], entry["user"]) for entry in audit]
    assert ("PUT", "/sites/site-a", "201", "admin") in seen, seen
    assert ("PUT", "/sites/bad", "400", "admin") in seen, seen
    assert ("GET", "/kubeconfig", "200", "admin") in seen, seen
    assert ("DELETE", "/sites/site-a", "200", "admin") in seen, seen

    secrets = [token, base64.b64encode(key).decode(), key.decode().split("\n")[1], api.token.strip()]
    outputs = {
        "logs": service.logs,
        "metrics": service.request("GET", "/metrics").text,
        "sites": service.request("GET", "/sites", token=ADMIN_TOKEN).text,
        "site": service.request("GET", "/sites/site-k", token=ADMIN_TOKEN).text,
        "status": service.request("GET", "/status", token=ADMIN_TOKEN).text,
    }
    for where, text in outputs.items():
        for index, secret in enumerate(secrets):
            leaked = secret in text
            assert not leaked, f"credential {index} appears in {where}"
