"""The watch on the document's object (issue 12): `serve` lists the one ConfigMap by name, then
watches it from the list's resourceVersion.

Other writers' versions are served at once; a version that alters or removes our entries is
repaired by one publication, and our own writes cause none. Streams that end, drop, fail or
expire are watched again without losing a change, after the initial backoff when the watch had
worked, and never in a tight loop; a deleted object is served from memory until it is back; a
forbidden watch falls back to the refresh pass. Two replicas with one token do not ping-pong;
two with different pod tokens fight, slowed down. A registration that would take the document
over the object's 1 MiB limit is refused before any write; `?site=` answers have their own ETag.
No token reaches a log line (checked after every test by the `services` fixture).

Most tests run `serve --auth none --refresh-interval 0 --site-probe-interval 0`: once it has
published and watches, nothing but the watch can make it write, so the API server's request
log says what the watch caused. Other writers write through the API as the admin, so their
requests are told apart from the service's by user.

Run: KUBECONFIG_SERVICE_BIN=... python3 -m pytest -q Tests/e2e/test_document_watch.py
"""

from __future__ import annotations

import base64
import json
import shutil
import time

import pytest
import yaml

from kubeapi import ADMIN_TOKEN, KubeAPIServer
from loopback import Service, wait_until
from redaction import JWT, load, load_json, redact
from support import CONFIGMAP, CONFIGMAP_PATH, NAMESPACE, metric, names, stored_document

SERVICE_USER = f"system:serviceaccount:{NAMESPACE}:kubeconfig-service"
LIST_PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
QUIET = ["--auth", "none", "--refresh-interval", "0", "--site-probe-interval", "0"]
ELSEWHERE = "https://203.0.113.7:6443"  # TEST-NET-3: a server no publication of ours would write
MIB = 1 << 20
PLANTED = "planted-secret-"  # every token this file puts in a document starts so; none may be logged

REPAIRING = "our entries were changed or removed by another writer; repairing"
DELETED = "the document's object was deleted; serving the last good document until it is back"
BACK = "the document's object is back; publishing into it"
FALLBACK = "the document cannot be watched; falling back to the periodic refresh pass"
SLOWING = "our entries keep being changed by another writer; slowing repairs down"


# MARK: - Fixtures


@pytest.fixture
def services(request):
    """Starts `serve` processes (`services(*args, api_server=..., sa_dir=..., secret=...)`, against
    the `api` fixture's server unless told otherwise); after the test, stops them and checks that
    no token (theirs, `secret`, or one this file planted) reached any log line."""
    started: list[Service] = []
    secrets: list[str] = []

    def start(*args, api_server=None, sa_dir=None, secret=None) -> Service:
        server = api_server or request.getfixturevalue("api")
        service = Service(server, *args)
        if sa_dir is not None:
            service.args[service.args.index("--service-account-dir") + 1] = str(sa_dir)
        secrets.append(server.token.strip())
        if secret:
            secrets.append(secret)
        started.append(service.start())
        return service

    yield start
    for service in started:
        service.stop()
    for index, service in enumerate(started):
        leaked = [secret for secret in secrets if secret in service.logs]
        assert not leaked and not JWT.search(service.logs) and PLANTED not in service.logs, \
            f"a token appears in the logs of service {index}"


def watching(services, *args, **kwargs) -> Service:
    """A quiet `serve` that has published and watches the object; request log emptied."""
    service = services(*QUIET, *args, **kwargs)
    service.wait_ready()
    wait_for_watch(service)
    service.api.requests(clear=True)
    return service


# MARK: - Helpers


def status(service) -> dict:
    return load_json(service.request("GET", "/status").body)


def watch_state(service) -> dict:
    return status(service).get("watch") or {}


def wait_for_watch(service, timeout: float = 10.0):
    """Until /status says `watching` and the API server has the service's watch open."""
    waited = wait_until(lambda: watch_state(service).get("state") == "watching", timeout)
    assert waited is not None, f"watch state {watch_state(service)}; logs:\n{redact(service.logs)}"
    service.api.wait_for_watches(1, path=LIST_PATH, timeout=timeout)


def service_writes(api) -> list[dict]:
    """The service's writes of the document's object, oldest first."""
    return [entry for entry in api.requests() if entry["path"] == CONFIGMAP_PATH and entry["user"] == SERVICE_USER
            and entry["method"] in ("PUT", "PATCH", "POST", "DELETE")]


def lists_and_watches(api) -> list[dict]:
    """The service's lists and watches of ConfigMaps."""
    return [entry for entry in api.requests() if entry["path"] == LIST_PATH and entry["user"] == SERVICE_USER]


def served(service) -> dict:
    answer = service.request("GET", "/kubeconfig")
    assert answer.status == 200, redact(answer.text)
    return load(answer.body)


def entry(document: dict, section: str, name: str) -> dict | None:
    return next((item for item in document.get(section) or [] if item.get("name") == name), None)


def ours_intact(document: dict, api) -> bool:
    """Whether the document holds the central site's entries as the service publishes them."""
    cluster, user = entry(document, "clusters", "central"), entry(document, "users", "user00")
    context = entry(document, "contexts", "central")
    return (cluster is not None and cluster["cluster"].get("server") == api.url and user is not None
            and user["user"].get("token") == api.token.strip() and context is not None
            and context["context"].get("cluster") == "central" and context["context"].get("user") == "user00")


def edit_document(api, change) -> str:
    """Another writer: reads the object, changes its kubeconfig with `change(document)`, writes it
    back with a conditional merge patch as the admin. Returns the new resourceVersion."""
    configmap = api.get_configmap(NAMESPACE, CONFIGMAP)
    document = yaml.safe_load(configmap["data"]["kubeconfig"])
    change(document)
    patch = {"metadata": {"resourceVersion": configmap["metadata"]["resourceVersion"]},
             "data": {"kubeconfig": yaml.safe_dump(document, sort_keys=False)}}
    answer = api.request("PATCH", CONFIGMAP_PATH, patch, token=ADMIN_TOKEN,
                         content_type="application/merge-patch+json")
    assert answer.status == 200, redact(repr(answer))
    return answer.json()["metadata"]["resourceVersion"]


def move_our_server(document: dict):
    entry(document, "clusters", "central")["cluster"]["server"] = ELSEWHERE


def remove_our_user(document: dict):
    document["users"] = [user for user in document["users"] if user["name"] != "user00"]


def add_site(name: str):
    """A change that adds another writer's site `name` (cluster, user and context)."""
    def change(document: dict):
        document["clusters"].append({"name": name, "cluster": {"server": f"https://{name}.example:6443"}})
        document["users"].append({"name": name, "user": {"token": PLANTED + name}})
        document["contexts"].append({"name": name, "context": {"cluster": name, "user": name}})
    return change


def wait_served(service, name: str, timeout: float = 2.0) -> float | None:
    """Seconds until GET /kubeconfig holds a context `name`, None if it does not in time."""
    return wait_until(lambda: name in names(served(service), "contexts"), timeout)


def restarts(service, reason: str) -> float:
    return metric(service, "kubeconfig_watch_restarts_total", reason=reason) or 0.0


def messages(service, message: str) -> list[dict]:
    return [line for line in service.log_entries() if line.get("msg") == message]


# MARK: - Drift


@pytest.mark.parametrize("change", [move_our_server, remove_our_user], ids=["server-changed", "user-removed"])
def test_drift_is_repaired_by_one_write_without_a_refresh_pass(api, services, change):
    service = watching(services)
    assert service_writes(api) == [], "the echo of our own start-up publication caused a write"
    published = api.get_configmap(NAMESPACE, CONFIGMAP)["data"]["kubeconfig"]

    changed_at = time.monotonic()
    edited = edit_document(api, change)
    repaired = wait_until(lambda: ours_intact(stored_document(api), api), timeout=3)
    assert repaired is not None and repaired < 2.0, f"not repaired within 2 s; logs:\n{redact(service.logs)}"
    time.sleep(max(0.0, changed_at + repaired + 1.0 - time.monotonic()))  # a second for a loop to show

    writes = service_writes(api)
    assert [(write["method"], write["code"]) for write in writes] == [("PATCH", 200)], writes
    stored = api.get_configmap(NAMESPACE, CONFIGMAP)
    assert int(stored["metadata"]["resourceVersion"]) == int(edited) + 1, "written more than once after the edit"
    back = stored["data"]["kubeconfig"] == published
    assert back, "the repaired document differs from the one published before the edit"
    assert ours_intact(served(service), api)
    assert len(messages(service, REPAIRING)) == 1, redact(service.logs)
    assert metric(service, "kubeconfig_watch_repairs_total") == 1
    assert metric(service, "kubeconfig_watch_events_total", type="stored") >= 2  # the edit and the repair
    publications = messages(service, "publication succeeded")
    assert publications and all("local_ms" in line and float(line["local_ms"]) >= 0 for line in publications)
    print(f"\nMEASURE drift repaired {repaired:.2f} s after the edit, by {len(writes)} write")


def test_another_writers_site_is_served_at_once_and_not_written_over(api, services):
    service = watching(services)
    before = service.request("GET", "/kubeconfig")
    etag = before.headers["ETag"]
    assert service.request("GET", "/kubeconfig", headers={"If-None-Match": etag}).status == 304

    edited = edit_document(api, add_site("edge-1"))
    waited = wait_served(service, "edge-1", timeout=1.0)
    assert waited is not None, f"edge-1 not served within 1 s; logs:\n{redact(service.logs)}"
    after = service.request("GET", "/kubeconfig")
    assert after.headers["ETag"] != etag
    assert service.request("GET", "/kubeconfig", headers={"If-None-Match": etag}).status == 200
    assert service.request("GET", "/kubeconfig", headers={"If-None-Match": after.headers["ETag"]}).status == 304
    listed = {site["name"]: site for site in load_json(service.request("GET", "/sites").body)["sites"]}
    assert listed["edge-1"]["ours"] is False and listed["edge-1"]["server"] == "https://edge-1.example:6443"
    assert status(service)["resourceVersion"] == edited
    time.sleep(1.0)
    assert service_writes(api) == [], "another writer's site, leaving ours alone, caused a write"
    assert messages(service, REPAIRING) == []
    print(f"\nMEASURE another writer's site served {waited:.2f} s after its write")


# MARK: - Streams that end


def drop(api):
    assert api.drop_watches() == 1


def end(api):
    assert api.end_watches() == 1


def error_event(api):
    assert api.watch_error(500, "etcdserver: leader changed") == 1


def gone_event(api):
    assert api.watch_error(410) == 1


def expire_while_away(api, too_old: str):
    """The service's next watch is held back a second; meanwhile another writer writes and the
    history is compacted, so that watch's resourceVersion is too old (410, as an ERROR event or
    as the answer)."""
    api.watch_settings(tooOld=too_old)
    api.add_fault(method="GET", path=LIST_PATH, watch=True, action="delay", seconds=1.0)
    end(api)
    edit_document(api, add_site("edge-early"))
    api.expire_history()


RECOVERIES = [  # (id, disruption, the restarts it counts by reason, whether the service lists again,
                #  the lastError code /status shows)
    ("dropped", drop, {"error": 1}, False, "APIServerUnreachable"),
    ("ended", end, {"ended": 1}, False, None),
    ("error-event", error_event, {"error": 1}, False, "APIServerError"),
    ("410-event", gone_event, {"expired": 1}, True, None),
    ("history-expired-event", lambda api: expire_while_away(api, "event"), {"ended": 1, "expired": 1}, True, None),
    ("history-expired-answer", lambda api: expire_while_away(api, "status"), {"ended": 1, "expired": 1}, True,
     None),
]


@pytest.mark.parametrize("disrupt,counted,relists,error", [case[1:] for case in RECOVERIES],
                         ids=[case[0] for case in RECOVERIES])
def test_the_watch_recovers_and_loses_no_change(api, services, disrupt, counted, relists, error):
    service = watching(services)
    edit_document(api, add_site("edge-0"))  # the watch has worked: what follows is no "very short watch"
    assert wait_served(service, "edge-0") is not None, redact(service.logs)
    api.requests(clear=True)
    counts = {name: restarts(service, name) for name in ("ended", "expired", "forbidden", "error")}

    disrupt(api)
    edit_document(api, add_site("edge-1"))  # while the service is between watches
    waited = wait_served(service, "edge-1", timeout=3.0)
    assert waited is not None, f"a change made while re-watching was lost; logs:\n{redact(service.logs)}"
    wait_for_watch(service)
    if api.faults():
        assert "edge-early" in names(served(service), "contexts")

    moved = {name: restarts(service, name) - counts[name] for name in counts}
    assert moved == {name: counted.get(name, 0) for name in counts}, moved
    calls = lists_and_watches(api)
    listed = [call for call in calls if "watch=true" not in call["query"]]
    assert bool(listed) == relists, calls
    state = watch_state(service)
    assert state["state"] == "watching" and int(state["resourceVersion"]) >= int(api.get_configmap(
        NAMESPACE, CONFIGMAP)["metadata"]["resourceVersion"]), state
    assert (state.get("lastError") or {}).get("code") == error, state
    if error == "APIServerError":
        assert state["lastError"]["message"] == "etcdserver: leader changed", state

    # And the new watch carries the next change as promptly.
    edit_document(api, add_site("edge-2"))
    assert wait_served(service, "edge-2", timeout=1.0) is not None, redact(service.logs)
    assert service_writes(api) == []
    print(f"\nMEASURE {counted}: a change made while re-watching served after {waited:.2f} s")


def test_each_drop_of_a_watch_that_delivered_events_waits_only_the_initial_backoff(api, services):
    """A connection cut now and then (a load balancer, a restarted API server) after the watch
    worked is not a run of failures: each re-watch comes after the initial 0.8 s at most, as
    client-go's reflector resets its backoff once a watch has run."""
    service = watching(services)
    for round in range(3):
        served_before = api.watches_served()
        edit_document(api, add_site(f"edge-{round}"))
        assert wait_served(service, f"edge-{round}", timeout=5.0) is not None, redact(service.logs)
        drop(api)  # the watch had delivered that change
        assert wait_until(lambda: api.watches_served() > served_before and api.watch_count() == 1, 5) is not None
    retries = [int(line["retry_in_ms"]) for line in messages(service, "the watch ended with an error; watching again")]
    assert len(retries) == 3, redact(service.logs)
    assert max(retries) <= 800, f"backoff grew across drops of watches that delivered events: {retries} ms"


def test_a_server_that_ends_every_watch_at_once_is_not_asked_again_at_once(api, services):
    """Watches that end cleanly as soon as they start, with nothing delivered (an API server
    shedding load, a proxy), are re-watched with backoff, not in a tight loop."""
    service = watching(services)
    served_before, ended, started = api.watches_served(), 0, time.monotonic()
    while time.monotonic() - started < 2.0:
        try:
            api.wait_for_watches(1, path=LIST_PATH, timeout=0.2)
        except TimeoutError:
            continue
        ended += api.end_watches()
    watches = api.watches_served() - served_before
    # With the 0.8 s initial backoff, doubling: three or four in 2 s.
    assert watches <= 6, f"{watches} watches in 2 s, each ended at once ({ended} ended)"
    assert watch_state(service)["state"] in ("watching", "reconnecting")


# MARK: - The object deleted


def test_a_deleted_object_is_served_from_memory_and_published_into_once_back(api, services):
    service = watching(services)
    before = service.request("GET", "/kubeconfig")

    api.request("DELETE", CONFIGMAP_PATH, token=ADMIN_TOKEN)
    service.wait_log(DELETED, timeout=3)
    during = service.request("GET", "/kubeconfig")
    assert during.status == 200 and during.body == before.body and during.headers["ETag"] == before.headers["ETag"]
    assert watch_state(service)["objectDeleted"] is True
    assert metric(service, "kubeconfig_watch_events_total", type="deleted") == 1
    assert service.request("GET", "/readyz").status == 200
    assert service_writes(api) == []

    # Re-created by someone else, with a site of theirs: ours are written into it, theirs kept.
    other = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    add_site("edge-1")(other)
    created = api.request("POST", LIST_PATH, token=ADMIN_TOKEN, body={
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP, "namespace": NAMESPACE},
        "data": {"kubeconfig": yaml.safe_dump(other)}})
    assert created.status == 201, created
    service.wait_log(BACK, timeout=3)
    assert wait_until(lambda: ours_intact(stored_document(api), api), timeout=3) is not None, redact(service.logs)
    stored = stored_document(api)
    assert set(names(stored, "contexts")) == {"central", "edge-1"}
    assert watch_state(service)["objectDeleted"] is False
    assert wait_until(lambda: set(names(served(service), "contexts")) == {"central", "edge-1"}, timeout=2)
    time.sleep(1.0)
    assert len(service_writes(api)) == 1, service_writes(api)
    assert len(messages(service, DELETED)) == 1 and len(messages(service, BACK)) == 1


# MARK: - Replicas


def second_service_account_dir(api, tmp_path, token: str):
    """A copy of the mounted service-account folder holding another token of the same account,
    as a second pod of the Deployment would have."""
    folder = tmp_path / "second-pod"
    folder.mkdir()
    for name in ("ca.crt", "namespace"):
        shutil.copyfile(api.sa_dir / name, folder / name)
    (folder / "token").write_text(token)
    return folder


def test_two_replicas_with_one_token_repair_an_edit_without_ping_pong(api, services):
    first, second = watching(services), watching(services)
    api.wait_for_watches(2, path=LIST_PATH)
    api.requests(clear=True)

    edit_document(api, move_our_server)
    assert wait_until(lambda: ours_intact(stored_document(api), api), timeout=3) is not None
    time.sleep(1.5)
    writes = service_writes(api)
    assert 1 <= len(writes) <= 2, f"{len(writes)} writes for one edit"
    assert ours_intact(stored_document(api), api)
    for service in (first, second):
        assert wait_until(lambda: ours_intact(served(service), api), timeout=2) is not None
        assert messages(service, SLOWING) == []
    print(f"\nMEASURE two replicas, one edit: {len(writes)} write(s) in 1.5 s")


def test_replicas_publishing_different_pod_tokens_are_slowed_down_not_looped(api, services, tmp_path):
    """Each pod of a Deployment mounts a token of its own: two replicas each publish theirs, and
    each takes the other's write for drift."""
    other_token = api.create_token(NAMESPACE, "kubeconfig-service", expiration_seconds=3600)
    first = watching(services)
    second = watching(services, sa_dir=second_service_account_dir(api, tmp_path, other_token), secret=other_token)
    started = time.monotonic()

    slowed = wait_until(lambda: messages(first, SLOWING) or messages(second, SLOWING), timeout=15)
    assert slowed is not None, f"no slow-down; {len(service_writes(api))} writes"
    slowed_at = time.monotonic() - started
    writes_when_slowed = len(service_writes(api))
    time.sleep(2.5)
    later = len(service_writes(api)) - writes_when_slowed
    # Unslowed, both would write as fast as they see each other (tens of writes a second).
    assert later <= 6, f"{later} writes in the 2.5 s after the slow-down"
    total = len(service_writes(api))
    assert total <= 30, f"{total} writes in {time.monotonic() - started:.1f} s"
    print(f"\nMEASURE two pod tokens: slowed after {slowed_at:.1f} s, {writes_when_slowed} writes by then, "
          f"{later} in the next 2.5 s")


# MARK: - Forbidden


CHART_BEFORE_WATCH = [  # the Role before watch.enabled: get and patch the document, no list or watch
    {"group": "system:masters", "verbs": ["*"], "resources": ["*"]},
    {"user": SERVICE_USER, "verbs": ["get", "update", "patch"], "resources": ["configmaps"],
     "namespaces": [NAMESPACE], "resourceNames": [CONFIGMAP]},
]
LIST_NOT_WATCH = [
    {"group": "system:masters", "verbs": ["*"], "resources": ["*"]},
    {"user": SERVICE_USER, "verbs": ["get", "list", "update", "patch"], "resources": ["configmaps"],
     "namespaces": [NAMESPACE]},
]


@pytest.mark.parametrize("rules", [CHART_BEFORE_WATCH, LIST_NOT_WATCH], ids=["no-list-no-watch", "list-no-watch"])
def test_a_forbidden_watch_falls_back_to_the_refresh_pass(tmp_path, services, rules):
    api = KubeAPIServer(tmp_path / "rbac", config={"defaultRules": False, "rules": rules}).start()
    try:
        api.put_configmap(NAMESPACE, CONFIGMAP, {})
        service = services("--auth", "none", "--refresh-interval", "1", "--site-probe-interval", "0", api_server=api)
        service.wait_ready()
        service.wait_log(FALLBACK, timeout=5)
        state = watch_state(service)
        assert state["state"] == "fallback", state
        assert state["lastError"]["code"] and "forbidden" in state["lastError"]["message"], state

        edit_document(api, move_our_server)
        repaired = wait_until(lambda: ours_intact(stored_document(api), api), timeout=4)
        assert repaired is not None, f"the refresh pass did not repair; logs:\n{redact(service.logs)}"
        time.sleep(0.5)  # passes go on; the watch is not tried again before 300 s
        assert len(messages(service, FALLBACK)) == 1, redact(service.logs)
        assert metric(service, "kubeconfig_watch_restarts_total", reason="forbidden") == 1
        refused = [call for call in lists_and_watches(api) if call["code"] == 403]
        assert len(refused) == 1, lists_and_watches(api)
        assert watch_state(service)["state"] == "fallback"
    finally:
        api.stop()


# MARK: - --no-watch


def test_no_watch_neither_lists_nor_watches(api, services):
    service = services(*QUIET, "--no-watch")
    service.wait_ready()
    assert "watch" not in status(service)
    edit_document(api, add_site("edge-1"))
    time.sleep(1.0)
    assert "edge-1" not in names(served(service), "contexts"), "served without a watch or a pass"
    assert lists_and_watches(api) == [], lists_and_watches(api)
    assert api.watches_served() == 0


# MARK: - The 1 MiB limit, and ?site=


def ca_bundle(api, size: int) -> str:
    """Base64 of a PEM bundle of the API server's CA certificate repeated to about `size` bytes."""
    pem = api.ca_file.read_bytes()
    return base64.b64encode(pem * max(1, size // len(pem))).decode()


def test_a_registration_over_the_objects_limit_is_refused_before_any_write(api, services):
    service = watching(services)
    bundle = ca_bundle(api, 44 * 1024)  # ~59 KiB of base64: a body under the 64 KiB request limit

    def fill(document: dict):  # another writer's sites: about 840 KiB
        for index in range(14):
            add_site(f"filler-{index:02d}")(document)
            entry(document, "clusters", f"filler-{index:02d}")["cluster"]["certificate-authority-data"] = bundle
    filled = edit_document(api, fill)
    assert wait_until(lambda: status(service)["resourceVersion"] == filled, 3) is not None, redact(service.logs)

    def register(name: str):
        body = json.dumps({"server": api.url, "certificateAuthorityData": bundle, "token": PLANTED + name})
        return service.request("PUT", f"/sites/{name}", headers={"Content-Type": "application/json"}, body=body)

    for index in range(10):
        before = api.get_configmap(NAMESPACE, CONFIGMAP)
        writes = len(service_writes(api))
        answer = register(f"big-{index:02d}")
        if answer.status != 201:
            break
    else:
        pytest.fail("10 more sites of ~60 KiB each, on top of ~840 KiB, were all accepted")
    assert answer.status == 413, redact(answer.text)
    error = load_json(answer.body)["error"]
    assert error["code"] == "DocumentTooLarge", error
    size, room = [int(word) for word in error["message"].replace(",", " ").split() if word.isdigit()][:2]
    assert size > room and str(MIB) in error["message"] and "bytes" in error["message"], error["message"]
    stored_size = len(before["data"]["kubeconfig"].encode())
    assert room > stored_size > MIB - 2 * len(bundle), (room, stored_size)  # refused at the limit, not before
    after = api.get_configmap(NAMESPACE, CONFIGMAP)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    unchanged = after["data"] == before["data"]
    assert unchanged and len(service_writes(api)) == writes, "the refused registration was written"
    assert f"big-{index:02d}".encode() not in service.request("GET", "/kubeconfig").body
    assert service.request("GET", f"/sites/big-{index:02d}").status == 404
    # A small site still fits.
    small = json.dumps({"server": api.url, "certificateAuthorityData": ca_bundle(api, 1), "token": PLANTED + "s"})
    assert service.request("PUT", "/sites/small", headers={"Content-Type": "application/json"},
                           body=small).status == 201
    print(f"\nMEASURE {index} sites of {len(bundle)} bytes of CA fit after the fillers; refused: {error['message']}")


def test_a_single_site_has_its_own_etag_and_answers_304(api, services):
    service = watching(services)
    edit_document(api, add_site("edge-1"))
    assert wait_served(service, "edge-1") is not None
    whole = service.request("GET", "/kubeconfig").headers["ETag"]
    central = service.request("GET", "/kubeconfig?site=central")
    edge = service.request("GET", "/kubeconfig?site=edge-1")
    assert central.status == 200 and edge.status == 200
    tags = {central.headers.get("ETag"), edge.headers.get("ETag"), whole}
    assert None not in tags and len(tags) == 3, tags
    assert names(load(central.body), "contexts") == ["central"]
    as_json = service.request("GET", "/kubeconfig?site=central", headers={"Accept": "application/json"})
    assert as_json.status == 200 and as_json.headers["ETag"] != central.headers["ETag"]

    again = service.request("GET", "/kubeconfig?site=central", headers={"If-None-Match": central.headers["ETag"]})
    assert again.status == 304 and again.body == b"" and again.headers["ETag"] == central.headers["ETag"]
    json_again = service.request("GET", "/kubeconfig?site=central",
                                 headers={"Accept": "application/json", "If-None-Match": as_json.headers["ETag"]})
    assert json_again.status == 304
    assert service.request("GET", "/kubeconfig?site=edge-1",
                           headers={"If-None-Match": central.headers["ETag"]}).status == 200

    # edge-1 changed by its writer: its tag changes, the old one no longer matches.
    edit_document(api, lambda document: entry(document, "clusters", "edge-1")["cluster"].update(
        server="https://edge-1.example:7443"))
    changed = wait_until(lambda: service.request("GET", "/kubeconfig?site=edge-1",
                                                 headers={"If-None-Match": edge.headers["ETag"]}).status == 200, 2)
    assert changed is not None, "?site=edge-1 still 304 after edge-1 changed"
    assert service.request("GET", "/kubeconfig?site=edge-1").headers["ETag"] != edge.headers["ETag"]


# MARK: - A Secret holds the document


SECRET = "multisite-kubeconfig-secret"
SECRET_RULES = [
    {"group": "system:masters", "verbs": ["*"], "resources": ["*"]},
    # The chart's Role in Secret mode: the one Secret, by name.
    {"user": SERVICE_USER, "verbs": ["get", "list", "watch", "patch"], "resources": ["secrets"],
     "namespaces": [NAMESPACE], "resourceNames": [SECRET]},
]


def test_a_secret_holding_the_document_is_watched_and_repaired_by_name(tmp_path, services):
    api = KubeAPIServer(tmp_path / "secret", config={"defaultRules": False, "rules": SECRET_RULES}).start()
    try:
        api.put_secret(NAMESPACE, SECRET, {})
        service = services(*QUIET, "--secret", SECRET, api_server=api)
        service.wait_ready()
        assert wait_until(lambda: watch_state(service).get("state") == "watching", 10) is not None, \
            f"watch state {watch_state(service)}; logs:\n{redact(service.logs)}"
        path = f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}"
        secret = api.get_secret(NAMESPACE, SECRET)
        document = yaml.safe_load(secret["data"]["kubeconfig"])  # the driver decodes the base64
        entry(document, "clusters", "central")["cluster"]["server"] = ELSEWHERE
        patch = {"metadata": {"resourceVersion": secret["metadata"]["resourceVersion"]},
                 "data": {"kubeconfig": base64.b64encode(yaml.safe_dump(document).encode()).decode()}}
        api.requests(clear=True)
        answer = api.request("PATCH", path, patch, token=ADMIN_TOKEN, content_type="application/merge-patch+json")
        assert answer.status == 200, redact(repr(answer))

        def stored() -> dict:
            return yaml.safe_load(api.get_secret(NAMESPACE, SECRET)["data"]["kubeconfig"])

        repaired = wait_until(lambda: ours_intact(stored(), api), timeout=3)
        assert repaired is not None and repaired < 2.0, f"not repaired; logs:\n{redact(service.logs)}"
        writes = [call for call in api.requests() if call["path"] == path and call["user"] == SERVICE_USER
                  and call["method"] == "PATCH"]
        assert len(writes) == 1, writes
        watches = [call for call in api.requests() if call["path"] == f"/api/v1/namespaces/{NAMESPACE}/secrets"]
        assert all(call["code"] != 403 for call in watches), watches
    finally:
        api.stop()
