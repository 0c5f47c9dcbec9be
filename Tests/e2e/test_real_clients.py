"""The kubeconfig the service produces, handed to real clients: kubectl and the python kubernetes
client must reach the API test server with it and read the ConfigMap, on IPv4 and IPv6, and
kubectl's `config` commands must see every site in it."""

from __future__ import annotations


import pytest
import yaml

from kubeapi import ADMIN_TOKEN
from loopback import kubectl
from redaction import configmap_of, load, load_json, redact
from support import CONFIGMAP, CONFIGMAP_PATH, NAMESPACE, run_publish


REMOTE_SITE = {
    "apiVersion": "v1", "kind": "Config", "preferences": {},
    "clusters": [{"name": "remote-site", "cluster": {"server": "https://remote.example:6443",
                                                     "insecure-skip-tls-verify": True}}],
    "users": [{"name": "user01", "user": {"token": "remote-token"}}],
    "contexts": [{"name": "remote-site", "context": {"cluster": "remote-site", "user": "user01", "namespace": "edge"}}],
    "current-context": "remote-site",
}


def published_value(api) -> str:
    value = (configmap_of(api, NAMESPACE, CONFIGMAP).get("data") or {}).get("kubeconfig")
    assert value, "nothing was published"
    return value


def check_kubectl_reads_the_configmap(api, kubeconfig, home, *context):
    result = kubectl(kubeconfig, *context, "get", "--raw", CONFIGMAP_PATH, home=home)
    code = result.returncode
    assert code == 0, f"kubectl {' '.join(context)} failed: {redact(result.stderr)}"
    read = load_json(result.stdout)
    assert read["metadata"]["name"] == CONFIGMAP and read["metadata"]["namespace"] == NAMESPACE
    same = read["data"]["kubeconfig"] == published_value(api)
    assert same, "kubectl read another ConfigMap value than the published one"


def check_python_client_reads_the_configmap(api, kubeconfig, context="central"):
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(kubeconfig), context=context)
    try:
        assert api_client.configuration.host == api.url
        configmap = client.CoreV1Api(api_client).read_namespaced_config_map(CONFIGMAP, NAMESPACE)
    finally:
        api_client.close()
    assert configmap.metadata.name == CONFIGMAP
    same = configmap.data["kubeconfig"] == published_value(api)
    assert same, "the python client read another ConfigMap value than the published one"


def fetch(service, path, accept=None) -> bytes:
    answer = service.request("GET", path, token=ADMIN_TOKEN, headers={"Accept": accept} if accept else None)
    status = answer.status
    assert status == 200, f"GET {path}: HTTP {status} {redact(answer.text)[:300]}"
    return answer.body


@pytest.mark.parametrize("source", ["configmap", "get-kubeconfig", "get-kubeconfig-json", "get-kubeconfig-site"])
def test_real_clients_read_the_configmap_with_the_produced_kubeconfig(api, serve, tmp_path, source):
    if source == "configmap":
        result = run_publish(api)
        assert result.returncode == 0, result.stderr
        text = published_value(api).encode()
    else:
        service = serve()
        service.wait_ready()
        path, accept = {"get-kubeconfig": ("/kubeconfig", None),
                        "get-kubeconfig-json": ("/kubeconfig", "application/json"),
                        "get-kubeconfig-site": ("/kubeconfig?site=central", None)}[source]
        text = fetch(service, path, accept)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(text)

    check_kubectl_reads_the_configmap(api, kubeconfig, tmp_path)  # current-context
    check_kubectl_reads_the_configmap(api, kubeconfig, tmp_path, "--context", "central")
    check_python_client_reads_the_configmap(api, kubeconfig)


def test_real_clients_with_an_ipv6_api_server(api6, tmp_path):
    result = run_publish(api6)
    assert result.returncode == 0, result.stderr
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(published_value(api6))
    server = load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    assert server == f"https://[::1]:{api6.port}"

    check_kubectl_reads_the_configmap(api6, kubeconfig, tmp_path)
    check_python_client_reads_the_configmap(api6, kubeconfig)


def test_real_clients_with_a_kubeconfig_served_on_ipv6_from_an_ipv6_api_server(api6, serve, tmp_path):
    service = serve(api_server=api6, address="::1")
    service.wait_ready()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(fetch(service, "/kubeconfig?site=central"))
    check_kubectl_reads_the_configmap(api6, kubeconfig, tmp_path)
    check_python_client_reads_the_configmap(api6, kubeconfig)


def test_kubectl_config_sees_every_site(api, tmp_path):
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": yaml.safe_dump(REMOTE_SITE)})
    result = run_publish(api)
    assert result.returncode == 0, result.stderr
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(published_value(api))

    contexts = kubectl(kubeconfig, "config", "get-contexts", "-o", "name", home=tmp_path)
    assert contexts.returncode == 0, contexts.stderr
    assert sorted(contexts.stdout.split()) == ["central", "remote-site"]

    table = kubectl(kubeconfig, "config", "get-contexts", home=tmp_path)
    assert table.returncode == 0, table.stderr
    rows = {line.replace("*", " ").split()[0]: line.replace("*", " ").split() for line in table.stdout.splitlines()[1:]}
    assert rows["central"][:3] == ["central", "central", "user00"]
    assert rows["remote-site"] == ["remote-site", "remote-site", "user01", "edge"]
    current = [line.split()[1] for line in table.stdout.splitlines()[1:] if line.startswith("*")]
    assert current == ["remote-site"], "the existing current-context was not kept"

    view = kubectl(kubeconfig, "config", "view", "-o", "json", home=tmp_path)
    assert view.returncode == 0, view.stderr
    config = load_json(view.stdout)
    assert sorted(cluster["name"] for cluster in config["clusters"]) == ["central", "remote-site"]
    assert sorted(user["name"] for user in config["users"]) == ["user00", "user01"]
    central = next(cluster for cluster in config["clusters"] if cluster["name"] == "central")["cluster"]
    assert central["server"] == api.url
    assert config["current-context"] == "remote-site"

    check_kubectl_reads_the_configmap(api, kubeconfig, tmp_path, "--context", "central")
    check_python_client_reads_the_configmap(api, kubeconfig, context="central")
