"""`kubeconfig-service site add` and `site remove` through the real binary: a cluster (an API test
server with namespaces and RBAC enforced) reached as the operator's kubeconfig context does (a
token, a client certificate), the service registering the site and issuing its tokens.

Invariants checked here:
- the rights created are exactly those the command lists: kubectl auth can-i, with the deployer's
  and the bootstrap account's own tokens, for what they may and must not do;
- a run leaves the cluster as it found it, or registered: an object of one of its names that is
  not labelled for the site stops it before any write, and when the service refuses the site,
  what the run created is deleted again;
- no token appears in anything the command prints.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from kubeapi import ADMIN_TOKEN, KubeAPIServer

from loopback import BINARY, kubectl
from managed import credentials, stored_token, who

CLUSTER_ID = "5f0c8c4e-3b5e-4a43-9d1e-2a7c1b9e0d11"
LABELS = {"app.kubernetes.io/managed-by": "kubeconfig-service", "kubeconfig-service.onap.org/site": "edge-1"}
RBAC = "/apis/rbac.authorization.k8s.io/v1"


@pytest.fixture
def cluster(tmp_path):
    """A remote cluster as a real one behaves: namespaces must exist, RBAC objects are enforced,
    kube-system's uid is CLUSTER_ID. Nothing is there for the site yet."""
    server = KubeAPIServer(tmp_path / "cluster", config={"namespaceLifecycle": True, "clusterId": CLUSTER_ID}).start()
    yield server
    server.stop()


@pytest.fixture
def operator(tmp_path, cluster):
    """The operator's kubeconfig: context `admin` (a token of system:masters) and `admin-cert` (a
    client certificate of system:masters), in namespace `apps`."""
    path = tmp_path / "operator.kubeconfig"
    cluster.write_kubeconfig(path, token=ADMIN_TOKEN, context="admin", namespace="apps")
    config = json.loads(json.dumps(__import__("yaml").safe_load(path.read_text())))
    cert, key = cluster.client_certificate("cluster-admin-by-cert", groups=["system:masters"])
    import base64
    config["users"].append({"name": "cert", "user": {
        "client-certificate-data": base64.b64encode(cert).decode(),
        "client-key-data": base64.b64encode(key).decode()}})
    config["contexts"].append({"name": "admin-cert", "context": {"cluster": "local", "user": "cert"}})
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def service_token(tmp_path):
    path = tmp_path / "service.token"
    path.write_text(ADMIN_TOKEN + "\n")
    return path


def site_command(service, token_file, *args, home) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KUBECONFIG")}
    return subprocess.run([str(BINARY), "site", *args, "--service", f"http://127.0.0.1:{service.port}",
                           "--service-token-file", str(token_file)], capture_output=True, text=True, timeout=60,
                          env={**env, "HOME": str(home)})


def labelled(cluster, path: str) -> dict | None:
    answer = cluster.request("GET", path, token=ADMIN_TOKEN)
    if answer.status == 404:
        return None
    assert answer.status == 200, answer.text
    return answer.json()


def can_i(cluster, token: str, home, *args) -> bool:
    config = cluster.write_kubeconfig(home / f"can-i-{abs(hash(token))}.kubeconfig", token=token, context="c")
    result = kubectl(config, "auth", "can-i", *args, home=home)
    assert result.returncode in (0, 1), result.stderr
    return result.stdout.strip() == "yes"


OBJECTS = [
    "/api/v1/namespaces/apps",
    "/api/v1/namespaces/apps/serviceaccounts/kubeconfig-deployer",
    f"{RBAC}/namespaces/apps/rolebindings/kubeconfig-deployer",
    "/api/v1/namespaces/apps/serviceaccounts/kubeconfig-bootstrap",
    f"{RBAC}/namespaces/apps/roles/kubeconfig-bootstrap",
    f"{RBAC}/namespaces/apps/rolebindings/kubeconfig-bootstrap",
]


def test_site_add_with_a_token_context_creates_exactly_the_rights_listed_and_registers_the_site(
        services, central, cluster, operator, service_token, tmp_path):
    service = services()
    run = site_command(service, service_token, "add", "edge-1", "--context", "admin", "--kubeconfig", str(operator),
                       home=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for expected in ["created namespace apps", "created serviceaccount apps/kubeconfig-deployer",
                     "created rolebinding apps/kubeconfig-deployer", "created serviceaccount apps/kubeconfig-bootstrap",
                     "created role apps/kubeconfig-bootstrap", "created rolebinding apps/kubeconfig-bootstrap",
                     f"cluster id {CLUSTER_ID} (the uid of namespace kube-system)",
                     "registered site edge-1 with the service (created)"]:
        assert expected in lines, run.stdout
    for path in OBJECTS:
        labels = labelled(cluster, path)["metadata"]["labels"]
        # A namespace also carries the name label the API server sets on every one.
        assert labels == LABELS | ({"kubernetes.io/metadata.name": "apps"} if path == OBJECTS[0] else {}), path
    role = labelled(cluster, f"{RBAC}/namespaces/apps/roles/kubeconfig-bootstrap")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"],
                              "resourceNames": ["kubeconfig-deployer", "kubeconfig-bootstrap"]}]
    binding = labelled(cluster, f"{RBAC}/namespaces/apps/rolebindings/kubeconfig-deployer")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}

    # The service issued the deployer's token with the bootstrap account's, both minted here.
    deployer = stored_token(central, "edge-1")
    bootstrap = credentials(central)["edge-1"]["bootstrapToken"]
    assert who(cluster, deployer) == "system:serviceaccount:apps:kubeconfig-deployer"
    assert who(cluster, bootstrap) == "system:serviceaccount:apps:kubeconfig-bootstrap"
    # The summary is the site's row, as site list shows it: managed, up.
    summary = [line for line in lines if line.startswith("edge-1 ")]
    assert summary and "managed" in summary[0] and " up " in summary[0], run.stdout

    # The deployer may edit its namespace and nothing else.
    assert can_i(cluster, deployer, tmp_path, "create", "configmaps", "-n", "apps")
    assert can_i(cluster, deployer, tmp_path, "delete", "configmaps", "-n", "apps")
    assert not can_i(cluster, deployer, tmp_path, "create", "configmaps", "-n", "default")
    assert not can_i(cluster, deployer, tmp_path, "create", "rolebindings", "-n", "apps")
    assert not can_i(cluster, deployer, tmp_path, "escalate", "roles", "-n", "apps")
    # The bootstrap account may mint tokens for the deployer and itself, and do nothing else.
    assert can_i(cluster, bootstrap, tmp_path, "create", "serviceaccounts/kubeconfig-deployer", "--subresource=token",
                 "-n", "apps")
    assert can_i(cluster, bootstrap, tmp_path, "create", "serviceaccounts/kubeconfig-bootstrap", "--subresource=token",
                 "-n", "apps")
    assert not can_i(cluster, bootstrap, tmp_path, "create", "serviceaccounts/default", "--subresource=token",
                     "-n", "apps")
    assert not can_i(cluster, bootstrap, tmp_path, "get", "secrets", "-n", "apps")
    assert not can_i(cluster, bootstrap, tmp_path, "get", "serviceaccounts", "-n", "apps")

    # kubectl reads the site through the served kubeconfig.
    served = tmp_path / "served.kubeconfig"
    served.write_text(service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).text)
    read = kubectl(served, "--context", "edge-1", "get", "configmaps", "-n", "apps", home=tmp_path)
    assert read.returncode == 0, read.stderr

    for secret in (ADMIN_TOKEN, deployer, bootstrap):
        assert secret not in run.stdout + run.stderr

    # Again: everything kept, the site registered anew, nothing created twice.
    again = site_command(service, service_token, "add", "edge-1", "--context", "admin", "--kubeconfig", str(operator),
                         home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert not [line for line in again.stdout.splitlines() if line.startswith("created ")], again.stdout
    assert "kept serviceaccount apps/kubeconfig-deployer" in again.stdout
    assert "registered site edge-1 with the service (replaced)" in again.stdout
    assert who(cluster, stored_token(central, "edge-1")) == "system:serviceaccount:apps:kubeconfig-deployer"


def test_site_add_with_a_client_certificate_context_and_cluster_wide_rights(
        services, central, cluster, operator, service_token, tmp_path):
    service = services()
    run = site_command(service, service_token, "add", "edge-1", "--context", "admin-cert", "--kubeconfig",
                       str(operator), "--namespace", "deploy", "--cluster-role", "view", "--cluster-wide",
                       "--label", "env=prod", home=tmp_path)
    assert run.returncode == 0, run.stderr
    # Its labels, and that its deployer is cluster-wide (Argo CD's sink then does not scope it).
    shown = service.request("GET", "/sites/edge-1", token=ADMIN_TOKEN).json()
    assert shown["labels"] == {"env": "prod", "kubeconfig-service.onap.org/cluster-wide": "true"}, shown
    assert "created namespace deploy" in run.stdout
    assert "created clusterrolebinding kubeconfig-service:deploy:kubeconfig-deployer" in run.stdout
    deployer = stored_token(central, "edge-1")
    assert who(cluster, deployer) == "system:serviceaccount:deploy:kubeconfig-deployer"
    assert can_i(cluster, deployer, tmp_path, "list", "configmaps", "-n", "default")
    assert not can_i(cluster, deployer, tmp_path, "create", "configmaps", "-n", "deploy")


def test_an_object_not_labelled_for_the_site_is_never_taken_over_and_nothing_is_written(
        services, central, cluster, operator, service_token, tmp_path):
    service = services()
    cluster.add_namespace("apps")
    cluster.request("POST", "/api/v1/namespaces/apps/serviceaccounts", token=ADMIN_TOKEN,
                    body={"metadata": {"name": "kubeconfig-bootstrap"}})
    before = len(cluster.requests())
    run = site_command(service, service_token, "add", "edge-1", "--context", "admin", "--kubeconfig", str(operator),
                       home=tmp_path)
    assert run.returncode == 1 and run.stderr.count("\n") == 1
    assert ("serviceaccount apps/kubeconfig-bootstrap exists and it is not labelled app.kubernetes.io/managed-by"
            "=kubeconfig-service, kubeconfig-service.onap.org/site=edge-1: it is not taken over") in run.stderr
    writes = [entry for entry in cluster.requests()[before:] if entry["method"] != "GET"]
    assert writes == []
    assert labelled(cluster, OBJECTS[1]) is None
    assert "edge-1" not in {site["name"] for site in
                            service.request("GET", "/sites", token=ADMIN_TOKEN).json()["sites"]}


def test_when_the_service_refuses_the_site_what_the_run_created_is_deleted_again(
        services, central, cluster, operator, tmp_path):
    service = services()
    # May read the document (the service's sites), not change it: the registration is refused.
    nobody = tmp_path / "reader.token"
    nobody.write_text(central.add_identity("reader", rules=[{"verbs": ["get"], "resources": ["configmaps"]}]))
    run = site_command(service, nobody, "add", "edge-1", "--context", "admin", "--kubeconfig", str(operator),
                       home=tmp_path)
    assert run.returncode == 1
    assert "the service refused site edge-1 (403 Forbidden: " in run.stderr
    assert "removed rolebinding apps/kubeconfig-bootstrap (created by this run)" in run.stdout
    assert "removed namespace apps (created by this run)" in run.stdout
    for path in OBJECTS:
        assert labelled(cluster, path) is None, path


def test_dry_run_reads_and_prints_and_writes_nothing(services, central, cluster, operator, service_token, tmp_path):
    service = services()
    run = site_command(service, service_token, "add", "edge-1", "--context", "admin", "--kubeconfig", str(operator),
                       "--dry-run", home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "# would create role apps/kubeconfig-bootstrap" in run.stdout
    assert '"serviceaccounts/token"' in run.stdout and "# nothing was written (--dry-run)" in run.stdout
    assert [entry for entry in cluster.requests() if entry["method"] != "GET"] == []
    assert ADMIN_TOKEN not in run.stdout
    assert "edge-1" not in {site["name"] for site in
                            service.request("GET", "/sites", token=ADMIN_TOKEN).json()["sites"]}


def test_site_remove_with_a_context_deletes_exactly_what_is_labelled_for_the_site(
        services, central, cluster, operator, service_token, tmp_path):
    service = services()
    assert site_command(service, service_token, "add", "edge-1", "--context", "admin", "--kubeconfig",
                        str(operator), home=tmp_path).returncode == 0
    deployer, bootstrap = stored_token(central, "edge-1"), credentials(central)["edge-1"]["bootstrapToken"]
    # Someone else's account in the same namespace stays.
    cluster.request("POST", "/api/v1/namespaces/apps/serviceaccounts", token=ADMIN_TOKEN,
                    body={"metadata": {"name": "workload"}})

    run = site_command(service, service_token, "remove", "edge-1", "--context", "admin", "--kubeconfig",
                       str(operator), home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "removed site edge-1 from the service" in run.stdout
    assert "kept namespace apps (created by site add; --delete-namespace deletes it and all it holds)" in run.stdout
    for path in OBJECTS[1:]:
        assert labelled(cluster, path) is None, path
    assert labelled(cluster, "/api/v1/namespaces/apps/serviceaccounts/workload") is not None
    assert labelled(cluster, OBJECTS[0]) is not None
    # Deleting the accounts ended their tokens.
    assert who(cluster, deployer) is None and who(cluster, bootstrap) is None
    assert "edge-1" not in {site["name"] for site in
                            service.request("GET", "/sites", token=ADMIN_TOKEN).json()["sites"]}

    # Without a context, only the service is told; a second time, it says it has no such site.
    again = site_command(service, service_token, "remove", "edge-1", home=tmp_path)
    assert again.returncode == 0 and "the service has no site edge-1" in again.stdout
    assert "its cluster was not touched (no --context)" in again.stdout


def test_site_add_with_an_exec_plugin_context_runs_it_as_client_go_does(
        services, central, cluster, operator, service_token, tmp_path):
    """The plugin (a relative command, resolved against the kubeconfig's folder) is given its env
    and the cluster's information (provideClusterInfo, the cluster's exec extension as `config`);
    it checks them and prints an ExecCredential with the administrator's token."""
    service = services()
    plugins = tmp_path / "bin"
    plugins.mkdir()
    seen = tmp_path / "exec-info.json"
    plugin = plugins / "admin-login"
    plugin.write_text(f"""#!/bin/sh
[ "$LOGIN_REGION" = "eu-1" ] || {{ echo "no LOGIN_REGION" >&2; exit 3; }}
[ "$1" = "--profile" ] && [ "$2" = "ops" ] || {{ echo "bad args" >&2; exit 4; }}
printf '%s' "$KUBERNETES_EXEC_INFO" > {seen}
printf '%s' '{{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{{"token":"{ADMIN_TOKEN}"}}}}'
""")
    plugin.chmod(0o755)
    config = json.loads(operator.read_text())
    config["clusters"][0]["cluster"]["extensions"] = [
        {"name": "client.authentication.k8s.io/exec", "extension": {"audience": "ops", "retries": 3}}]
    config["users"].append({"name": "exec", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "./bin/admin-login",
        "args": ["--profile", "ops"], "env": [{"name": "LOGIN_REGION", "value": "eu-1"}],
        "provideClusterInfo": True, "interactiveMode": "Never"}}})
    config["contexts"].append({"name": "admin-exec", "context": {"cluster": "local", "user": "exec", "namespace": "apps"}})
    operator.write_text(json.dumps(config))

    run = site_command(service, service_token, "add", "edge-1", "--context", "admin-exec", "--kubeconfig",
                       str(operator), home=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "registered site edge-1 with the service (created)" in run.stdout
    info = json.loads(seen.read_text())
    assert info["apiVersion"] == "client.authentication.k8s.io/v1" and info["kind"] == "ExecCredential"
    assert info["spec"]["interactive"] is False
    assert info["spec"]["cluster"]["server"] == cluster.url
    assert info["spec"]["cluster"]["certificate-authority-data"] == config["clusters"][0]["cluster"][
        "certificate-authority-data"]
    assert info["spec"]["cluster"]["config"] == {"audience": "ops", "retries": 3}
    assert who(cluster, stored_token(central, "edge-1")) == "system:serviceaccount:apps:kubeconfig-deployer"
    assert ADMIN_TOKEN not in run.stdout + run.stderr

    # A plugin that fails: its exit status named, nothing it printed quoted, nothing written.
    plugin.write_text(f"#!/bin/sh\necho '{ADMIN_TOKEN}'\nexit 7\n")
    before = [entry for entry in cluster.requests() if entry["method"] != "GET"]
    failed = site_command(service, service_token, "add", "edge-2", "--context", "admin-exec", "--kubeconfig",
                          str(operator), home=tmp_path)
    assert failed.returncode == 1 and "exit" in failed.stderr and "7" in failed.stderr, failed.stderr
    assert ADMIN_TOKEN not in failed.stdout + failed.stderr
    assert [entry for entry in cluster.requests() if entry["method"] != "GET"] == before


def test_when_the_services_answer_is_lost_what_was_created_is_kept_for_a_second_run(
        services, central, cluster, operator, service_token, tmp_path):
    """A service that lists its sites, then reads the registration and closes the connection without answering may have
    registered the site: deleting its accounts then could break it, so nothing is deleted, and
    the message says to run the command again. A second run against the real service keeps
    everything and registers the site."""
    import socket
    import threading
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            request = connection.recv(65536)
            if request.startswith(b"GET /sites "):
                body = b'{"sites": []}'
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                   b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        env = {key: value for key, value in os.environ.items() if not key.startswith("KUBECONFIG")}
        lost = subprocess.run([str(BINARY), "site", "add", "edge-1", "--context", "admin", "--kubeconfig",
                               str(operator), "--service", f"http://127.0.0.1:{port}", "--service-token-file",
                               str(service_token)], capture_output=True, text=True, timeout=60,
                              env={**env, "HOME": str(tmp_path)})
    finally:
        listener.close()
    assert lost.returncode == 1
    assert "the site may or may not be registered: run the same command again" in lost.stderr, lost.stderr
    assert "kept what this run changed" in lost.stdout
    for path in OBJECTS:
        assert labelled(cluster, path) is not None, path

    service = services()
    again = site_command(service, service_token, "add", "edge-1", "--context", "admin", "--kubeconfig", str(operator),
                         home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert not [line for line in again.stdout.splitlines() if line.startswith("created ")], again.stdout
    assert who(cluster, stored_token(central, "edge-1")) == "system:serviceaccount:apps:kubeconfig-deployer"


def test_the_same_cluster_under_a_second_name_is_refused_before_anything_is_written(
        services, central, cluster, operator, service_token, tmp_path):
    service = services()
    assert site_command(service, service_token, "add", "edge-1", "--context", "admin", "--kubeconfig",
                        str(operator), home=tmp_path).returncode == 0
    before = [entry for entry in cluster.requests() if entry["method"] != "GET"]
    second = site_command(service, service_token, "add", "edge-2", "--context", "admin", "--kubeconfig",
                          str(operator), "--namespace", "other", home=tmp_path)
    assert second.returncode == 1
    assert (f"this cluster (id {CLUSTER_ID}) is already registered as site edge-1: remove that site first, or pass "
            "--allow-duplicate-cluster") in second.stderr, second.stderr
    assert [entry for entry in cluster.requests() if entry["method"] != "GET"] == before
    allowed = site_command(service, service_token, "add", "edge-2", "--context", "admin", "--kubeconfig",
                           str(operator), "--namespace", "other", "--allow-duplicate-cluster", home=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert who(cluster, stored_token(central, "edge-2")) == "system:serviceaccount:other:kubeconfig-deployer"


def test_site_remove_with_the_context_of_another_cluster_removes_nothing(
        services, central, cluster, operator, service_token, tmp_path):
    service = services()
    assert site_command(service, service_token, "add", "edge-1", "--context", "admin", "--kubeconfig",
                        str(operator), home=tmp_path).returncode == 0
    other = KubeAPIServer(tmp_path / "other", config={"clusterId": "0d7e1f2a-0000-4000-8000-000000000002"}).start()
    try:
        elsewhere = other.write_kubeconfig(tmp_path / "other.kubeconfig", token=ADMIN_TOKEN, context="other")
        run = site_command(service, service_token, "remove", "edge-1", "--context", "other", "--kubeconfig",
                           str(elsewhere), home=tmp_path)
    finally:
        other.stop()
    assert run.returncode == 1
    assert "but site edge-1 is cluster " + CLUSTER_ID + ": nothing was removed" in run.stderr, run.stderr
    assert "edge-1" in {site["name"] for site in service.request("GET", "/sites", token=ADMIN_TOKEN).json()["sites"]}
    for path in OBJECTS:
        assert labelled(cluster, path) is not None, path


def test_a_run_with_other_flags_leaves_exactly_the_new_rights_and_a_refused_one_restores_the_old(
        services, central, cluster, operator, service_token, tmp_path):
    service = services()
    add = ["add", "edge-1", "--context", "admin", "--kubeconfig", str(operator)]
    assert site_command(service, service_token, *add, home=tmp_path).returncode == 0
    binding = f"{RBAC}/namespaces/apps/rolebindings/kubeconfig-deployer"

    # Another role, refused by the service: the binding is bound to edit again, as found.
    reader = tmp_path / "reader.token"
    reader.write_text(central.add_identity("reader", rules=[{"verbs": ["get"], "resources": ["configmaps"]}]))
    refused = site_command(service, reader, *add, "--cluster-role", "view", home=tmp_path)
    assert refused.returncode == 1
    assert "replaced rolebinding apps/kubeconfig-deployer (its role changed)" in refused.stdout
    assert "restored rolebinding apps/kubeconfig-deployer as it was" in refused.stdout, refused.stdout
    assert labelled(cluster, binding)["roleRef"]["name"] == "edit"

    # Another role, registered: the binding is replaced.
    viewer = site_command(service, service_token, *add, "--cluster-role", "view", home=tmp_path)
    assert viewer.returncode == 0, viewer.stderr
    assert labelled(cluster, binding)["roleRef"]["name"] == "view"
    deployer = stored_token(central, "edge-1")
    assert not can_i(cluster, deployer, tmp_path, "create", "configmaps", "-n", "apps")
    assert can_i(cluster, deployer, tmp_path, "list", "configmaps", "-n", "apps")

    # Cluster-wide now: the namespaced binding of the earlier runs goes once the site is registered.
    wide = site_command(service, service_token, *add, "--cluster-role", "view", "--cluster-wide", home=tmp_path)
    assert wide.returncode == 0, wide.stderr
    assert "created clusterrolebinding kubeconfig-service:apps:kubeconfig-deployer" in wide.stdout
    assert "deleted rolebinding apps/kubeconfig-deployer (labelled for the site, no longer in its plan)" in wide.stdout
    assert labelled(cluster, binding) is None
    assert can_i(cluster, stored_token(central, "edge-1"), tmp_path, "list", "configmaps", "-n", "default")
