"""`kubeconfig-service publish` end to end: the real binary against the local HTTPS Kubernetes API
test server, pinning the document it writes, what it keeps, when it refuses, and its errors.

Tokens are never printed: checks that involve one compute a boolean first, and documents are
compared after `redacted()` replaced every token by its fingerprint.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

from kubeapi import KubeAPIServer
from loopback import BINARY
from redaction import configmap_of, load, load_json
from support import CONFIGMAP, CONFIGMAP_PATH, NAMESPACE, names, pod_token_fields, run_publish, token_fingerprint

RESULT_FIELDS = {"site", "namespace", "configMap", "key", "server", "resourceVersion", "changed", "tokenSource",
                 "tokenExpiresAt"}
WRITES = {"PATCH", "PUT", "POST", "DELETE"}


# MARK: - Helpers


def redacted(doc):
    """A copy of a parsed kubeconfig with every user token replaced by its fingerprint."""
    doc = copy.deepcopy(doc)
    for entry in (doc or {}).get("users") or []:
        user = entry.get("user") or {}
        if isinstance(user.get("token"), str):
            user["token"] = "token-sha256:" + token_fingerprint(user["token"])
    return doc


def stored_text(api, namespace=NAMESPACE, name=CONFIGMAP, key="kubeconfig"):
    configmap = configmap_of(api, namespace, name)
    assert configmap is not None, f"configmap {namespace}/{name} is gone"
    return (configmap.get("data") or {}).get(key)


def stored_doc(api, namespace=NAMESPACE, name=CONFIGMAP, key="kubeconfig"):
    text = stored_text(api, namespace, name, key)
    assert text is not None, f"no key {key} in {namespace}/{name}"
    return load(text)


def named(doc, section, name):
    entries = [entry for entry in doc.get(section) or [] if entry.get("name") == name]
    assert len(entries) == 1, f"{section} named {name}: {len(entries)} entries, want 1"
    return entries[0]


def without_site(doc, location="central", user="user00"):
    """The document minus one site's cluster, user and context (and current-context)."""
    doc = copy.deepcopy(doc)
    for section, name in (("clusters", location), ("users", user), ("contexts", location)):
        doc[section] = [entry for entry in doc.get(section) or [] if entry.get("name") != name]
    return doc


def expect_ok(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, f"publish failed ({result.returncode}): {result.stderr}"
    answer = load_json(result.stdout)
    assert set(answer) == RESULT_FIELDS, answer
    return answer


def expect_failure(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, f"publish succeeded but should not have: {result.stdout}"
    assert result.stdout.strip() == "", f"a failed publish printed a result: {result.stdout}"
    assert result.stderr.strip(), "a failed publish printed no message"
    return result.stderr


def writes(api):
    return [(entry["method"], entry["path"]) for entry in api.requests() if entry["method"] in WRITES]


def check_central_entries(api, doc, *, location="central", user="user00", server=None):
    """This site's entries as the spec wants them: server, plain base64 of ca.crt, the SA's token."""
    cluster = named(doc, "clusters", location)["cluster"]
    assert cluster["server"] == (server or api.url)
    ca_data = cluster["certificate-authority-data"]
    assert ca_data == base64.b64encode(api.ca_file.read_bytes()).decode(), "certificate-authority-data is not the plain base64 of ca.crt"
    has_token = named(doc, "users", user)["user"].get("token") == api.token.strip()
    assert has_token, "the user entry does not carry the service account's current token"
    assert named(doc, "contexts", location)["context"] == {"cluster": location, "user": user}


def service_account_copy(api, tmp_path, token: str):
    """A service-account folder like api.sa_dir (same CA and namespace) with another token."""
    folder = tmp_path / "other-serviceaccount"
    folder.mkdir()
    shutil.copyfile(api.sa_dir / "ca.crt", folder / "ca.crt")
    shutil.copyfile(api.sa_dir / "namespace", folder / "namespace")
    (folder / "token").write_text(token)
    return folder


def publish_with_sa(api, sa_dir, *args):
    environment = {**os.environ, **api.env()}
    return subprocess.run([str(BINARY), "publish", "--service-account-dir", str(sa_dir), *args],
                          env=environment, capture_output=True, text=True, timeout=60)


REMOTE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nremote\n-----END CERTIFICATE-----\n").decode()

RICH_DOCUMENT = {
    "apiVersion": "v1",
    "kind": "Config",
    "preferences": {"colors": True},
    "clusters": [{"name": "remote-site", "cluster": {
        "server": "https://remote.example:6443", "certificate-authority-data": REMOTE_CA,
        "tls-server-name": "kubernetes.remote", "proxy-url": "socks5://proxy.example:1080",
        "extensions": [{"name": "site-info", "extension": {"region": "eu-west", "tier": 2}}]}}],
    "users": [
        {"name": "user01", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "remote-login", "args": ["--site", "remote"],
            "env": [{"name": "SITE", "value": "remote"}], "interactiveMode": "Never"}}},
        {"name": "user02", "user": {"token": "remote-static-token", "as": "someone", "as-groups": ["ops"]}},
    ],
    "contexts": [{"name": "remote-site", "context": {
        "cluster": "remote-site", "user": "user01", "namespace": "remote-ns",
        "extensions": [{"name": "ctx-ext", "extension": {"note": "keep me"}}]}}],
    "current-context": "remote-site",
    "extensions": [{"name": "multisite", "extension": {"owner": "onap", "sites": ["remote-site"]}}],
}


# MARK: - Writing a new document


@pytest.mark.parametrize("seed", [{}, {"kubeconfig": ""}, {"kubeconfig": "  \n\n"}],
                         ids=["key-absent", "value-empty", "value-blank"])
def test_publish_into_an_empty_configmap_writes_a_new_document(api, seed):
    api.put_configmap(NAMESPACE, CONFIGMAP, seed)
    answer = expect_ok(run_publish(api))

    configmap = configmap_of(api, NAMESPACE, CONFIGMAP)
    assert answer == {"site": "central", "namespace": NAMESPACE, "configMap": CONFIGMAP, "key": "kubeconfig",
                      "server": api.url, "resourceVersion": configmap["metadata"]["resourceVersion"], "changed": True,
                      **pod_token_fields(api.token)}
    assert set(configmap["data"]) == {"kubeconfig"}
    doc = load(configmap["data"]["kubeconfig"])
    assert doc["apiVersion"] == "v1" and doc["kind"] == "Config" and doc["preferences"] == {}
    assert (names(doc, "clusters"), names(doc, "users"), names(doc, "contexts")) == (["central"], ["user00"], ["central"])
    assert doc["current-context"] == "central"
    check_central_entries(api, doc)
    assert [(e["method"], e["code"], e["contentType"]) for e in api.requests() if e["method"] == "PATCH"] == [
        ("PATCH", 200, "application/merge-patch+json")]


def test_publish_keeps_other_keys_sites_unknown_fields_labels_and_annotations(api):
    labels = {"app.kubernetes.io/managed-by": "Helm", "tier": "multisite"}
    annotations = {"meta.helm.sh/release-name": "onap", "note": "hands off"}
    binary = {"blob.bin": base64.b64encode(b"\x00\x01binary").decode()}
    other = {"other-key": "unrelated: value\n", "sites.json": '{"remote-site": true}'}
    api.put_configmap(NAMESPACE, CONFIGMAP, {**other, "kubeconfig": yaml.safe_dump(RICH_DOCUMENT, sort_keys=False)},
                      labels=labels, annotations=annotations, binaryData=binary)

    expect_ok(run_publish(api))

    configmap = configmap_of(api, NAMESPACE, CONFIGMAP)
    assert configmap["metadata"].get("labels") == labels
    assert configmap["metadata"].get("annotations") == annotations
    assert configmap.get("binaryData") == binary
    assert {key: value for key, value in configmap["data"].items() if key != "kubeconfig"} == other
    doc = load(configmap["data"]["kubeconfig"])
    check_central_entries(api, doc)
    # Everything but our three entries is exactly what was there, current-context included.
    assert redacted(without_site(doc)) == redacted(RICH_DOCUMENT)
    assert names(doc, "clusters") == ["remote-site", "central"]
    assert names(doc, "users") == ["user01", "user02", "user00"]
    assert names(doc, "contexts") == ["remote-site", "central"]


def test_publish_replaces_its_own_stale_entries_in_place(api):
    stale = copy.deepcopy(RICH_DOCUMENT)
    stale["clusters"].insert(0, {"name": "central", "cluster": {
        "server": "https://old-central:6443", "certificate-authority-data": REMOTE_CA}})
    stale["users"].insert(0, {"name": "user00", "user": {"token": "old-central-token"}})
    stale["contexts"].insert(0, {"name": "central", "context": {"cluster": "somewhere", "user": "someone"}})
    stale["current-context"] = "central"
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": yaml.safe_dump(stale, sort_keys=False)})

    answer = expect_ok(run_publish(api))

    assert answer["changed"] is True
    doc = stored_doc(api)
    check_central_entries(api, doc)
    assert names(doc, "clusters") == ["central", "remote-site"]
    assert names(doc, "users") == ["user00", "user01", "user02"]
    assert names(doc, "contexts") == ["central", "remote-site"]
    assert doc["current-context"] == "central"
    assert "old-central-token" not in stored_text(api) and "old-central" not in stored_text(api)
    assert redacted(without_site(doc)) == redacted(without_site(stale))


@pytest.mark.parametrize("current, expected", [("remote-site", "remote-site"), ("no-such-context", "central"),
                                               (None, "central")], ids=["existing", "dangling", "absent"])
def test_current_context_is_kept_only_when_it_names_a_context(api, current, expected):
    document = copy.deepcopy(RICH_DOCUMENT)
    if current is None:
        del document["current-context"]
    else:
        document["current-context"] = current
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": yaml.safe_dump(document)})
    expect_ok(run_publish(api))
    assert stored_doc(api)["current-context"] == expected


# MARK: - Options


def test_non_default_names_and_the_namespace_of_the_service_account(tmp_path):
    """-n/-l/-u/-c/-k (short and long) and the namespace taken from <service-account-dir>/namespace."""
    sa_user = "system:serviceaccount:edge:kubeconfig-service"
    config = {"serviceAccount": {"namespace": "edge"},
              "rules": [{"user": sa_user, "verbs": ["get", "patch", "update"], "resources": ["configmaps"],
                         "namespaces": ["site-b"]}]}
    with KubeAPIServer(tmp_path / "api", config=config) as api:
        api.put_configmap("site-b", "sites", {"kept": "yes"})
        api.put_configmap("site-b", CONFIGMAP, {})
        api.put_configmap("edge", "edge-sites", {})

        short = expect_ok(run_publish(api, "-n", "site-b", "-l", "edge-1", "-u", "user07", "-c", "sites", "-k",
                                      "config.yaml"))
        assert short == {"site": "edge-1", "namespace": "site-b", "configMap": "sites", "key": "config.yaml",
                         "server": api.url, "changed": True, **pod_token_fields(api.token),
                         "resourceVersion": configmap_of(api, "site-b", "sites")["metadata"]["resourceVersion"]}
        data = configmap_of(api, "site-b", "sites")["data"]
        assert set(data) == {"kept", "config.yaml"} and data["kept"] == "yes"
        doc = load(data["config.yaml"])
        check_central_entries(api, doc, location="edge-1", user="user07")
        assert doc["current-context"] == "edge-1"
        assert (names(doc, "clusters"), names(doc, "users"), names(doc, "contexts")) == (["edge-1"], ["user07"], ["edge-1"])
        assert "data" not in configmap_of(api, "site-b", CONFIGMAP), "the default ConfigMap was written"

        # The long forms, and no --namespace: the service account's namespace ("edge").
        long = expect_ok(run_publish(api, "--location", "edge-2", "--user", "user08", "--configmap", "edge-sites",
                                     "--key", "multi.yaml"))
        assert (long["namespace"], long["configMap"], long["key"], long["site"]) == ("edge", "edge-sites", "multi.yaml", "edge-2")
        doc = stored_doc(api, "edge", "edge-sites", "multi.yaml")
        check_central_entries(api, doc, location="edge-2", user="user08")
        assert [entry["path"] for entry in api.requests() if entry["method"] == "PATCH"] == [
            "/api/v1/namespaces/site-b/configmaps/sites", "/api/v1/namespaces/edge/configmaps/edge-sites"]


def test_a_second_site_is_added_next_to_the_first(api):
    expect_ok(run_publish(api))
    expect_ok(run_publish(api, "-l", "edge-1", "-u", "user01"))
    doc = stored_doc(api)
    assert names(doc, "clusters") == ["central", "edge-1"]
    assert names(doc, "users") == ["user00", "user01"]
    assert names(doc, "contexts") == ["central", "edge-1"]
    assert named(doc, "contexts", "edge-1")["context"] == {"cluster": "edge-1", "user": "user01"}
    assert doc["current-context"] == "central"


# MARK: - Idempotence


def test_second_publication_changes_nothing_and_writes_nothing(api):
    first = expect_ok(run_publish(api))
    before = configmap_of(api, NAMESPACE, CONFIGMAP)
    api.requests(clear=True)

    second = expect_ok(run_publish(api))

    assert first["changed"] is True and second["changed"] is False
    assert second["resourceVersion"] == first["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert writes(api) == [], "an unchanged publication wrote to the API server"
    assert [entry["method"] for entry in api.requests()] == ["GET"]
    untouched = configmap_of(api, NAMESPACE, CONFIGMAP) == before
    assert untouched, "the ConfigMap changed"


def test_publication_over_an_equivalent_foreign_rendering_writes_nothing(api):
    """A document that already holds exactly our entries, formatted differently, is left alone."""
    expect_ok(run_publish(api))
    doc = stored_doc(api)
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": json.dumps(doc, indent=1)})  # JSON is YAML too
    before = configmap_of(api, NAMESPACE, CONFIGMAP)
    api.requests(clear=True)
    assert expect_ok(run_publish(api))["changed"] is False
    assert writes(api) == []
    untouched = configmap_of(api, NAMESPACE, CONFIGMAP) == before
    assert untouched, "the ConfigMap changed"


# MARK: - Refusals


@pytest.mark.parametrize("garbage", [
    "clusters: [unclosed\n  - {name: x",
    "just a sentence, not a kubeconfig",
    "- central\n- remote\n",
    "42\n",
    "apiVersion: v1\nkind: Config\nclusters: {central: {server: https://x}}\n",
], ids=["unparseable", "scalar-string", "sequence", "number", "clusters-not-a-list"])
def test_a_value_that_is_not_a_kubeconfig_is_never_overwritten(api, garbage):
    api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": garbage, "other": "x"})
    before = configmap_of(api, NAMESPACE, CONFIGMAP)
    api.requests(clear=True)

    stderr = expect_failure(run_publish(api))

    untouched = configmap_of(api, NAMESPACE, CONFIGMAP) == before
    assert untouched, "the ConfigMap changed"
    assert writes(api) == []
    assert f"{NAMESPACE}/{CONFIGMAP}" in stderr and "kubeconfig" in stderr
    assert "refus" in stderr.lower() or "not a kubeconfig" in stderr.lower()


@pytest.mark.parametrize("name_args, name", [((), CONFIGMAP), (("-c", "not-there"), "not-there")],
                         ids=["default-name", "other-name"])
def test_missing_configmap_is_an_error_and_is_never_created(api, name_args, name):
    api.delete_configmap(NAMESPACE, CONFIGMAP)
    api.requests(clear=True)

    stderr = expect_failure(run_publish(api, *name_args))

    assert f"{NAMESPACE}/{name}" in stderr
    assert "not found" in stderr
    assert writes(api) == [], "publish tried to create or write the missing ConfigMap"
    assert configmap_of(api, NAMESPACE, name) is None


def test_forbidden_patch_reports_the_api_message_and_writes_nothing(api, tmp_path):
    token = api.add_identity("limited", rules=[{"verbs": ["get"], "resources": ["configmaps"]}])
    sa_dir = service_account_copy(api, tmp_path, token)
    before = configmap_of(api, NAMESPACE, CONFIGMAP)

    stderr = expect_failure(publish_with_sa(api, sa_dir))

    assert "forbidden:" in stderr
    assert 'User "limited" cannot patch resource "configmaps"' in stderr, "the API server's message is missing"
    untouched = configmap_of(api, NAMESPACE, CONFIGMAP) == before
    assert untouched, "the ConfigMap changed"
    assert [(entry["method"], entry["code"]) for entry in api.requests() if entry["method"] in WRITES] == [("PATCH", 403)]


def test_forbidden_read_reports_forbidden(api, tmp_path):
    token = api.add_identity("no-rights")
    stderr = expect_failure(publish_with_sa(api, service_account_copy(api, tmp_path, token)))
    assert "forbidden:" in stderr
    assert 'User "no-rights" cannot get resource "configmaps"' in stderr
    assert writes(api) == []


def test_an_invalid_token_is_reported_as_unauthorized(api, tmp_path):
    before = configmap_of(api, NAMESPACE, CONFIGMAP)
    stderr = expect_failure(publish_with_sa(api, service_account_copy(api, tmp_path, "not-a-valid-token")))
    assert "unauthorized" in stderr.lower()
    assert "not-a-valid-token" not in stderr, "the token was echoed"
    untouched = configmap_of(api, NAMESPACE, CONFIGMAP) == before
    assert untouched, "the ConfigMap changed"
    assert [entry["code"] for entry in api.requests()] == [401]


@pytest.mark.parametrize("drop", [("KUBERNETES_SERVICE_HOST",), ("KUBERNETES_SERVICE_PORT",),
                                  ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")],
                         ids=["no-host", "no-port", "neither"])
def test_missing_environment_names_both_variables(api, drop):
    environment = {**os.environ, **api.env()}
    for variable in drop:
        environment.pop(variable, None)
    result = subprocess.run([str(BINARY), "publish", "--service-account-dir", str(api.sa_dir)], env=environment,
                            capture_output=True, text=True, timeout=30)
    stderr = expect_failure(result)
    assert "KUBERNETES_SERVICE_HOST" in stderr and "KUBERNETES_SERVICE_PORT" in stderr
    assert api.requests() == []


def test_empty_environment_variable_counts_as_missing(api):
    result = run_publish(api, env={"KUBERNETES_SERVICE_HOST": ""})
    stderr = expect_failure(result)
    assert "KUBERNETES_SERVICE_HOST" in stderr and "KUBERNETES_SERVICE_PORT" in stderr


# MARK: - Concurrency


def test_conflict_is_retried_and_keeps_the_concurrent_writers_entries(api):
    remote = {"name": "remote-site", "cluster": {"server": "https://remote.example:6443"}}
    api.add_fault(method="PATCH", path=CONFIGMAP_PATH, action="conflict", data={"written-concurrently": "yes"},
                  kubeconfig={"key": "kubeconfig", "clusters": [remote],
                              "users": [{"name": "user01", "user": {"token": "remote-token"}}],
                              "contexts": [{"name": "remote-site", "context": {"cluster": "remote-site", "user": "user01"}}]})

    answer = expect_ok(run_publish(api))

    configmap = configmap_of(api, NAMESPACE, CONFIGMAP)
    assert answer["changed"] is True and answer["resourceVersion"] == configmap["metadata"]["resourceVersion"]
    assert configmap["data"]["written-concurrently"] == "yes"
    doc = load(configmap["data"]["kubeconfig"])
    check_central_entries(api, doc)
    assert named(doc, "clusters", "remote-site") == remote
    assert named(doc, "users", "user01") == {"name": "user01", "user": {"token": "remote-token"}}
    assert named(doc, "contexts", "remote-site")["context"] == {"cluster": "remote-site", "user": "user01"}
    log = [(entry["method"], entry["code"]) for entry in api.requests()]
    assert log == [("GET", 200), ("PATCH", 409), ("GET", 200), ("PATCH", 200)]


# MARK: - Discovery


def test_token_rotation_reaches_the_configmap(api):
    expect_ok(run_publish(api))
    old = api.token
    new = api.rotate_token()
    assert new != old

    answer = expect_ok(run_publish(api))

    text = stored_text(api)
    assert answer["changed"] is True
    has_new, has_old = new in text, old in text
    assert has_new, "the rotated token is not in the ConfigMap"
    assert not has_old, "the old token is still in the ConfigMap"


def test_rotation_with_the_old_token_invalidated(api):
    expect_ok(run_publish(api))
    new = api.rotate_token(invalidate_old=True)
    expect_ok(run_publish(api))
    has_new = named(stored_doc(api), "users", "user00")["user"]["token"] == new
    assert has_new, "the rotated token is not the published one"


def test_ipv6_api_server_is_bracketed(api6):
    answer = expect_ok(run_publish(api6))
    assert answer["server"] == f"https://[::1]:{api6.port}"
    doc = stored_doc(api6)
    check_central_entries(api6, doc, server=f"https://[::1]:{api6.port}")


def test_api_timeout_bounds_each_request(api):
    """--api-timeout 1: a GET the server sits on for 15 s is given up after about 1 s and retried,
    and publish does not wait for the abandoned request to finish."""
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="delay", seconds=15, count=1)
    started, started_at = time.monotonic(), datetime.datetime.now(datetime.timezone.utc)
    answer = expect_ok(run_publish(api, "--api-timeout", "1"))
    elapsed = time.monotonic() - started
    assert answer["changed"] is True
    # The stuck GET is logged only when the server finally answers it; the retry is logged at once.
    retries = [entry for entry in api.requests() if entry["method"] == "GET" and entry["fault"] is None]
    assert len(retries) == 1, retries
    waited = (datetime.datetime.fromisoformat(retries[0]["time"]) - started_at).total_seconds()
    assert 0.9 < waited < 2.5, f"the retry came {waited:.1f} s after the start; want about 1 s (the timeout)"
    assert elapsed < 10, f"publish took {elapsed:.1f} s: it waited for the abandoned request"


def test_publish_logs_never_show_the_token(api):
    result = run_publish(api, "--log-level", "trace")
    expect_ok(result)
    leaked = api.token.strip() in result.stderr or api.token.strip() in result.stdout
    assert not leaked, "publish printed the service account's token"


# MARK: - Help


COMMON_OPTIONS = ["-n", "--namespace", "-l", "--location", "-u", "--user", "-c", "--configmap", "-k", "--key",
                  "--service-account-dir", "--api-timeout"]
COMMON_DEFAULTS = ["central", "user00", "multisite-kubeconfig-configmap", "kubeconfig"]


@pytest.mark.parametrize("command, extra_options, extra_defaults", [
    ("publish", [], []),
    ("serve", ["--address", "--port", "--auth"], ["0.0.0.0", "8080", "kubernetes", "none"]),
])
def test_help_lists_every_option(command, extra_options, extra_defaults):
    result = subprocess.run([str(BINARY), command, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    for option in COMMON_OPTIONS + extra_options:
        assert f"{option} " in text or f"{option}," in text, f"{command} --help does not document {option}"
    for default in COMMON_DEFAULTS + extra_defaults:
        assert default in text, f"{command} --help does not mention {default}"


def shown_defaults(text: str) -> list[str]:
    """What each `(default: ...)` of a --help text says, line wrapping undone."""
    text = " ".join(text.split())
    shown, start = [], 0
    while (start := text.find("(default:", start)) >= 0:
        depth, end = 0, start
        for end in range(start, len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        shown.append(text[start + len("(default:"):end].strip())
        start = end
    return shown


@pytest.mark.parametrize("command", ["publish", "serve"])
def test_help_shows_readable_defaults(command):
    """Every default is shown as a user would type it, not as a Swift value's debug description."""
    result = subprocess.run([str(BINARY), command, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    defaults = shown_defaults(result.stdout)
    assert "info" in defaults, f"the --log-level default is not shown as info: {defaults}"
    assert "10" in defaults or "10.0" in defaults, f"the --api-timeout default is not shown: {defaults}"
    unreadable = [value for value in defaults if "(" in value and not value.startswith("<")]
    assert unreadable == [], f"{command} --help shows defaults as Swift values: {unreadable}"


def test_publish_fails_when_its_result_cannot_be_written(api):
    """The JSON on standard output is the command's result: a full disk must not look like success."""
    api.put_configmap(NAMESPACE, CONFIGMAP, {})
    with open("/dev/full", "w") as full:
        result = subprocess.run([str(BINARY), "publish", "--service-account-dir", str(api.sa_dir)],
                                env={**os.environ, **api.env()}, stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=60)
    assert result.returncode == 1, result.stderr
    assert result.stderr.endswith("error: could not write the result to standard output\n"), result.stderr
    # The publication itself happened: only its report was lost.
    assert names(load(configmap_of(api, NAMESPACE, CONFIGMAP)["data"]["kubeconfig"]), "contexts") == ["central"]
