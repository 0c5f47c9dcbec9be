"""Lists and watches of the Kubernetes API test server against kube-apiserver's behaviour: typed
lists with field and label selectors and paging; watch streams (chunked JSON lines) with synthetic
ADDED events, every change after a resourceVersion, 410 Expired once it is too old, DELETED with
the last state, bookmarks, timeouts, RBAC on the field selector's name, faults, and the controls
that end, drop and fail open watches. Then real clients: the python client's Watch and
`kubectl get --watch`. This module's `api` has watch settings of its own; conftest.py resets it
before every test, and apitests.py has the Status bodies."""

import json
import os
import queue
import socket
import ssl
import subprocess
import threading
import time
from urllib.parse import urlencode

import pytest
from apitests import CONFIGMAPS, status
from kubeapi import ADMIN_TOKEN, READER_TOKEN, KubeAPIServer

SECRETS = "/api/v1/namespaces/onap/secrets"
SETTINGS = {"bookmarkSeconds": 0.2, "resourceVersionWaitSeconds": 0.3}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    config = {"configmaps": [{"namespace": "onap", "name": "seed", "data": {"seeded": "yes"}}],
              "secrets": [{"namespace": "onap", "name": "sealed", "stringData": {"k": "v"}}],
              "watch": SETTINGS}
    with KubeAPIServer(tmp_path_factory.mktemp("kube-api"), config=config) as server:
        yield server


def url(path, **params):
    return f"{path}?{urlencode(params)}" if params else path


def get(api, path, token=ADMIN_TOKEN, **params):
    return api.request("GET", url(path, **params), token=token)


def listed(api, path=CONFIGMAPS, **params):
    answer = get(api, path, **params)
    assert answer.status == 200, answer
    return answer.json()


def current_version(api):
    """The store's resourceVersion now, as a list says it."""
    return int(listed(api)["metadata"]["resourceVersion"])


def names(items):
    return [item["metadata"]["name"] for item in items]


def expired(requested, floor):
    return status(410, "Expired", f"too old resource version: {requested} ({floor})")


# MARK: - Lists


def test_list_is_typed_with_the_store_resource_version_and_typeless_items(api):
    written = api.put_configmap("onap", "alpha", {"k": "v"})
    body = listed(api)
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert body["metadata"] == {"resourceVersion": written["metadata"]["resourceVersion"]}
    assert names(body["items"]) == ["alpha", "seed"]
    assert all("kind" not in item and "apiVersion" not in item for item in body["items"])
    assert listed(api, SECRETS)["kind"] == "SecretList"


@pytest.mark.parametrize("selector", ["metadata.name=alpha", "metadata.name==alpha"])
def test_a_name_field_selector_picks_one_object(api, selector):
    api.put_configmap("onap", "alpha", {})
    assert names(listed(api, fieldSelector=selector)["items"]) == ["alpha"]
    assert names(listed(api, fieldSelector="metadata.name!=alpha")["items"]) == ["seed"]


def test_a_namespace_field_selector_filters_the_cluster_wide_list(api):
    api.put_configmap("other", "alpha", {})
    everywhere = "/api/v1/configmaps"
    assert names(listed(api, everywhere, fieldSelector="metadata.namespace=other")["items"]) == ["alpha"]
    assert names(listed(api, everywhere)["items"]) == ["seed", "alpha"]  # key order: onap/seed < other/alpha
    assert listed(api, fieldSelector="metadata.namespace=other")["items"] == []


def test_unsupported_field_labels_are_bad_requests_worded_per_kind(api):
    answer = get(api, CONFIGMAPS, fieldSelector="data.k=v")
    assert answer.status == 400
    assert answer.json() == status(400, "BadRequest",
                                   '"data.k" is not a known field selector: only "metadata.name", "metadata.namespace"')
    answer = get(api, SECRETS, fieldSelector="data.k=v")
    assert answer.json() == status(400, "BadRequest", "field label not supported: data.k")
    api.put_secret("onap", "tls", {"k": "v"}, type="kubernetes.io/tls")
    assert names(listed(api, SECRETS, fieldSelector="type=kubernetes.io/tls")["items"]) == ["tls"]


def test_a_malformed_field_selector_is_a_bad_request(api):
    answer = get(api, CONFIGMAPS, fieldSelector="metadata.name")
    assert answer.json() == status(400, "BadRequest", "invalid selector: 'metadata.name'; can't understand "
                                                      "'metadata.name'")


def test_label_selectors_are_implemented(api):
    api.put_configmap("onap", "a", {}, labels={"app": "x", "tier": "1"})
    api.put_configmap("onap", "b", {}, labels={"app": "y"})
    for selector, expected in [("app=x", ["a"]), ("app!=x", ["b", "seed"]), ("app in (x,y)", ["a", "b"]),
                               ("app notin (x)", ["b", "seed"]), ("tier", ["a"]), ("!tier", ["b", "seed"]),
                               ("app,tier>0", ["a"])]:
        assert names(listed(api, labelSelector=selector)["items"]) == expected, selector
    assert get(api, CONFIGMAPS, labelSelector="app in x").status == 400


def test_limit_pages_a_consistent_snapshot_with_continue_tokens(api):
    for name in ("a", "b", "c", "d"):
        api.put_configmap("onap", name, {"v": "1"})
    first = listed(api, limit=2)
    version = first["metadata"]["resourceVersion"]
    assert names(first["items"]) == ["a", "b"] and first["metadata"]["remainingItemCount"] == 3
    api.put_configmap("onap", "c", {"v": "changed"})  # after the snapshot: not in the pages
    api.put_configmap("onap", "aa", {})
    second = listed(api, limit=2, **{"continue": first["metadata"]["continue"]})
    assert names(second["items"]) == ["c", "d"] and second["items"][0]["data"] == {"v": "1"}
    assert second["metadata"]["resourceVersion"] == version and second["metadata"]["remainingItemCount"] == 1
    last = listed(api, limit=2, **{"continue": second["metadata"]["continue"]})
    assert names(last["items"]) == ["seed"] and "continue" not in last["metadata"]
    selected = listed(api, limit=1, labelSelector="")
    assert "remainingItemCount" in selected["metadata"]
    assert "remainingItemCount" not in listed(api, limit=1, fieldSelector="metadata.name!=x")["metadata"]


def test_limit_is_ignored_for_resource_version_0_as_the_watch_cache_serves_it(api):
    api.put_configmap("onap", "a", {})
    body = listed(api, limit=1, resourceVersion="0")
    assert names(body["items"]) == ["a", "seed"] and "continue" not in body["metadata"]


def test_a_continue_token_older_than_the_history_is_410_with_a_fresh_token(api):
    api.put_configmap("onap", "a", {})
    first = listed(api, limit=1)
    api.put_configmap("onap", "b", {})
    api.expire_history()
    answer = get(api, CONFIGMAPS, limit=1, **{"continue": first["metadata"]["continue"]})
    assert answer.status == 410
    body = answer.json()
    assert body["reason"] == "Expired" and body["message"].startswith("The provided continue parameter is too old")
    rest = listed(api, **{"continue": body["metadata"]["continue"]})  # the inconsistent remainder, from now
    assert names(rest["items"]) == ["b", "seed"]
    assert get(api, CONFIGMAPS, **{"continue": "not-a-token"}).status == 400
    answer = get(api, CONFIGMAPS, resourceVersion="5", **{"continue": first["metadata"]["continue"]})
    assert answer.json()["message"] == "specifying resource version is not allowed when using continue"


def test_an_exact_list_shows_an_older_state_until_the_history_is_gone(api):
    before = current_version(api)
    api.put_configmap("onap", "seed", {"seeded": "again"})
    api.put_configmap("onap", "new", {})
    api.delete_configmap("onap", "seed")
    old = listed(api, resourceVersion=str(before), resourceVersionMatch="Exact")
    assert old["metadata"]["resourceVersion"] == str(before)
    assert names(old["items"]) == ["seed"] and old["items"][0]["data"] == {"seeded": "yes"}
    assert names(listed(api, resourceVersion=str(before))["items"]) == ["new"]  # NotOlderThan: the current state
    api.expire_history()
    answer = get(api, CONFIGMAPS, resourceVersion=str(before), resourceVersionMatch="Exact")
    assert answer.json() == status(410, "Expired", "The resourceVersion for the provided list is too old.")


def test_a_resource_version_from_the_future_times_out_like_the_watch_cache(api):
    future = current_version(api) + 100
    started = time.monotonic()
    answer = get(api, CONFIGMAPS, resourceVersion=str(future))
    assert time.monotonic() - started >= 0.3  # waited for it (resourceVersionWaitSeconds)
    details = {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
               "retryAfterSeconds": 1}
    assert answer.status == 504 and answer.headers["Retry-After"] == "1"
    assert answer.json() == status(504, "Timeout", f"Timeout: Too large resource version: {future}, current: "
                                                   f"{future - 100}", details)


@pytest.mark.parametrize("params, cause", [
    ({"resourceVersionMatch": "Exact"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
    ({"sendInitialEvents": "true"}, "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
    ({"watch": "true", "sendInitialEvents": "true"},
     "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ({"watch": "true", "resourceVersion": "1", "resourceVersionMatch": "NotOlderThan"},
     "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
     "provided"),
])
def test_list_options_are_validated_like_validate_list_options(api, params, cause):
    answer = get(api, CONFIGMAPS, **params)
    assert answer.status == 422
    assert answer.json()["message"] == f'ListOptions.meta.k8s.io "" is invalid: {cause}'


def test_a_resource_version_that_is_not_a_number_is_invalid(api):
    answer = get(api, CONFIGMAPS, watch="true", resourceVersion="abc")
    assert answer.status == 422 and 'resourceVersion: Invalid value: "abc"' in answer.json()["message"]


# MARK: - Watch: the stream


def raw_watch(api, path):
    """A watch over a bare TLS socket, to see its HTTP framing; returns (socket, bytes so far)."""
    context = ssl.create_default_context(cafile=str(api.ca_file))
    sock = context.wrap_socket(socket.create_connection((api.host, api.port), timeout=5), server_hostname=api.host)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {api.host}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode())
    return sock


def read_until(sock, data, marker):
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before {marker!r}; got {data!r}"
        data += chunk
    return data


def test_a_watch_is_a_chunked_json_stream_of_one_event_per_chunk_and_ends_with_the_final_chunk(api):
    sock = raw_watch(api, url(CONFIGMAPS, watch="true", fieldSelector="metadata.name=seed"))
    try:
        data = read_until(sock, b"", b"\r\n\r\n")
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert b"\r\nContent-Type: application/json\r\n" in head + b"\r\n"
        assert b"\r\nTransfer-Encoding: chunked" in head and b"Content-Length" not in head
        body = read_until(sock, body, b"}\n\r\n")
        size, rest = body.split(b"\r\n", 1)
        line = rest[:int(size, 16)]
        assert line.endswith(b"}\n") and line.count(b"\n") == 1
        assert json.loads(line)["type"] == "ADDED"
        assert api.end_watches() == 1
        assert read_until(sock, rest[int(size, 16) + 2:], b"0\r\n\r\n").endswith(b"0\r\n\r\n")
    finally:
        sock.close()


@pytest.mark.parametrize("params", [{}, {"resourceVersion": "0"}, {"watch": "1"}])
def test_a_watch_from_unset_or_0_sends_the_current_objects_as_added_then_the_changes(api, params):
    api.put_configmap("onap", "alpha", {"k": "v"})
    with api.watch(CONFIGMAPS, **params) as watch:
        initial = [watch.next(), watch.next()]
        assert [(event["type"], event["object"]["metadata"]["name"]) for event in initial] == [
            ("ADDED", "alpha"), ("ADDED", "seed")]
        assert initial[0]["object"]["kind"] == "ConfigMap" and initial[0]["object"]["apiVersion"] == "v1"
        assert initial[0]["object"]["data"] == {"k": "v"}
        changed = api.put_configmap("onap", "seed", {"seeded": "no"})
        event = watch.next()
        assert event == {"type": "MODIFIED", "object": changed}


def test_a_watch_from_a_resource_version_sends_every_change_after_it(api):
    start = current_version(api)
    modified = api.put_configmap("onap", "seed", {"n": "1"})
    added = api.put_configmap("onap", "alpha", {})
    api.put_secret("onap", "sealed", {"other": "resource"})
    api.delete_configmap("onap", "alpha")
    with api.watch(CONFIGMAPS, resourceVersion=str(start)) as watch:
        events = [watch.next() for _ in range(3)]
    assert [event["type"] for event in events] == ["MODIFIED", "ADDED", "DELETED"]
    assert events[0]["object"] == modified and events[1]["object"] == added
    assert events[2]["object"]["metadata"]["resourceVersion"] == str(int(added["metadata"]["resourceVersion"]) + 2)


def test_delete_then_create_are_deleted_with_the_last_state_then_added(api):
    with api.watch(CONFIGMAPS, fieldSelector="metadata.name=seed", resourceVersion=str(current_version(api))) as watch:
        last = api.put_configmap("onap", "seed", {"last": "state"})
        answer = api.request("DELETE", CONFIGMAPS + "/seed", token=ADMIN_TOKEN)
        assert answer.status == 200
        created = api.request("POST", CONFIGMAPS, {"metadata": {"name": "seed"}, "data": {"new": "1"}},
                              token=ADMIN_TOKEN).json()
        api.delete_configmap("onap", "seed")  # the control API writes through the same store
        api.put_configmap("onap", "seed", {"again": "1"})
        events = [watch.next() for _ in range(5)]
    assert [event["type"] for event in events] == ["MODIFIED", "DELETED", "ADDED", "DELETED", "ADDED"]
    deleted = events[1]["object"]
    assert deleted["data"] == {"last": "state"} and deleted["metadata"]["uid"] == last["metadata"]["uid"]
    assert deleted["metadata"]["resourceVersion"] == str(int(last["metadata"]["resourceVersion"]) + 1)
    assert events[2]["object"] == created and created["metadata"]["uid"] != last["metadata"]["uid"]
    assert events[4]["object"]["data"] == {"again": "1"}


def test_a_too_old_resource_version_is_an_expired_error_event_then_the_end(api):
    old = current_version(api)
    api.put_configmap("onap", "seed", {"n": "1"})
    floor = int(api.expire_history())
    with api.watch(CONFIGMAPS, resourceVersion=str(old)) as watch:
        assert watch.status == 200
        assert watch.next() == {"type": "ERROR", "object": expired(old, floor)}
        assert watch.ended() == "end"
    with api.watch(CONFIGMAPS, resourceVersion=str(floor)) as watch:  # the floor itself is still fine
        api.put_configmap("onap", "seed", {"n": "2"})
        assert watch.next()["type"] == "MODIFIED"


def test_the_history_keeps_the_last_n_changes_per_resource(api):
    api.watch_settings(historySize=2)
    start = current_version(api)
    versions = [int(api.put_configmap("onap", "seed", {"n": str(n)})["metadata"]["resourceVersion"])
                for n in range(3)]
    api.put_secret("onap", "sealed", {"k": "other history"})
    with api.watch(CONFIGMAPS, resourceVersion=str(start)) as watch:
        assert watch.next() == {"type": "ERROR", "object": expired(start, versions[1] - 1)}
    with api.watch(CONFIGMAPS, resourceVersion=str(versions[0])) as watch:
        assert [watch.next()["object"]["data"]["n"] for _ in range(2)] == ["1", "2"]


def test_too_old_can_be_a_410_answer_before_any_stream(api):
    api.watch_settings(tooOld="status")
    old = current_version(api)
    api.put_configmap("onap", "seed", {"n": "1"})
    floor = int(api.expire_history())
    with api.watch(CONFIGMAPS, resourceVersion=str(old)) as watch:
        assert watch.ended() == "refused" and watch.status == 410
        assert watch.json() == expired(old, floor)
    assert api.requests()[-1]["code"] == 410 and api.watches_served() == 0


def test_bookmarks_come_only_when_asked_for_and_carry_a_newer_resource_version(api):
    start = str(current_version(api))
    with api.watch(CONFIGMAPS, resourceVersion=start, allowWatchBookmarks=True) as marked, \
            api.watch(CONFIGMAPS, resourceVersion=start) as plain:
        time.sleep(0.5)  # several bookmark intervals, but nothing newer than `start` to tell
        assert marked.events == []
        secret = api.put_secret("onap", "sealed", {"k": "moves the resourceVersion"})
        event = marked.next(2)
        version = secret["metadata"]["resourceVersion"]
        assert event == {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {
            "resourceVersion": version, "creationTimestamp": None}}}
        time.sleep(0.5)
        assert len(marked.events) == 1 and plain.events == []


def test_a_watch_from_now_ends_its_initial_events_with_the_initial_events_end_bookmark(api):
    with api.watch(CONFIGMAPS, allowWatchBookmarks=True) as watch:
        added, end = watch.next(), watch.next()
    assert added["type"] == "ADDED"
    assert end["type"] == "BOOKMARK" and end["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert end["object"]["metadata"]["resourceVersion"] == str(current_version(api))
    api.watch_settings(watchList=False)  # as a 1.33 server, where WatchList was off again
    with api.watch(CONFIGMAPS, allowWatchBookmarks=True) as watch:
        assert watch.next()["type"] == "ADDED"
        with pytest.raises(TimeoutError):
            watch.next(0.5)
    explicit = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan", "allowWatchBookmarks": "true"}
    assert get(api, CONFIGMAPS, watch="true", **explicit).status == 422  # the feature is off now


def test_send_initial_events_false_starts_from_now_without_them(api):
    with api.watch(CONFIGMAPS, sendInitialEvents="false", resourceVersionMatch="NotOlderThan") as watch:
        api.wait_for_watches(1)
        changed = api.put_configmap("onap", "seed", {"n": "1"})
        assert watch.next() == {"type": "MODIFIED", "object": changed}


def test_timeout_seconds_ends_the_stream_cleanly_on_time(api):
    started = time.monotonic()
    with api.watch(CONFIGMAPS, timeoutSeconds=1) as watch:
        assert watch.ended(3) == "end"
    assert 0.9 <= time.monotonic() - started < 2.0
    api.watch_settings(timeoutSeconds=0.5)  # the server's default for watches without timeoutSeconds
    with api.watch(CONFIGMAPS) as watch:
        assert watch.ended(3) == "end"


def test_a_write_wakes_the_watch_at_once(api):
    with api.watch(CONFIGMAPS, resourceVersion=str(current_version(api))) as watch:
        api.wait_for_watches(1)
        started = time.monotonic()
        api.put_configmap("onap", "seed", {"n": "1"})
        watch.next()
        assert time.monotonic() - started < 0.2


def test_a_watch_from_a_future_resource_version_sees_only_what_comes_after_it(api):
    now = current_version(api)
    with api.watch(CONFIGMAPS, resourceVersion=str(now + 2)) as watch:
        api.put_configmap("onap", "seed", {"n": "1"})
        api.put_configmap("onap", "seed", {"n": "2"})
        third = api.put_configmap("onap", "seed", {"n": "3"})
        assert watch.next() == {"type": "MODIFIED", "object": third}


def test_a_label_selection_sees_objects_move_in_and_out(api):
    with api.watch(CONFIGMAPS, labelSelector="app=x", resourceVersion=str(current_version(api))) as watch:
        api.put_configmap("onap", "seed", {}, labels={"app": "x"})
        api.put_configmap("onap", "seed", {"n": "1"}, labels={"app": "x"})
        moved_out = api.put_configmap("onap", "seed", {"n": "2"}, labels={"app": "y"})
        events = [watch.next() for _ in range(3)]
    assert [event["type"] for event in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[2]["object"]["metadata"]["labels"] == {"app": "x"}  # the last state it was seen in
    assert events[2]["object"]["metadata"]["resourceVersion"] == moved_out["metadata"]["resourceVersion"]


def test_secrets_are_watched_with_their_field_labels(api):
    with api.watch(SECRETS, fieldSelector="type=Opaque", resourceVersion=str(current_version(api))) as watch:
        api.put_secret("onap", "tls", {"k": "v"}, type="kubernetes.io/tls")
        opaque = api.put_secret("onap", "sealed", {"k": "new"})
        event = watch.next()
    assert event == {"type": "MODIFIED", "object": opaque} and event["object"]["kind"] == "Secret"


# MARK: - Watch: authorisation, faults, the request log


def test_a_resource_name_rule_allows_watching_that_name_only(api):
    token = api.add_identity("watcher", rules=[{"verbs": ["list", "watch"], "resources": ["configmaps"],
                                                "namespaces": ["onap"], "resourceNames": ["seed"]}])
    with api.watch(CONFIGMAPS, token=token, fieldSelector="metadata.name=seed") as watch:
        assert watch.status == 200 and watch.next()["object"]["metadata"]["name"] == "seed"
    assert get(api, CONFIGMAPS, token=token, fieldSelector="metadata.name==seed").status == 200  # a list
    answer = get(api, CONFIGMAPS, token=token, watch="true")
    message = ('configmaps is forbidden: User "watcher" cannot watch resource "configmaps" in API group "" in the '
               'namespace "onap"')
    assert answer.json() == status(403, "Forbidden", message, {"kind": "configmaps"})
    answer = get(api, CONFIGMAPS, token=token, watch="true", fieldSelector="metadata.name=other")
    assert answer.json()["message"].startswith('configmaps "other" is forbidden: User "watcher" cannot watch')
    answer = get(api, CONFIGMAPS, token=READER_TOKEN, watch="true", fieldSelector="metadata.name=seed")
    assert answer.status == 403  # get is not watch


def test_a_fault_can_fail_only_the_watch(api):
    api.add_fault(path=CONFIGMAPS, watch=True, action="status", code=403, count=-1)
    with api.watch(CONFIGMAPS, fieldSelector="metadata.name=seed") as watch:
        assert watch.status == 403 and watch.json()["reason"] == "Forbidden"
    assert get(api, CONFIGMAPS).status == 200
    assert get(api, CONFIGMAPS + "/seed").status == 200
    patch = api.request("PATCH", CONFIGMAPS + "/seed", {"data": {"n": "1"}}, token=ADMIN_TOKEN,
                        content_type="application/merge-patch+json")
    assert patch.status == 200
    api.clear_faults()
    api.add_fault(path=CONFIGMAPS, queryRegex="resourceVersion=", action="status", code=500)
    assert get(api, CONFIGMAPS, watch="true", resourceVersion="1").status == 500
    assert [entry["fault"] for entry in api.requests()[-2:]] == [None, "status"]


def test_watches_are_in_the_request_log(api):
    with api.watch(CONFIGMAPS, fieldSelector="metadata.name=seed") as watch:
        watch.next()
        entry = api.requests()[-1]
    assert (entry["method"], entry["path"], entry["code"]) == ("GET", CONFIGMAPS, 200)
    assert entry["query"] == "watch=true&fieldSelector=metadata.name%3Dseed" and entry["user"] == "admin"


# MARK: - Watch: controls


def test_drop_watches_closes_the_connection_mid_stream(api):
    with api.watch(CONFIGMAPS) as first, api.watch(SECRETS) as second:
        first.next(), second.next()
        assert api.watch_count() == 2
        assert api.drop_watches() == 2
        assert (first.ended(), second.ended()) == ("dropped", "dropped")
        assert api.watch_count() == 0 and api.watches_served() == 2


def test_end_watches_ends_them_cleanly(api):
    with api.watch(CONFIGMAPS) as watch:
        watch.next()
        assert api.end_watches() == 1
        assert watch.ended() == "end"


@pytest.mark.parametrize("code, reason", [(500, "InternalError"), (503, "ServiceUnavailable")])
def test_watch_error_sends_an_error_event_then_ends(api, code, reason):
    with api.watch(CONFIGMAPS) as watch:
        watch.next()
        assert api.watch_error(code) == 1
        event = watch.next()
        assert event["type"] == "ERROR" and (event["object"]["code"], event["object"]["reason"]) == (code, reason)
        assert watch.ended() == "end"


def test_watch_error_410_is_the_expired_error_of_a_compacted_etcd_watch(api):
    with api.watch(CONFIGMAPS, resourceVersion=str(current_version(api))) as watch:
        api.wait_for_watches(1)
        api.watch_error(410)
        message = "The resourceVersion for the provided watch is too old."
        assert watch.next() == {"type": "ERROR", "object": status(410, "Expired", message)}
        assert watch.ended() == "end"


def test_open_watches_are_listed_and_a_hang_up_ends_them(api):
    version = str(current_version(api))
    watch = api.watch(CONFIGMAPS, fieldSelector="metadata.name=seed", resourceVersion=version)
    [listed_watch] = api.wait_for_watches(1, path=CONFIGMAPS)
    assert listed_watch["query"] == {"watch": "true", "fieldSelector": "metadata.name=seed", "resourceVersion": version}
    assert (listed_watch["user"], listed_watch["resourceVersion"]) == ("admin", version)
    watch.close()
    deadline = time.monotonic() + 2
    while api.watch_count() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert api.watch_count() == 0


def test_expire_history_keeps_open_watches_going(api):
    with api.watch(CONFIGMAPS, resourceVersion=str(current_version(api))) as watch:
        api.wait_for_watches(1)
        api.expire_history()
        changed = api.put_configmap("onap", "seed", {"after": "compaction"})
        assert watch.next() == {"type": "MODIFIED", "object": changed}


def test_down_drops_watches_and_reset_ends_them(api):
    with api.watch(CONFIGMAPS) as watch:
        watch.next()
        try:
            api.down(seconds=0.3)
            assert watch.ended() == "dropped"
        finally:
            api.wait_listening()
    with api.watch(CONFIGMAPS) as watch:
        watch.next()
        before_reset = current_version(api)
        api.reset()
        assert watch.ended() == "end"
    with api.watch(CONFIGMAPS, resourceVersion=str(before_reset - 1)) as watch:
        assert watch.next()["object"]["reason"] == "Expired"  # a reset is a restored cluster


def test_watch_settings_are_validated_and_reset(api):
    assert api.watch_settings() == {"bookmarkSeconds": 0.2, "historySize": 200, "tooOld": "event",
                                    "timeoutSeconds": None, "watchList": True, "resourceVersionWaitSeconds": 0.3}
    assert api.watch_settings(historySize=5, tooOld="status")["historySize"] == 5
    with pytest.raises(RuntimeError):
        api.watch_settings(tooOld="sometimes")
    with pytest.raises(RuntimeError):
        api.watch_settings(historySize=0)
    api.reset()
    assert api.watch_settings()["tooOld"] == "event" and api.watch_settings()["historySize"] == 200


# MARK: - Real clients


def python_client(api, tmp_path, token=None):
    from kubernetes import client, config

    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=token or ADMIN_TOKEN, context="local")
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context="local"))


def test_python_client_watch_sees_changes_deletion_and_creation(api, tmp_path):
    from kubernetes import watch

    token = api.add_identity("py", rules=[{"verbs": ["list", "watch"], "resources": ["configmaps"],
                                           "namespaces": ["onap"], "resourceNames": ["seed"]}])
    core = python_client(api, tmp_path, token)
    listing = core.list_namespaced_config_map("onap", field_selector="metadata.name=seed")
    assert [item.metadata.name for item in listing.items] == ["seed"]
    events, watcher = queue.Queue(), watch.Watch()

    def stream():
        for event in watcher.stream(core.list_namespaced_config_map, "onap", field_selector="metadata.name=seed",
                                    allow_watch_bookmarks=True, resource_version=listing.metadata.resource_version,
                                    timeout_seconds=10):
            events.put(event)

    thread = threading.Thread(target=stream, daemon=True)
    thread.start()
    api.wait_for_watches(1)
    api.put_configmap("onap", "seed", {"seeded": "changed"})
    api.delete_configmap("onap", "seed")
    api.put_configmap("onap", "seed", {"seeded": "again"})
    seen = [events.get(timeout=5) for _ in range(3)]
    changes = [(event["type"], event["object"].data) for event in seen]
    assert changes == [("MODIFIED", {"seeded": "changed"}), ("DELETED", {"seeded": "changed"}),
                       ("ADDED", {"seeded": "again"})]
    secret = api.put_secret("onap", "sealed", {"k": "moves the resourceVersion: a bookmark"})
    assert events.get(timeout=5)["type"] == "BOOKMARK"
    assert watcher.resource_version == secret["metadata"]["resourceVersion"]  # where the client would resume
    assert api.end_watches() == 1  # a clean end: the client's stream ends (it has timeout_seconds: no retry)
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("too_old", ["event", "status"])
def test_python_client_watch_raises_410_either_way(api, tmp_path, too_old):
    from kubernetes import watch
    from kubernetes.client.rest import ApiException

    api.watch_settings(tooOld=too_old)
    core = python_client(api, tmp_path)
    old = current_version(api)
    api.put_configmap("onap", "seed", {"n": "1"})
    floor = api.expire_history()
    with pytest.raises(ApiException) as raised:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "onap", resource_version=str(old),
                                      timeout_seconds=5):
            pass
    assert raised.value.status == 410
    assert f"too old resource version: {old} ({floor})" in str(raised.value)


def test_kubectl_get_watch_sees_a_change_with_a_one_name_role(api, tmp_path):
    token = api.add_identity("kubectl-watcher", rules=[{"verbs": ["get", "list", "watch"], "resources": ["configmaps"],
                                                        "namespaces": ["onap"], "resourceNames": ["seed"]}])
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=token)
    process = subprocess.Popen(["kubectl", "--kubeconfig", str(kubeconfig), "get", "configmap", "seed", "-n", "onap",
                                "--watch", "--output-watch-events", "-o", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "HOME": str(tmp_path)})
    documents, decoder = queue.Queue(), json.JSONDecoder()

    def read():
        buffer = ""
        for line in process.stdout:
            buffer += line.decode()
            while buffer.strip():
                try:
                    document, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                documents.put(document)
                buffer = buffer.lstrip()[end:]

    threading.Thread(target=read, daemon=True).start()
    try:
        first = documents.get(timeout=15)
        assert (first["type"], first["object"]["data"]) == ("ADDED", {"seeded": "yes"})
        api.wait_for_watches(1, path=CONFIGMAPS)
        watch = api.watches()[0]
        assert watch["user"] == "kubectl-watcher" and watch["query"]["fieldSelector"] == "metadata.name=seed"
        api.put_configmap("onap", "seed", {"seeded": "by the test"})
        second = documents.get(timeout=10)
        assert (second["type"], second["object"]["data"]) == ("MODIFIED", {"seeded": "by the test"})
    finally:
        process.kill()
        process.wait(5)
    assert process.returncode is not None
