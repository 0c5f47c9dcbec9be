"""The request edge, hardened (issue 13), end to end: an oversized body gets its 413 whatever the
client (urllib and requests send it without `Expect: 100-continue`); ambiguity (two
`Authorization` headers, a repeated `site=`, two `Content-Type`s on a PUT) is a 400 that never
reaches the API server; `--auth-token-audience` accepts only tokens issued for it; headers that
claim an identity never count; and a seeded fuzz run of PUT and DELETE /sites/{name} leaves the
process serving and the document byte for byte as it was.

The fuzz run is bounded in time (FUZZ_SECONDS). Its seed is printed; REQUEST_EDGE_FUZZ_SEED=N
replays another run, REQUEST_EDGE_FUZZ_SECONDS=S runs longer. Raw requests and the fuzzer's are
built in edgerequests.py.

Run: KUBECONFIG_SERVICE_BIN=... python3 -m pytest -q Tests/e2e/test_request_edge.py
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import random
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml
from edgerequests import Fuzzer, IDENTITY_HEADERS, ca_data, raw_request
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, READER_TOKEN, KubeAPIServer
from loopback import BINARY, raw_answer, read_answer, wait_until
from redaction import redact
from support import CONFIGMAP, NAMESPACE, configmap_calls, stored_document

try:
    import requests
except ImportError:  # then http.client, which sends the body the same way (no Expect)
    requests = None

MIB = 1024 * 1024
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
AUDIENCE = "kubeconfig-service"
CLOUDIFY = "system:serviceaccount:onap:cloudify"
WRITER_RULES = [{"verbs": ["get", "patch"], "resources": ["configmaps"], "namespaces": [NAMESPACE]}]


# MARK: - Helpers


def started(serve, *args, **kwargs):
    service = serve("--refresh-interval", "0", "--site-probe-interval", "0", *args, **kwargs)
    service.wait_ready()
    return service


def error_of(answer) -> dict:
    """The service's error contract: JSON `{"error": {"code", "message"}}`."""
    assert answer is not None, "no answer"
    assert (answer.headers.get("Content-Type") or "").startswith("application/json"), answer
    return answer.json()["error"]


def reviews_in(api) -> list[dict]:
    """The TokenReviews and SubjectAccessReviews the service sent, oldest first."""
    return [entry for entry in api.requests() if entry["path"] in (TOKEN_REVIEWS, ACCESS_REVIEWS)]


def configmap_writes(api) -> int:
    return len([entry for entry in configmap_calls(api) if entry["method"] in ("PUT", "PATCH", "POST", "DELETE")])


def registration(server: KubeAPIServer, **fields) -> dict:
    """A valid JSON registration of a remote site (the API test server itself stands in for it)."""
    return {"server": server.url, "certificateAuthorityData": ca_data(server), "token": "edge-token-1",
            "namespace": "apps", **fields}


def audit_users(service, method: str, path: str, expected: int = 1) -> list[str]:
    """The users of the audit lines of `method path`, once `expected` of them were logged (or 5 s
    passed): a thread of the service's own writes log lines after the answer has gone."""
    def users() -> list[str]:
        return [entry.get("user") for entry in service.log_entries()
                if entry.get("msg") == "audit" and entry.get("method") == method and entry.get("path") == path]
    wait_until(lambda: len(users()) >= expected, timeout=5)
    return users()


# MARK: - Oversized bodies


OVERSIZED = b'{"padding": "' + b"x" * (2 * MIB) + b'"}'
JSON_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def send_with_urllib(service, method, path, body):
    request = urllib.request.Request(f"http://{service.host}:{service.port}{path}", data=body, method=method,
                                     headers=JSON_HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def send_with_requests(service, method, path, body):
    answer = requests.request(method, f"http://{service.host}:{service.port}{path}", data=body,
                              headers=JSON_HEADERS, timeout=15)
    return answer.status_code, answer.content


def send_with_http_client(service, method, path, body, chunked=False):
    connection = service.connection(timeout=15)
    try:
        if chunked:  # an iterable body: http.client sends it chunked, with no length to refuse early
            connection.request(method, path, body=(body[i:i + 65536] for i in range(0, len(body), 65536)),
                               headers=JSON_HEADERS, encode_chunked=True)
        else:
            connection.request(method, path, body=body, headers=JSON_HEADERS)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


CLIENTS = {
    "urllib": send_with_urllib,
    "requests" if requests else "http.client": send_with_requests if requests else send_with_http_client,
    "http.client chunked": lambda service, method, path, body: send_with_http_client(service, method, path, body, True),
}


def test_an_oversized_body_sent_without_expect_gets_its_413_not_a_reset(api, serve):
    """urllib and requests send the whole body without waiting for an answer: the service reads
    it (up to 8 MiB) and throws it away, then answers 413, so the client reads the 413 instead of
    a Broken pipe or a reset. Five times each, since a race lost once in five is the bug."""
    service = started(serve)
    writes = configmap_writes(api)
    problems = []
    for client, send in CLIENTS.items():
        for method, path in (("POST", "/sites/central"), ("PUT", "/sites/edge")):
            for attempt in range(1, 6):
                try:
                    status, body = send(service, method, path, OVERSIZED)
                except OSError as error:  # urllib's URLError and requests' ConnectionError are OSErrors
                    problems.append(f"{client} {method} {path} #{attempt}: {type(error).__name__}: {error}")
                    continue
                code = json.loads(body).get("error", {}).get("code") if body.startswith(b"{") else None
                if (status, code) != (413, "PayloadTooLarge"):
                    problems.append(f"{client} {method} {path} #{attempt}: {status} {body[:200]!r}")
    assert not problems, "2 MiB bodies not answered with a 413:\n" + "\n".join(problems)
    assert service.request("GET", "/healthz").status == 200
    assert service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).status == 200
    assert configmap_writes(api) == writes


@pytest.mark.parametrize("method, path", [("POST", "/sites/central"), ("PUT", "/sites/edge")])
def test_with_expect_100_continue_the_413_comes_before_the_body(api, serve, method, path):
    service = started(serve)
    head = raw_request(method, path, [("Authorization", f"Bearer {ADMIN_TOKEN}"), ("Content-Type", "application/json"),
                                      ("Expect", "100-continue")])
    head = head.replace(b"Content-Length: 0", b"Content-Length: %d" % (2 * MIB))
    with socket.create_connection((service.host, service.port), timeout=3) as sock:
        began = time.monotonic()
        sock.sendall(head)
        answer = read_answer(sock)  # not a byte of the body has been sent
        elapsed = time.monotonic() - began
    assert answer is not None and answer.status == 413, f"{answer!r} after {elapsed:.2f} s"
    assert error_of(answer)["code"] == "PayloadTooLarge"
    assert elapsed < 2, f"the 413 came after {elapsed:.2f} s"
    assert service.request("GET", "/healthz").status == 200


@pytest.mark.parametrize("declared", [100 * MIB, 8 * MIB + 1])
def test_a_declared_length_beyond_the_drain_bound_gets_its_413_at_once(api, serve, declared):
    """Beyond 8 MiB the body is not drained: the 413 comes while the client is still sending."""
    service = started(serve)
    head = raw_request("POST", "/sites/central", [("Authorization", f"Bearer {ADMIN_TOKEN}")])
    head = head.replace(b"Content-Length: 0", b"Content-Length: %d" % declared)
    with socket.create_connection((service.host, service.port), timeout=3) as sock:
        began = time.monotonic()
        try:
            sock.sendall(head + b"x" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered already: read it
        answer = read_answer(sock)
        elapsed = time.monotonic() - began
    assert answer is not None and answer.status == 413, f"{answer!r} after {elapsed:.2f} s"
    assert error_of(answer)["code"] == "PayloadTooLarge"
    assert elapsed < 2, f"the 413 came after {elapsed:.2f} s"
    assert service.request("GET", "/healthz").status == 200
    assert service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).status == 200


# MARK: - Ambiguity is refused


def test_two_authorization_headers_are_a_400_on_every_route(api, serve):
    """Which of two would be checked? Neither: 400, before any review, whether the tokens are
    the same, differ, or one is not a bearer token; on routes that take no token too."""
    service = started(serve)
    body = json.dumps(registration(api)).encode()
    routes = [("GET", "/kubeconfig", b""), ("GET", "/sites", b""), ("GET", "/status", b""),
              ("GET", "/sites/central", b""), ("POST", "/sites/central", b""), ("PUT", "/sites/edge", body),
              ("DELETE", "/sites/edge", b""), ("GET", "/healthz", b""), ("GET", "/metrics", b"")]
    fresh = [api.add_identity(f"writer-{index}", rules=WRITER_RULES) for index in range(2)]
    pairs = [("Authorization", f"Bearer {fresh[0]}", "Authorization", f"Bearer {fresh[1]}"),
             ("Authorization", f"Bearer {fresh[0]}", "Authorization", f"Bearer {fresh[0]}"),
             ("Authorization", f"Bearer {fresh[0]}", "authorization", f"Bearer {ADMIN_TOKEN}"),
             ("Authorization", "Basic YWRtaW46YWRtaW4=", "Authorization", f"Bearer {fresh[1]}"),
             ("AUTHORIZATION", f"Bearer {READER_TOKEN}", "Authorization", f"Bearer {ADMIN_TOKEN}")]
    api.requests(clear=True)
    problems = []
    for method, path, payload in routes:
        for first, first_value, second, second_value in pairs:
            headers = [(first, first_value), ("Content-Type", "application/json"), (second, second_value)]
            answer = raw_answer(service, raw_request(method, path, headers, payload))
            if answer is None or answer.status != 400 or error_of(answer) != {
                    "code": "BadRequest", "message": "a request has one Authorization header"}:
                problems.append(f"{method} {path} ({first}, {second}): {redact(repr(answer))}")
    assert not problems, "\n".join(problems)
    assert reviews_in(api) == [], "an ambiguous request was reviewed"
    assert stored_document(api).get("contexts", [])[0]["name"] == "central" and configmap_writes(api) == 0


def test_a_repeated_site_parameter_is_a_400(api, serve):
    service = started(serve)
    assert service.request("GET", "/kubeconfig?site=central", token=ADMIN_TOKEN).status == 200
    for query in ("site=central&site=central", "site=central&site=edge", "site=edge&site=central",
                  "site=central&%73ite=edge", "site=&site=central", "site=central&site", "a=1&site=central&b=2&site=x"):
        answer = service.request("GET", f"/kubeconfig?{query}", token=ADMIN_TOKEN)
        assert answer.status == 400, (query, answer)
        assert error_of(answer) == {"code": "BadRequest", "message": "the site query parameter is given more than once"}


def test_two_content_types_on_a_put_are_a_400_and_nothing_is_written(api, serve):
    service = started(serve)
    body = json.dumps(registration(api)).encode()
    before = api.get_configmap(NAMESPACE, CONFIGMAP)
    auth = ("Authorization", f"Bearer {ADMIN_TOKEN}")
    for first, second in (("application/json", "application/json"), ("application/json", "application/yaml"),
                          ("application/yaml", "application/json"), ("application/json", "text/plain")):
        for spelling in ("Content-Type", "content-type"):
            answer = raw_answer(service, raw_request("PUT", "/sites/edge", [auth, ("Content-Type", first),
                                                                           (spelling, second)], body))
            assert answer is not None and answer.status == 400, (first, second, answer)
            error = error_of(answer)
            assert error["code"] == "BadRequest" and error["message"].startswith("a request has one Content-Type"), error
    assert api.get_configmap(NAMESPACE, CONFIGMAP) == before
    # The same body with one Content-Type registers the site: only the repeat was refused.
    answer = raw_answer(service, raw_request("PUT", "/sites/edge", [auth, ("Content-Type", "application/json")], body))
    assert answer is not None and answer.status == 201, answer


def test_ambiguous_requests_are_refused_before_the_api_server_is_asked(api, serve):
    """An ambiguous request costs the API server nothing: each is sent with a token never seen
    before (so no cached decision hides a review), and the request log must show no TokenReview
    or SubjectAccessReview for it."""
    service = started(serve)
    body = json.dumps(registration(api)).encode()
    cases = {
        "two Authorization headers": lambda token: raw_request(
            "GET", "/kubeconfig", [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]),
        "a repeated site=": lambda token: raw_request(
            "GET", "/kubeconfig?site=central&site=edge", [("Authorization", f"Bearer {token}")]),
        "two Content-Types on a PUT": lambda token: raw_request(
            "PUT", "/sites/edge", [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"),
                                   ("Content-Type", "application/yaml")], body),
    }
    reached = []
    for index, (name, build) in enumerate(cases.items()):
        token = api.add_identity(f"fresh-{index}", rules=WRITER_RULES)
        api.requests(clear=True)
        answer = raw_answer(service, build(token))
        assert answer is not None and answer.status == 400, (name, answer)
        asked = [entry["path"].rsplit("/", 1)[-1] for entry in reviews_in(api)]
        if asked:
            reached.append(f"{name}: the service asked {asked} before its 400")
    assert not reached, "ambiguous requests reached the API server:\n" + "\n".join(reached)


def test_a_json_registration_naming_a_field_twice_is_refused(api, serve):
    """{"token": A, "token": B} is ambiguous: Go's encoding/json and Python keep B, other parsers
    A, so a check in front of the service may have seen the other registration. Refused, whichever
    copy is the valid one (as the YAML path refuses a key given twice)."""
    service = started(serve)
    before = api.get_configmap(NAMESPACE, CONFIGMAP)
    valid = registration(api)
    accepted = []
    for field, other in (("token", "not a token"), ("server", "https://other.example:6443"),
                         ("namespace", "other-namespace"), ("certificateAuthorityData", "bm90IGEgY2VydGlmaWNhdGU=")):
        for order in ((valid[field], other), (other, valid[field])):
            rest = ", ".join(f"{json.dumps(key)}: {json.dumps(value)}" for key, value in valid.items() if key != field)
            body = "{" + ", ".join(f"{json.dumps(field)}: {json.dumps(value)}" for value in order) + ", " + rest + "}"
            answer = service.request("PUT", "/sites/edge", token=ADMIN_TOKEN, body=body,
                                     headers={"Content-Type": "application/json"})
            if answer.status != 400:
                accepted.append(f"{field} given as {order[0][:40]!r} then {order[1][:40]!r}: {answer.status} "
                                f"{answer.body[:100]!r}")
    assert not accepted, "registrations with a field given twice were not refused:\n" + "\n".join(accepted)
    assert api.get_configmap(NAMESPACE, CONFIGMAP)["data"] == before["data"]


@pytest.mark.parametrize("section", ["clusters", "users"])
def test_a_kubeconfig_with_two_entries_of_one_name_is_refused(api, serve, section):
    """client-go refuses such a kubeconfig ('duplicate name "c" in list'); which entry the context
    means is a guess, so the import must refuse it too, in either order."""
    service = started(serve)
    before = api.get_configmap(NAMESPACE, CONFIGMAP)
    valid = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
             "clusters": [{"name": "c", "cluster": {"server": api.url, "certificate-authority-data": ca_data(api)}}],
             "users": [{"name": "c", "user": {"token": "edge-token-1"}}],
             "contexts": [{"name": "x", "context": {"cluster": "c", "user": "c"}}]}
    other = json.loads(json.dumps(valid[section][0]))
    other.update({"cluster": {"server": "https://other.example:6443", "certificate-authority-data": ca_data(api)}}
                 if section == "clusters" else {"user": {"token": "other-token"}})
    accepted = []
    for entries in ([valid[section][0], other], [other, valid[section][0]]):
        document = {**valid, section: entries}
        answer = service.request("PUT", "/sites/edge", token=ADMIN_TOKEN, body=yaml.safe_dump(document),
                                 headers={"Content-Type": "application/yaml"})
        if answer.status != 400:
            accepted.append(f"{json.dumps(entries[0])[:120]} first: {answer.status} {answer.body[:100]!r}")
    assert not accepted, f"a kubeconfig with two {section} named c was imported:\n" + "\n".join(accepted)
    assert api.get_configmap(NAMESPACE, CONFIGMAP)["data"] == before["data"]


@pytest.mark.parametrize("field", ["token", "namespace", "certificate-authority-data"])
def test_a_kubeconfig_value_starting_with_a_byte_order_mark_is_refused(api, serve, field):
    """U+FEFF is no part of a token, a namespace or base64: the JSON registration refuses it
    anywhere in those, so must the kubeconfig import, rather than drop it (found by the fuzz run
    with seeds 1, 2 and 6: a leading one vanished and the value without it was stored)."""
    service = started(serve)
    before = api.get_configmap(NAMESPACE, CONFIGMAP)
    values = {"token": "edge-token-1", "namespace": "apps", "certificate-authority-data": ca_data(api)}
    values[field] = "\ufeff" + values[field]
    document = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
                "clusters": [{"name": "c", "cluster": {"server": api.url,
                                                        "certificate-authority-data": values["certificate-authority-data"]}}],
                "users": [{"name": "u", "user": {"token": values["token"]}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": values["namespace"]}}]}
    statuses = {}
    for spelling, text in (("escaped", yaml.safe_dump(document)), ("raw", yaml.safe_dump(document, allow_unicode=True))):
        statuses[spelling] = service.request("PUT", "/sites/edge", token=ADMIN_TOKEN, body=text,
                                             headers={"Content-Type": "application/yaml"}).status
    json_field = {"token": "token", "namespace": "namespace", "certificate-authority-data": "certificateAuthorityData"}
    as_json = json.dumps(registration(api, **{json_field[field]: values[field]}))
    statuses["json"] = service.request("PUT", "/sites/edge", token=ADMIN_TOKEN, body=as_json,
                                       headers={"Content-Type": "application/json"}).status
    assert statuses == {"escaped": 400, "raw": 400, "json": 400}
    assert api.get_configmap(NAMESPACE, CONFIGMAP)["data"] == before["data"]


# MARK: - Token audiences


@pytest.fixture
def cloudify_api(tmp_path):
    """An API server with Cloudify's account, which may read the document (not change it)."""
    config = {"serviceAccounts": [{"namespace": NAMESPACE, "name": "cloudify"}],
              "rules": [{"user": CLOUDIFY, "verbs": ["get"], "resources": ["configmaps"], "namespaces": [NAMESPACE]}]}
    server = KubeAPIServer(tmp_path / "cloudify-api", config=config).start()
    server.put_configmap(NAMESPACE, CONFIGMAP, {})
    yield server
    server.stop()


def test_with_a_token_audience_only_tokens_issued_for_it_are_accepted(cloudify_api, serve):
    service = started(serve, "--auth-token-audience", AUDIENCE, api_server=cloudify_api)
    bound = cloudify_api.create_token(NAMESPACE, "cloudify", audiences=[AUDIENCE])
    elsewhere = cloudify_api.create_token(NAMESPACE, "cloudify", audiences=["vault"])
    ordinary = cloudify_api.create_token(NAMESPACE, "cloudify")  # the API server's audience
    cloudify_api.requests(clear=True)

    answer = service.request("GET", "/kubeconfig", token=bound)
    assert answer.status == 200, answer
    assert service.request("GET", "/status", token=bound).status == 200
    assert service.request("POST", "/sites/central", token=bound).status == 403  # may read, not change
    message = f"the bearer token is not valid for this service's audience ({AUDIENCE})"
    for name, token in (("a token for another audience", elsewhere), ("the API server's token", ordinary),
                        ("the admin's static token", ADMIN_TOKEN), ("the service's own token", cloudify_api.token)):
        answer = service.request("GET", "/kubeconfig", token=token)
        assert answer.status == 401, (name, answer)
        assert error_of(answer) == {"code": "Unauthorized", "message": message}, name
        assert (answer.headers.get("WWW-Authenticate") or "").startswith("Bearer"), name
    assert audit_users(service, "GET", "/kubeconfig") == [CLOUDIFY]
    # What the service asked: every TokenReview for the audience (the test server logs spec.audiences).
    token_reviews = [entry for entry in cloudify_api.requests() if entry["path"] == TOKEN_REVIEWS]
    assert len(token_reviews) >= 5, token_reviews  # the bound token (per verb), the 4 refused ones
    assert all(entry["audiences"] == [AUDIENCE] for entry in token_reviews), token_reviews


def test_without_a_token_audience_the_api_servers_own_is_asked_for(cloudify_api, serve):
    service = started(serve, api_server=cloudify_api)
    bound = cloudify_api.create_token(NAMESPACE, "cloudify", audiences=[AUDIENCE])
    ordinary = cloudify_api.create_token(NAMESPACE, "cloudify")
    cloudify_api.requests(clear=True)
    assert service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).status == 200
    assert service.request("GET", "/kubeconfig", token=ordinary).status == 200
    # A token minted for another service is not the API server's: kube-apiserver refuses it.
    answer = service.request("GET", "/kubeconfig", token=bound)
    assert answer.status == 401 and error_of(answer)["message"] == "the bearer token is not valid", answer
    token_reviews = [entry for entry in cloudify_api.requests() if entry["path"] == TOKEN_REVIEWS]
    assert [entry["audiences"] for entry in token_reviews] == [[], [], []]


def test_a_token_for_any_of_several_audiences_is_accepted(cloudify_api, serve):
    service = started(serve, "--auth-token-audience", "dcae", "--auth-token-audience", AUDIENCE,
                      api_server=cloudify_api)
    for audiences in (["dcae"], [AUDIENCE], ["vault", AUDIENCE]):
        token = cloudify_api.create_token(NAMESPACE, "cloudify", audiences=audiences)
        assert service.request("GET", "/kubeconfig", token=token).status == 200, audiences
    answer = service.request("GET", "/kubeconfig", token=cloudify_api.create_token(NAMESPACE, "cloudify",
                                                                                    audiences=["vault"]))
    assert answer.status == 401
    assert error_of(answer)["message"] == f"the bearer token is not valid for this service's audience (dcae, {AUDIENCE})"
    token_reviews = [entry for entry in cloudify_api.requests() if entry["path"] == TOKEN_REVIEWS]
    assert token_reviews and all(entry["audiences"] == ["dcae", AUDIENCE] for entry in token_reviews)


def test_a_token_audience_needs_kubernetes_auth(api):
    result = subprocess.run([str(BINARY), "serve", "--service-account-dir", str(api.sa_dir), "--port", "0",
                             "--auth", "none", "--auth-token-audience", AUDIENCE],
                            env={**os.environ, **api.env()}, capture_output=True, text=True, timeout=15)
    assert result.returncode != 0
    assert "--auth-token-audience needs --auth kubernetes" in result.stderr, result.stderr


# MARK: - Identity headers


def test_headers_claiming_an_identity_never_count(api, serve):
    """kube-rbac-proxy's audits found proxies that believed X-Remote-User from clients: here the
    caller is whoever the bearer token is, with or without such headers."""
    service = started(serve)
    before = stored_document(api)
    body = json.dumps(registration(api))
    for method, path, payload in (("POST", "/sites/central", None), ("PUT", "/sites/edge", body),
                                  ("DELETE", "/sites/central", None)):
        answer = service.request(method, path, token=READER_TOKEN, body=payload,
                                 headers={**IDENTITY_HEADERS, "Content-Type": "application/json"})
        assert answer.status == 403, (method, path, answer)
        assert error_of(answer)["message"].startswith('forbidden: User "reader" cannot patch'), answer
        assert service.request(method, path, body=payload, headers=IDENTITY_HEADERS).status == 401, (method, path)
    assert service.request("GET", "/kubeconfig", headers=IDENTITY_HEADERS).status == 401
    assert service.request("GET", "/kubeconfig", token=NOBODY_TOKEN, headers=IDENTITY_HEADERS).status == 403
    assert service.request("GET", "/kubeconfig", token="not-a-token", headers=IDENTITY_HEADERS).status == 401
    assert stored_document(api) == before
    # Allowed callers are audited as their token's user, not as the header's.
    assert service.request("GET", "/kubeconfig", token=READER_TOKEN, headers=IDENTITY_HEADERS).status == 200
    deployer = api.add_identity("deployer", rules=WRITER_RULES)
    assert service.request("POST", "/sites/central", token=deployer, headers=IDENTITY_HEADERS).status == 200
    assert audit_users(service, "GET", "/kubeconfig") == ["reader"]
    assert audit_users(service, "POST", "/sites/central") == ["deployer"]
    assert all("admin" not in json.dumps(entry) for entry in service.log_entries()
               if entry.get("msg") in ("audit", "request refused")), service.logs


# MARK: - Fuzzing PUT and DELETE /sites/{name}


FUZZ_SEED = int(os.environ.get("REQUEST_EDGE_FUZZ_SEED", "20261313"))
FUZZ_SECONDS = float(os.environ.get("REQUEST_EDGE_FUZZ_SECONDS", "12"))
FUZZ_WORKERS = 8


def test_fuzzed_site_changes_are_all_refused_and_leave_the_document_untouched(api, serve):
    service = started(serve)
    edge = json.dumps(registration(api)).encode()
    assert service.request("PUT", "/sites/edge", token=ADMIN_TOKEN, body=edge,
                           headers={"Content-Type": "application/json"}).status == 201
    before = api.get_configmap(NAMESPACE, CONFIGMAP)
    writes = configmap_writes(api)
    print(f"\nfuzz seed {FUZZ_SEED} (REQUEST_EDGE_FUZZ_SEED replays it), {FUZZ_SECONDS:g} s")
    fuzzer = Fuzzer(random.Random(FUZZ_SEED), api)
    deadline = time.monotonic() + FUZZ_SECONDS

    def send(item):
        kind, data = item
        if time.monotonic() > deadline:
            return kind, data, "skipped"
        try:
            return kind, data, raw_answer(service, data, timeout=10)
        except OSError as error:
            return kind, data, f"{type(error).__name__}: {error}"

    statuses, accepted, problems, sent = collections.Counter(), collections.defaultdict(list), [], 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=FUZZ_WORKERS) as pool:
        while time.monotonic() < deadline and service.process.poll() is None:
            batch = [fuzzer.request() for _ in range(FUZZ_WORKERS * 4)]
            for kind, data, answer in pool.map(send, batch):
                if answer == "skipped":
                    continue
                sent += 1
                if not hasattr(answer, "status"):
                    problems.append(f"{kind}: no answer ({answer}): {data[:300]!r}")
                    continue
                statuses[(kind.split()[0], answer.status)] += 1
                if 200 <= answer.status < 300:
                    accepted[kind].append(f"{answer.status} for {data[:1500]!r}")
                elif answer.status >= 500 and answer.status not in (502, 503):
                    problems.append(f"{kind} -> {answer.status} {answer.body[:200]!r}: {data[:300]!r}")
    print(f"MEASURE fuzz: {sent} requests in {FUZZ_SECONDS:g} s; (method, status): {dict(sorted(statuses.items()))}")
    assert service.process.poll() is None, f"the service died during the fuzz; logs:\n{service.logs[-3000:]}"
    assert sent >= 500, f"only {sent} requests in {FUZZ_SECONDS:g} s"
    assert not problems, f"{len(problems)} requests not answered properly, e.g.:\n" + "\n".join(problems[:10])
    assert not accepted, (f"fuzzed inputs were accepted (seed {FUZZ_SEED}); by kind, how many and the first:\n"
                          + "\n".join(f"{kind}: {len(found)}, {found[0]}" for kind, found in sorted(accepted.items())))
    # Still serving, and the document is as it was, byte for byte, never written.
    assert service.request("GET", "/healthz").status == 200
    sites = service.request("GET", "/sites", token=ADMIN_TOKEN)
    assert sites.status == 200 and [site["name"] for site in sites.json()["sites"]] == ["central", "edge"], sites
    assert service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).status == 200
    after = api.get_configmap(NAMESPACE, CONFIGMAP)
    assert after["data"] == before["data"] and after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert configmap_writes(api) == writes
