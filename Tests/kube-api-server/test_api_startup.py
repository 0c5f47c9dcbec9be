"""The Kubernetes API test server as a process: its READY line and port file, its certificate and
the service-account folder laid out as kubelet does; the listener closed and reopened (down and
up); HTTP keep-alive and chunked bodies; and instances side by side, which trust nothing of each
other. What these files share is in apitests.py, the `api` fixture in conftest.py."""

import http.client
import json
import os
import re
import socket
import ssl
import time

import pytest
from apitests import SEED, claims, get_seed, status, who_am_i
from kubeapi import NOBODY_TOKEN, KubeAPIServer
from kubeapi.authn import ISSUER
from loopback import kubectl


# MARK: - Start-up, TLS and the service-account folder


def test_port_file_matches_the_ready_line(api):
    assert (api.state_dir / "port").read_text().strip() == str(api.port)


@pytest.mark.parametrize("name", ["localhost", "kubernetes.default.svc", "127.0.0.1"])
def test_certificate_verifies_strictly_for_its_names(api, name):
    context = ssl.create_default_context(cafile=str(api.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # RFC 5280 conformance, as Python 3.13 and BoringSSL expect
    with socket.create_connection(("127.0.0.1", api.port)) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_certificate_does_not_verify_for_other_names(api):
    context = ssl.create_default_context(cafile=str(api.ca_file))
    with socket.create_connection(("127.0.0.1", api.port)) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="example.com")


def test_service_account_folder_is_laid_out_like_kubelet(api):
    data_link = api.sa_dir / "..data"
    assert re.fullmatch(r"\.\.20\d\d_\d\d_\d\d_\d\d_\d\d_\d\d\..+", os.readlink(data_link))
    for name in ("token", "ca.crt", "namespace"):
        assert os.readlink(api.sa_dir / name) == f"..data/{name}"
    assert (api.sa_dir / "namespace").read_text() == "onap"
    assert (api.sa_dir / "ca.crt").read_bytes() == api.ca_file.read_bytes()
    assert api.request("GET", SEED, token=api.token).status == 200


def test_helper_reports_a_server_that_fails_to_start(tmp_path):
    broken = KubeAPIServer(tmp_path, config={"configmaps": [{"data": {}}]})  # no name: the server crashes
    with pytest.raises(RuntimeError, match=r"(?s)not ready.*KeyError"):
        broken.start()


# MARK: - Down and up


def test_down_refuses_connections_then_reopens_on_the_same_port(api):
    api.down(0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", api.port), timeout=1)
    api.wait_listening(timeout=3)
    assert api.request("GET", SEED, token=api.token).status == 200


def test_down_closes_kept_alive_connections_and_up_reopens(api):
    connection = http.client.HTTPSConnection("127.0.0.1", api.port, context=api.ssl_context(), timeout=5)
    headers = {"Authorization": f"Bearer {api.token}"}
    connection.request("GET", SEED, headers=headers)
    assert connection.getresponse().read() and connection.sock is not None
    api.down()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        connection.request("GET", SEED, headers=headers)
        connection.getresponse()
    connection.close()
    time.sleep(0.3)  # nothing to poll for: it must stay down, as no timer reopens it
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", api.port), timeout=1)
    api.up()
    assert api.request("GET", SEED, token=api.token).status == 200


# MARK: - HTTP details


def test_keep_alive_serves_several_requests_on_one_connection(api):
    connection = http.client.HTTPSConnection("127.0.0.1", api.port, context=api.ssl_context(), timeout=5)
    sockets = set()
    for _ in range(3):
        connection.request("GET", SEED, headers={"Authorization": f"Bearer {api.token}"})
        answer = connection.getresponse()
        assert int(answer.headers["Content-Length"]) == len(answer.read())
        sockets.add(id(connection.sock))
    connection.close()
    assert len(sockets) == 1


def test_chunked_request_body_is_read(api):
    seed = get_seed(api)
    chunks = [json.dumps({**seed, "data": {"chunked": "yes"}}).encode()[i:i + 10] for i in range(0, 400, 10)]
    connection = http.client.HTTPSConnection("127.0.0.1", api.port, context=api.ssl_context(), timeout=5)
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    connection.request("PUT", SEED, body=iter(chunks), headers=headers, encode_chunked=True)
    assert connection.getresponse().status == 200
    connection.close()
    assert api.get_configmap("onap", "seed")["data"] == {"chunked": "yes"}


# MARK: - Instances side by side; tokens through TokenRequest


def test_create_token_goes_through_token_request(api):
    token = api.create_token("onap", "robot", expiration_seconds=900, audiences=["https://example.com", ISSUER])
    assert claims(token)["exp"] - claims(token)["iat"] == 900 and claims(token)["aud"] == ["https://example.com", ISSUER]
    assert [(e["user"], e["code"]) for e in api.token_requests(name="robot")] == [("admin", 201)]
    assert api.request("GET", "/api", token=token).status == 200
    with pytest.raises(RuntimeError, match="403"):
        api.create_token("onap", "robot", token=NOBODY_TOKEN)
    assert api.revoke_token(token) is True
    assert api.request("GET", "/api", token=token).status == 401


def test_two_instances_side_by_side_trust_nothing_of_each_other(tmp_path):
    with KubeAPIServer(tmp_path / "a") as a, \
            KubeAPIServer(tmp_path / "b", host="::1", config={"defaultRules": False}) as b:
        assert (a.url, b.url) == (f"https://127.0.0.1:{a.port}", f"https://[::1]:{b.port}")
        assert a.ca_file.read_bytes() != b.ca_file.read_bytes()
        # Tokens: one instance's are unknown to the other.
        token = a.create_token("onap", "kubeconfig-service")
        assert a.request("GET", "/api", token=token).status == 200
        assert b.request("GET", "/api", token=token).json() == status(401, "Unauthorized", "Unauthorized")
        assert b.request("GET", "/api", token=a.token).status == 401  # the mounted tokens too
        assert a.request("GET", "/api", token=b.token).status == 401
        # Server certificates: each CA rejects the other's.
        for server, other in ((a, b), (b, a)):
            context = ssl.create_default_context(cafile=str(other.ca_file))
            with socket.create_connection((server.host, server.port), timeout=5) as raw:
                with pytest.raises(ssl.SSLCertVerificationError):
                    context.wrap_socket(raw, server_hostname=server.host)
        # Client certificates: the other instance did not sign them, so they are a 401 there.
        alice_a, alice_b = a.client_certificate("alice"), b.client_certificate("alice")
        assert who_am_i(a, client_certificate=alice_a)["username"] == "alice"
        assert a.request("GET", "/api", client_certificate=alice_b).status == 401
        assert b.request("GET", "/api", client_certificate=alice_a).status == 401
        # system:basic-user is bootstrap policy: it holds without the default rules, over IPv6 too.
        kubeconfig = b.write_kubeconfig(tmp_path / "kubeconfig", client_certificate=alice_b)
        result = kubectl(kubeconfig, "auth", "whoami", "-o", "json", home=tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["status"]["userInfo"]["username"] == "alice"
        assert a.revoke_token(token) and a.request("GET", "/api", token=token).status == 401
