"""`kubeconfig-service serve` end to end: routes, the error contract, readiness, and authorisation
by TokenReview + SubjectAccessReview, against the local HTTPS Kubernetes API test server.

Answers are described with tokens redacted, and checks involving a token compute a boolean
first, so that no failure message ever shows one.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import time

import pytest
import yaml

from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, READER_TOKEN
from redaction import SafeStr, configmap_of, load, load_json, redact
from support import CONFIGMAP, CONFIGMAP_PATH, NAMESPACE, names, pod_token_fields

RESULT_FIELDS = {"site", "namespace", "configMap", "key", "server", "resourceVersion", "changed", "tokenSource",
                 "tokenExpiresAt"}
KIB = 1024


class SafeBytes(bytes):
    def __repr__(self):
        return redact(bytes.__repr__(self))


class SafeAnswer:
    """The service's answer, with text, json() and repr safe to show."""

    def __init__(self, answer):
        self.status, self.headers, self.body = answer.status, answer.headers, SafeBytes(answer.body)

    @property
    def text(self) -> str:
        return SafeStr(self.body.decode(errors="replace"))

    def json(self):
        return load_json(self.body)

    def __repr__(self):
        return f"Answer({self.status}, {redact(self.text)[:300]!r})"


def call(service, method, path, **kwargs) -> SafeAnswer:
    return SafeAnswer(service.request(method, path, **kwargs))

REMOTE = {
    "clusters": [{"name": "remote-site", "cluster": {"server": "https://remote.example:6443",
                                                     "tls-server-name": "kubernetes.remote"}}],
    "users": [{"name": "user01", "user": {"token": "remote-token"}}],
    "contexts": [{"name": "remote-site", "context": {"cluster": "remote-site", "user": "user01", "namespace": "edge"}}],
}


def remote_document(current="remote-site"):
    return {"apiVersion": "v1", "kind": "Config", "preferences": {}, **copy.deepcopy(REMOTE), "current-context": current}


# MARK: - Helpers


def describe(answer) -> str:
    return f"HTTP {answer.status} {dict(answer.headers)} {redact(answer.text)[:600]}"


def expect(answer, status: int):
    actual = answer.status
    assert actual == status, f"want HTTP {status}; got {describe(answer)}"
    return answer


def expect_error(answer, status: int, code: str | None = None) -> dict:
    """The error contract: the status, JSON `{"error": {"code", "message"}}` and nothing else."""
    expect(answer, status)
    content_type = answer.headers.get("Content-Type", "")
    assert content_type.startswith("application/json"), describe(answer)
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, describe(answer)
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], describe(answer)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], describe(answer)
    if code is not None:
        assert body["error"]["code"] == code, describe(answer)
    return body["error"]


def stored_text(api, key="kubeconfig"):
    return (configmap_of(api, NAMESPACE, CONFIGMAP).get("data") or {}).get(key)


def ready(serve, *args, **kwargs):
    service = serve(*args, **kwargs)
    service.wait_ready()
    return service


def reviews(api):
    return [entry["path"].rsplit("/", 1)[-1] for entry in api.requests()
            if entry["path"].endswith(("tokenreviews", "subjectaccessreviews"))]


def configmap_writes(api):
    """Writes to ConfigMaps, creations included (a POST to the collection)."""
    return [entry for entry in api.requests() if entry["method"] in ("PATCH", "PUT", "POST", "DELETE")
            and entry["path"].startswith(f"/api/v1/namespaces/{NAMESPACE}/configmaps")]


def exchange(service, data: bytes, timeout: float = 5.0) -> bytes:
    """Sends raw bytes and reads one response: the head and Content-Length bytes of body."""
    with socket.create_connection((service.host, service.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        while length and len(body) < int(length.group(1)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body


# MARK: - Probes and documents


def test_probes_answer_ok_without_a_token(api, serve):
    service = ready(serve)
    for path in ("/livez", "/healthz", "/readyz"):
        answer = expect(call(service, "GET", path), 200)
        assert answer.text.strip() == "ok", describe(answer)
        # A token the API server does not know does not matter to a probe.
        expect(call(service, "GET", path, token="not-a-valid-token"), 200)


def test_start_up_publishes_and_the_served_yaml_is_the_configmap_value(api, serve):
    service = ready(serve)
    value = stored_text(api)
    assert value is not None, "serve did not publish at start-up"
    doc = load(value)
    assert names(doc, "contexts") == ["central"] and doc["current-context"] == "central"

    answer = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200)
    assert answer.headers.get("Content-Type", "").startswith("application/yaml"), describe(answer)
    same = answer.body == value.encode()
    assert same, "GET /kubeconfig does not serve the ConfigMap's value byte for byte"


def test_a_later_post_serves_what_others_added_to_the_configmap(api, serve):
    service = ready(serve)
    doc = load(stored_text(api))
    for section in ("clusters", "users", "contexts"):
        doc[section] += REMOTE[section]
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": yaml.safe_dump(json.loads(json.dumps(doc)), sort_keys=False)})

    result = expect(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 200).json()
    assert result["changed"] is False
    served = load(expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200).body)
    same = served == load(stored_text(api))
    assert same, "the served document is not the ConfigMap's after a publication"
    assert names(served, "contexts") == ["central", "remote-site"]


def test_accept_json_serves_the_same_document_as_json(api, serve):
    service = ready(serve)
    answer = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN, headers={"Accept": "application/json"}), 200)
    assert answer.headers.get("Content-Type", "").startswith("application/json"), describe(answer)
    same = answer.json() == load(stored_text(api))
    assert same, "the JSON document differs from the ConfigMap's"
    # YAML stays the default, and wins when preferred.
    for accept in ("*/*", "application/yaml", "application/yaml, application/json;q=0.5"):
        answer = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN, headers={"Accept": accept}), 200)
        assert answer.headers.get("Content-Type", "").startswith("application/yaml"), (accept, describe(answer))


def test_site_query_serves_one_site(api, serve):
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": yaml.safe_dump(remote_document())})
    service = ready(serve)
    full = load(stored_text(api))
    assert full["current-context"] == "remote-site"

    central = load(expect(call(service, "GET", "/kubeconfig?site=central", token=ADMIN_TOKEN), 200).body)
    assert (names(central, "clusters"), names(central, "users"), names(central, "contexts")) == (
        ["central"], ["user00"], ["central"])
    assert central["current-context"] == "central"
    same = [c for c in full["clusters"] if c["name"] == "central"] == central["clusters"] and \
        [u for u in full["users"] if u["name"] == "user00"] == central["users"]
    assert same, "the central entries served for ?site=central differ from the full document's"

    remote = call(service, "GET", "/kubeconfig?site=remote-site", token=ADMIN_TOKEN, headers={"Accept": "application/json"})
    expect(remote, 200)
    assert remote.headers.get("Content-Type", "").startswith("application/json"), describe(remote)
    remote = remote.json()
    assert remote["clusters"] == REMOTE["clusters"] and remote["contexts"] == REMOTE["contexts"]
    assert names(remote, "users") == ["user01"] and remote["current-context"] == "remote-site"

    expect_error(call(service, "GET", "/kubeconfig?site=nowhere", token=ADMIN_TOKEN), 404)
    expect_error(call(service, "GET", "/kubeconfig?site=", token=ADMIN_TOKEN), 400)


def test_etag_and_if_none_match(api, serve):
    service = ready(serve)
    first = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200)
    etag = first.headers.get("ETag")
    assert etag, describe(first)

    again = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200)
    assert again.headers.get("ETag") == etag
    for match in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        unchanged = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN, headers={"If-None-Match": match}), 304)
        assert unchanged.body == b"", match
        assert unchanged.headers.get("ETag") == etag, match
    expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN, headers={"If-None-Match": '"something-else"'}), 200)
    # The JSON rendering is another representation: the YAML tag does not match it.
    as_json = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN,
                                     headers={"Accept": "application/json", "If-None-Match": etag}), 200)
    assert as_json.headers.get("ETag") not in (None, etag)

    # A new publication (rotated token) makes the old tag stale.
    api.rotate_token()
    assert expect(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 200).json()["changed"] is True
    changed = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN, headers={"If-None-Match": etag}), 200)
    assert changed.headers.get("ETag") not in (None, etag)
    fresh = changed.body == stored_text(api).encode()
    assert fresh, "after a publication the served document is not the new ConfigMap value"


def test_status_reports_the_publication(api, serve):
    service = ready(serve)
    answer = expect(call(service, "GET", "/status", token=ADMIN_TOKEN), 200)
    assert answer.headers.get("Content-Type", "").startswith("application/json")
    status = answer.json()
    assert status["namespace"] == NAMESPACE and status["configMap"] == CONFIGMAP and status["server"] == api.url
    assert status["resourceVersion"] == configmap_of(api, NAMESPACE, CONFIGMAP)["metadata"]["resourceVersion"]
    leaked = api.token.strip() in answer.text
    assert not leaked, "/status shows the token"


# MARK: - POST /sites


def test_post_publishes_and_answers_the_result(api, serve):
    service = ready(serve)
    api.rotate_token()
    answer = expect(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 200)
    assert answer.headers.get("Content-Type", "").startswith("application/json")
    result = answer.json()
    configmap = configmap_of(api, NAMESPACE, CONFIGMAP)
    assert result == {"site": "central", "namespace": NAMESPACE, "configMap": CONFIGMAP, "key": "kubeconfig",
                      "server": api.url, "resourceVersion": configmap["metadata"]["resourceVersion"], "changed": True,
                      **pod_token_fields(api.token)}
    has_new = api.token.strip() in configmap["data"]["kubeconfig"]
    assert has_new, "POST did not publish the rotated token"

    api.requests(clear=True)
    again = expect(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 200).json()
    assert again["changed"] is False and again["resourceVersion"] == result["resourceVersion"]
    assert configmap_writes(api) == []


def test_post_body_must_be_empty_or_a_json_object(api, serve):
    service = ready(serve)
    for body in ("{}", '{"reason": "manual", "nested": {"a": [1, 2]}}'):
        answer = call(service, "POST", "/sites/central", token=ADMIN_TOKEN, body=body,
                                 headers={"Content-Type": "application/json"})
        assert set(expect(answer, 200).json()) == RESULT_FIELDS, body
    api.requests(clear=True)
    for body in ("[]", '"a string"', "42", "null", "true", "not json", '{"unclosed": ', "[{}]", " "):
        answer = call(service, "POST", "/sites/central", token=ADMIN_TOKEN, body=body,
                                 headers={"Content-Type": "application/json"})
        assert answer.status == 400, (body, describe(answer))
        expect_error(answer, 400, "BadRequest")
    assert configmap_writes(api) == []


def test_post_for_another_site_is_not_found(api, serve):
    service = ready(serve)
    api.requests(clear=True)
    error = expect_error(call(service, "POST", "/sites/edge-1", token=ADMIN_TOKEN), 404)
    assert "edge-1" in error["message"]
    assert configmap_writes(api) == []


def test_refused_overwrite_is_a_conflict_and_writes_nothing(api, serve):
    service = ready(serve)
    garbage = "- this\n- is a list, not a kubeconfig\n"
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": garbage})
    before = configmap_of(api, NAMESPACE, CONFIGMAP)
    error = expect_error(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 409)
    assert f"{NAMESPACE}/{CONFIGMAP}" in error["message"]
    untouched = configmap_of(api, NAMESPACE, CONFIGMAP) == before
    assert untouched, "the ConfigMap changed"
    expect(call(service, "GET", "/healthz"), 200)


def test_api_failure_is_a_bad_gateway_and_keeps_the_service_ready(api, serve):
    service = ready(serve)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=403, count=-1)
    error = expect_error(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 502)
    assert "forbidden:" in error["message"] and "injected fault" in error["message"]
    for path in ("/healthz", "/readyz", "/livez"):
        expect(call(service, "GET", path), 200)
    expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200)


def test_missing_configmap_after_start_names_it(api, serve):
    service = ready(serve)
    api.delete_configmap(NAMESPACE, CONFIGMAP)
    api.requests(clear=True)
    answer = call(service, "POST", "/sites/central", token=ADMIN_TOKEN)
    assert answer.status in (502, 503), describe(answer)
    error = expect_error(answer, answer.status)
    assert f"{NAMESPACE}/{CONFIGMAP}" in error["message"]
    assert configmap_writes(api) == [] and configmap_of(api, NAMESPACE, CONFIGMAP) is None


# MARK: - Readiness


def test_not_ready_until_the_configmap_exists_then_ready(api, serve):
    api.delete_configmap(NAMESPACE, CONFIGMAP)
    service = serve()
    service.wait_log("publication failed", timeout=10, count=2)  # it keeps retrying

    for path in ("/healthz", "/readyz"):
        error = expect_error(call(service, "GET", path), 503)
        assert error["message"], "no reason given"
    expect(call(service, "GET", "/livez"), 200)
    expect_error(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 503)
    assert configmap_of(api, NAMESPACE, CONFIGMAP) is None, "serve created the ConfigMap"
    assert configmap_writes(api) == []

    api.put_configmap(NAMESPACE, CONFIGMAP, {})
    service.wait_ready(timeout=15)
    expect(call(service, "GET", "/readyz"), 200)
    answer = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200)
    same = answer.body == stored_text(api).encode()
    assert same, "the document served after the late publication is not the ConfigMap's"


def test_a_stored_value_that_is_not_a_kubeconfig_keeps_it_unready_and_untouched(api, serve):
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": "plain text someone put here"})
    before = configmap_of(api, NAMESPACE, CONFIGMAP)
    service = serve()
    service.wait_log("publication failed", timeout=10, count=2)
    error = expect_error(call(service, "GET", "/healthz"), 503)
    assert "kubeconfig" in error["message"], error
    expect(call(service, "GET", "/livez"), 200)
    expect_error(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 409, "DocumentNotKubeconfig")
    untouched = configmap_of(api, NAMESPACE, CONFIGMAP) == before
    assert untouched, "the ConfigMap changed"
    assert configmap_writes(api) == []


def test_stays_ready_when_the_api_server_goes_away(api, serve):
    service = ready(serve)
    expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200)  # the decision is now cached
    api.down()
    with pytest.raises(OSError):
        socket.create_connection((api.host, api.port), timeout=1).close()
    for path in ("/healthz", "/readyz", "/livez"):
        expect(call(service, "GET", path), 200)
    served = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200)
    assert names(load(served.body), "contexts") == ["central"]


# MARK: - HTTP contract


def test_unknown_paths_are_not_found(api, serve):
    service = ready(serve)
    # "/" is the status page (test_page.py); nothing else is served under it.
    for path in ("/nope", "/index.html", "/sites/", "/sites//", "/sites/central/extra", "/kubeconfig/central",
                 "/healthz/extra", "/KUBECONFIG", "/SITES"):
        for method in ("GET", "POST"):
            answer = call(service, method, path, token=ADMIN_TOKEN)
            assert answer.status == 404, (method, path, describe(answer))
            expect_error(answer, 404)


def test_wrong_method_is_405_with_allow(api, serve):
    service = ready(serve)
    read_only = {"GET", "HEAD"}
    for method, path, allowed in (("DELETE", "/kubeconfig", read_only), ("POST", "/kubeconfig", read_only),
                                  ("PUT", "/healthz", read_only), ("POST", "/livez", read_only),
                                  ("DELETE", "/readyz", read_only), ("PATCH", "/status", read_only),
                                  ("POST", "/sites", read_only), ("DELETE", "/sites", read_only),
                                  ("PATCH", "/sites/central", {"GET", "HEAD", "PUT", "DELETE", "POST"}),
                                  ("OPTIONS", "/sites/site-a", {"GET", "HEAD", "PUT", "DELETE", "POST"})):
        answer = call(service, method, path, token=ADMIN_TOKEN)
        assert answer.status == 405, (method, path, describe(answer))
        if method != "HEAD":
            expect_error(answer, 405, "MethodNotAllowed")
        allow = {item.strip() for item in (answer.headers.get("Allow") or "").split(",") if item.strip()}
        assert allow == allowed, (method, path, describe(answer))


def test_head_works_where_get_does(api, serve):
    service = ready(serve)
    for path, token in (("/livez", None), ("/healthz", None), ("/readyz", None), ("/", None),
                        ("/kubeconfig", ADMIN_TOKEN), ("/kubeconfig?site=central", ADMIN_TOKEN), ("/status", ADMIN_TOKEN)):
        get = expect(call(service, "GET", path, token=token), 200)
        head = expect(call(service, "HEAD", path, token=token), 200)
        assert head.body == b"", path
        assert head.headers.get("Content-Type") == get.headers.get("Content-Type"), path
        if path in ("/kubeconfig", "/"):
            assert head.headers.get("ETag") == get.headers.get("ETag")
            assert head.headers.get("Content-Length") == str(len(get.body))
    answer = call(service, "HEAD", "/kubeconfig")
    expect(answer, 401)
    assert (answer.headers.get("WWW-Authenticate") or "").startswith("Bearer")


def test_body_just_under_the_limit_is_accepted(api, serve):
    service = ready(serve)
    body = '{"padding": "' + "x" * (64 * KIB - len('{"padding": ""}')) + '"}'
    assert len(body) == 64 * KIB
    expect(call(service, "POST", "/sites/central", token=ADMIN_TOKEN, body=body,
                           headers={"Content-Type": "application/json"}), 200)


def test_body_over_64_kib_is_too_large(api, serve):
    service = ready(serve)
    body = '{"padding": "' + "x" * (65 * KIB) + '"}'
    api.requests(clear=True)
    for method, path, token in (("POST", "/sites/central", ADMIN_TOKEN), ("POST", "/sites/central", None),
                                ("POST", "/sites/central", NOBODY_TOKEN), ("PUT", "/kubeconfig", ADMIN_TOKEN)):
        answer = call(service, method, path, token=token, body=body, headers={"Content-Type": "application/json"})
        assert answer.status == 413, (method, path, describe(answer))
        expect_error(answer, 413)
    # One byte over the limit is over it.
    over = '{"padding": "' + "x" * (64 * KIB + 1 - len('{"padding": ""}')) + '"}'
    expect_error(call(service, "POST", "/sites/central", token=ADMIN_TOKEN, body=over), 413)
    assert configmap_writes(api) == []
    expect(call(service, "GET", "/livez"), 200)


def test_lying_huge_content_length_is_refused_at_once(api, serve):
    service = ready(serve)
    started = time.monotonic()
    raw = exchange(service, b"POST /sites/central HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
                            b"Content-Length: 107374182400\r\n\r\n{\"a\": 1}")
    assert raw.startswith(b"HTTP/1.1 413"), raw[:300]
    head, _, body = raw.partition(b"\r\n\r\n")
    assert json.loads(body)["error"]["code"], raw[:300]
    assert time.monotonic() - started < 4, "the server waited for the announced body"
    expect(call(service, "GET", "/livez"), 200)


def test_chunked_body_over_64_kib_is_too_large(api, serve):
    service = ready(serve)
    connection = service.connection()
    try:
        connection.putrequest("POST", "/sites/central")
        connection.putheader("Authorization", f"Bearer {ADMIN_TOKEN}")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        pieces = [b'{"padding": "'] + [b"x" * (8 * KIB)] * 10 + [b'"}']
        try:
            for piece in pieces:
                connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = connection.getresponse()
        status, body = answer.status, answer.read()
    finally:
        connection.close()
    assert status == 413, (status, body[:300])
    assert json.loads(body)["error"]["code"]


# MARK: - Authorisation


AUTH_MATRIX = [  # who, token, GET /kubeconfig, GET /status, POST /sites/central
    ("admin", ADMIN_TOKEN, 200, 200, 200),
    ("reader", READER_TOKEN, 200, 200, 403),
    ("nobody", NOBODY_TOKEN, 403, 403, 403),
    ("invalid", "not-a-valid-token", 401, 401, 401),
    ("no-token", None, 401, 401, 401),
]


def test_auth_matrix(api, serve):
    service = ready(serve)
    problems = []
    for who, token, *wanted in AUTH_MATRIX:
        for (method, path), want in zip((("GET", "/kubeconfig"), ("GET", "/status"), ("POST", "/sites/central")), wanted):
            answer = call(service, method, path, token=token)
            problem = None
            if answer.status != want:
                problem = f"HTTP {answer.status}: {redact(answer.text)[:300]}"
            elif want != 200:
                try:
                    error = expect_error(answer, want)
                except AssertionError as failure:
                    problem = f"not the error contract: {failure}"
                else:
                    if want == 401 and not (answer.headers.get("WWW-Authenticate") or "").startswith("Bearer"):
                        problem = "no WWW-Authenticate: Bearer"
                    if want == 403 and "forbidden" not in error["message"].lower():
                        problem = f"message does not say forbidden: {error['message']}"
            if token is not None and token in answer.text:
                problem = "the answer echoes the caller's token"
            if problem:
                problems.append(f"{who} {method} {path}: want {want}, {problem}")
        for path in ("/healthz", "/readyz", "/livez"):
            if call(service, "GET", path, token=token).status != 200:
                problems.append(f"{who} GET {path}: probe not 200")
    assert not problems, "\n".join(problems)


def test_logs_never_show_a_token(api, serve):
    service = ready(serve, "--log-level", "trace")
    for token in (ADMIN_TOKEN, READER_TOKEN, NOBODY_TOKEN, "not-a-valid-token"):
        for method, path in (("GET", "/kubeconfig"), ("GET", "/status"), ("POST", "/sites/central")):
            call(service, method, path, token=token)
    old = api.token.strip()
    api.rotate_token()
    expect(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 200)
    service.stop()
    logs = service.logs
    assert len(service.lines) > 3, "too few log lines to judge"
    leaked = [who for who, token in (("admin", ADMIN_TOKEN), ("reader", READER_TOKEN), ("nobody", NOBODY_TOKEN),
                                     ("invalid", "not-a-valid-token"), ("old service account", old),
                                     ("new service account", api.token.strip())) if token in logs]
    assert leaked == [], f"the logs show these tokens: {leaked}"


def test_malformed_authorization_headers_are_unauthorized(api, serve):
    service = ready(serve)
    for header in ("Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", ADMIN_TOKEN):
        answer = call(service, "GET", "/kubeconfig", headers={"Authorization": header})
        expect_error(answer, 401)
        assert (answer.headers.get("WWW-Authenticate") or "").startswith("Bearer")


def test_access_is_checked_per_verb_and_configmap_name(api, serve):
    service = ready(serve)
    getter = api.add_identity("getter", rules=[{"verbs": ["get"], "resources": ["configmaps"], "namespaces": [NAMESPACE],
                                                "resourceNames": [CONFIGMAP]}])
    patcher = api.add_identity("patcher", rules=[{"verbs": ["patch"], "resources": ["configmaps"],
                                                  "namespaces": [NAMESPACE], "resourceNames": [CONFIGMAP]}])
    elsewhere = api.add_identity("elsewhere", rules=[{"verbs": ["get", "patch"], "resources": ["configmaps"],
                                                      "namespaces": ["other-namespace"]}])
    other_name = api.add_identity("other-name", rules=[{"verbs": ["get", "patch"], "resources": ["configmaps"],
                                                        "namespaces": [NAMESPACE], "resourceNames": ["another-configmap"]}])
    updater = api.add_identity("updater", rules=[{"verbs": ["update", "list"], "resources": ["configmaps"]}])
    expected = {
        getter: (200, 200, 403),
        patcher: (403, 403, 200),
        elsewhere: (403, 403, 403),
        other_name: (403, 403, 403),
        updater: (403, 403, 403),
    }
    for token, (kubeconfig, status, publish) in expected.items():
        got = (call(service, "GET", "/kubeconfig", token=token).status, call(service, "GET", "/status", token=token).status,
               call(service, "POST", "/sites/central", token=token).status)
        assert got == (kubeconfig, status, publish), f"identity #{list(expected).index(token)}: {got}"


def test_decisions_are_cached(api, serve):
    service = ready(serve)
    api.requests(clear=True)
    for _ in range(3):
        expect(call(service, "GET", "/kubeconfig", token=READER_TOKEN), 200)
    assert reviews(api) == ["tokenreviews", "subjectaccessreviews"]
    # Another verb is another access decision (the authentication may be reused).
    expect_error(call(service, "POST", "/sites/central", token=READER_TOKEN), 403)
    after_post = reviews(api)
    assert after_post.count("subjectaccessreviews") == 2 and after_post.count("tokenreviews") in (1, 2), after_post
    expect_error(call(service, "POST", "/sites/central", token=READER_TOKEN), 403)
    expect(call(service, "GET", "/kubeconfig", token=READER_TOKEN), 200)
    assert reviews(api) == after_post, "a cached decision was reviewed again"
    # Another token is another decision, never the cached one.
    expect_error(call(service, "GET", "/kubeconfig", token=NOBODY_TOKEN), 403)
    assert reviews(api)[len(after_post):] == ["tokenreviews", "subjectaccessreviews"]


def test_a_token_review_that_cannot_be_done_is_not_a_401(api, serve):
    """When the API server cannot review, the caller is told the truth (5xx), not that its token is bad."""
    service = ready(serve)
    api.add_fault(path="/apis/authentication.k8s.io/v1/tokenreviews", action="status", code=400, count=-1)
    answer = call(service, "GET", "/kubeconfig", token=READER_TOKEN)
    assert 500 <= answer.status < 600, describe(answer)
    expect_error(answer, answer.status)


def test_auth_none_needs_no_token_and_warns(api, serve):
    service = ready(serve, "--auth", "none")
    api.requests(clear=True)
    expect(call(service, "GET", "/kubeconfig"), 200)
    expect(call(service, "GET", "/status"), 200)
    assert set(expect(call(service, "POST", "/sites/central"), 200).json()) == RESULT_FIELDS
    assert reviews(api) == []
    warnings = [entry for entry in service.log_entries() if entry.get("level") == "warning"
                and "auth" in entry.get("msg", "").lower()]
    assert warnings, f"no warning about --auth none; logs:\n{service.logs}"


# MARK: - Addresses


def test_serves_on_ipv6_loopback(api, serve):
    service = ready(serve, address="::1")
    listening = service.wait_log("listening")[0]
    assert listening["address"] == "::1"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", service.port), timeout=1).close()
    answer = expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200)
    same = answer.body == stored_text(api).encode()
    assert same, "the document served on ::1 is not the ConfigMap's"
    expect(call(service, "POST", "/sites/central", token=ADMIN_TOKEN), 200)


def test_serve_against_an_ipv6_api_server(api6, serve):
    service = ready(serve, api_server=api6)
    doc = load(expect(call(service, "GET", "/kubeconfig", token=ADMIN_TOKEN), 200).body)
    assert doc["clusters"][0]["cluster"]["server"] == f"https://[::1]:{api6.port}"
