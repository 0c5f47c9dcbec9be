"""Real clients against the API test server: kubectl and the python kubernetes client read, are
refused and get conflicts as from kube-apiserver, over IPv6 too; kubectl creates tokens through
TokenRequest, and Secrets and ServiceAccounts (with its protobuf bodies)."""

import json
import socket

import pytest
from apitests import CONFIGMAPS, SEED, b64, claims
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, KubeAPIServer
from loopback import kubectl


# MARK: - Real clients


def test_kubectl_reads_a_configmap(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    assert "certificate-authority-data" in kubeconfig.read_text()
    result = kubectl(kubeconfig, "get", "--raw", SEED, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"] == {"seeded": "yes"}


def test_kubectl_shows_the_forbidden_message(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=NOBODY_TOKEN)
    result = kubectl(kubeconfig, "get", "--raw", SEED, home=tmp_path)
    assert result.returncode != 0 and 'configmaps "seed" is forbidden: User "nobody"' in result.stderr


def test_python_client_reads_and_gets_conflicts(api, tmp_path):
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="local")
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context="local"))
    seed = core.read_namespaced_config_map("seed", "onap")
    assert seed.data == {"seeded": "yes"}
    api.put_configmap("onap", "seed", {"changed": "elsewhere"})
    seed.data = {"mine": "1"}
    with pytest.raises(ApiException) as raised:
        core.replace_namespaced_config_map("seed", "onap", seed)
    assert raised.value.status == 409 and json.loads(raised.value.body)["reason"] == "Conflict"


def test_ipv6_loopback(tmp_path):
    with KubeAPIServer(tmp_path / "state", host="::1") as api:
        api.put_configmap("onap", "v6", {"family": "inet6"})
        assert api.url == f"https://[::1]:{api.port}"
        assert api.env() == {"KUBERNETES_SERVICE_HOST": "::1", "KUBERNETES_SERVICE_PORT": str(api.port)}
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", api.port), timeout=1)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        result = kubectl(kubeconfig, "get", "--raw", CONFIGMAPS + "/v6", home=tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["data"] == {"family": "inet6"}


# MARK: - kubectl with TokenRequest, Secrets and ServiceAccounts (it sends protobuf bodies)


def test_kubectl_create_token_gets_a_capped_token(api, tmp_path):
    api.set_max_token_expiration(1200)
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN)
    result = kubectl(kubeconfig, "create", "token", "cloudify", "-n", "onap", "--duration=2h", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "requested expiration of 7200 seconds shortened to 1200 seconds" in result.stderr
    token = result.stdout.strip()
    assert claims(token)["exp"] - claims(token)["iat"] == 1200
    assert [entry["contentType"] for entry in api.token_requests()] == ["application/vnd.kubernetes.protobuf"]
    missing = kubectl(kubeconfig, "create", "token", "ghost", "-n", "onap", home=tmp_path)
    assert missing.returncode != 0 and 'serviceaccounts "ghost" not found' in missing.stderr


def test_kubectl_creates_and_reads_secrets_and_lists_service_accounts(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN)
    created = kubectl(kubeconfig, "create", "secret", "generic", "made", "-n", "onap", "--from-literal=user=alice",
                      home=tmp_path)
    assert created.returncode == 0, created.stderr
    assert api.get_secret("onap", "made")["data"] == {"user": "alice"}
    got = kubectl(kubeconfig, "get", "secret", "made", "-n", "onap", "-o", "json", home=tmp_path)
    assert got.returncode == 0 and json.loads(got.stdout)["data"] == {"user": b64("alice")}
    names = kubectl(kubeconfig, "get", "secrets", "-n", "onap", "-o", "name", home=tmp_path)
    assert names.stdout.split() == ["secret/made", "secret/sealed"]
    accounts = kubectl(kubeconfig, "get", "serviceaccount", "-n", "onap", home=tmp_path)
    assert accounts.returncode == 0 and "kubeconfig-service" in accounts.stdout and "cloudify" in accounts.stdout
