"""Faults of the API server, and several writers of one ConfigMap (issue 3).

Retries: 429 (Retry-After honoured), 5xx, refused and reset connections and timeouts are
retried with exponential backoff and jitter, within a bound of about 30 s after which the last
cause is reported; 400/401/403/404/422 are tried once; a 409 starts again from a fresh read that
keeps what the concurrent writer added. Concurrent callers share one publication (single
flight), and two processes publishing different sites into one ConfigMap converge.

Most tests run `serve --auth none --refresh-interval 0`: after its start-up publication nothing
runs in the background, so the API server's request log holds only what a test triggered.

Run: KUBECONFIG_SERVICE_BIN=... python3 -m pytest -q Tests/e2e/test_faults.py
"""

from __future__ import annotations

import datetime
import json
import threading
import time

import pytest

from kubeapi import ADMIN_TOKEN
from loopback import wait_until
from support import CONFIGMAP, CONFIGMAP_PATH, NAMESPACE, configmap_calls, names, run_publish, stored_document

GIVE_UP_BOUND = 35.0  # "gives up within about 30 s": 30 s budget plus one request's slack


# MARK: - Helpers


def started(serve, *args):
    """`serve` that publishes once at start-up and then only on request (no refresh pass, no
    watch: test_document_watch.py covers what the watch repairs); request log emptied."""
    service = serve("--auth", "none", "--refresh-interval", "0", "--no-watch", *args)
    service.wait_ready()
    service.api.requests(clear=True)
    return service


def wait_calls(api, method: str, count: int, timeout: float = 10.0) -> list[dict]:
    """Polls the request log until it holds `count` calls of `method` (delayed calls are logged late)."""
    wait_until(lambda: len(configmap_calls(api, method)) >= count, timeout)
    return configmap_calls(api, method)


def when(entry: dict) -> float:
    return datetime.datetime.fromisoformat(entry["time"]).timestamp()


def gaps(entries: list[dict]) -> list[float]:
    times = sorted(when(entry) for entry in entries)
    return [later - earlier for earlier, later in zip(times, times[1:])]


def publish(service, timeout: float = 60.0):
    started_at = time.monotonic()
    answer = service.request("POST", "/sites/central", timeout=timeout)
    return answer, time.monotonic() - started_at


def assert_json_error(answer, statuses):
    assert answer.status in statuses, answer
    assert answer.headers.get("Content-Type", "").startswith("application/json"), answer.headers
    error = answer.json()["error"]
    assert error["code"] and error["message"], error
    return error


# MARK: - Retried faults


@pytest.mark.parametrize("plain_text", [False, True], ids=["status-body", "header-only"])
def test_429_is_retried_after_the_retry_after_delay(serve, api, plain_text):
    """429 with Retry-After: 2 → the next attempt waits at least 2 s (header alone suffices)."""
    service = started(serve)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=429, retryAfter=2, count=1,
                  plainText=plain_text)
    answer, _ = publish(service)
    assert answer.status == 200, answer
    calls = configmap_calls(api, "GET")
    assert [call["code"] for call in calls] == [429, 200], calls
    waited = gaps(calls)[0]
    assert 1.9 <= waited <= 4.0, f"the retry came {waited:.2f} s after the 429 with Retry-After: 2"


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_server_errors_are_retried(serve, api, code):
    service = started(serve)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=code, count=2)
    answer, elapsed = publish(service)
    assert answer.status == 200, answer
    assert answer.json()["site"] == "central"
    assert [call["code"] for call in configmap_calls(api, "GET")] == [code, code, 200]
    assert elapsed < 10, f"two retries took {elapsed:.1f} s"


def test_reset_connections_are_retried(serve, api):
    """The API server closes the connection without an answer, twice."""
    service = started(serve)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="drop", count=2)
    answer, _ = publish(service)
    assert answer.status == 200, answer
    calls = configmap_calls(api, "GET")
    assert [call["fault"] for call in calls if call["fault"]] == ["drop", "drop"], calls
    assert calls[-1]["code"] == 200, calls


def test_refused_connections_are_retried_until_the_api_server_is_back(serve, api):
    """The listener is closed for 1.5 s: the publication waits it out and succeeds."""
    service = started(serve)
    api.down(seconds=1.5)
    answer, elapsed = publish(service)
    assert answer.status == 200, answer
    recovery = elapsed - 1.5
    print(f"\nMEASURE recovery after the API server came back (publication retrying): {recovery:.2f} s")
    assert recovery < 5.0, f"the publication succeeded {recovery:.1f} s after the API server was back"
    assert configmap_calls(api, "GET")[-1]["code"] == 200


def test_timeouts_are_retried(serve, api):
    """A GET answered after 3 s with --api-timeout 1 times out on our side and is tried again."""
    service = started(serve, "--api-timeout", "1")
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="delay", seconds=3, count=1)
    answer, elapsed = publish(service)
    assert answer.status == 200, answer
    assert 0.9 <= elapsed < 3.0, f"POST took {elapsed:.2f} s: the 1 s timeout did not cut the slow GET"
    calls = wait_calls(api, "GET", 2)  # the slow one is logged when the server finally answers it
    assert sorted(call["fault"] or "" for call in calls) == ["", "delay"], calls


def test_backoff_grows_exponentially(serve, api):
    """Four 503s in a row: the later waits are longer than the first ones, never a hot loop."""
    service = started(serve)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=503, count=4)
    answer, _ = publish(service)
    assert answer.status == 200, answer
    calls = configmap_calls(api, "GET")
    assert len(calls) == 5, calls
    waits = gaps(calls)
    assert min(waits) >= 0.05, f"waits between attempts {waits}: no backoff"
    assert waits[2] + waits[3] > 1.5 * (waits[0] + waits[1]), f"waits between attempts {waits} do not grow"
    assert max(waits) <= 10, f"waits between attempts {waits}: not capped"


def test_backoff_has_jitter(serve, api):
    """The same fault sequence twice: without jitter both wait sequences would match to the ms."""
    service = started(serve)
    sequences = []
    for _ in range(2):
        api.requests(clear=True)
        api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=503, count=4)
        answer, _ = publish(service)
        assert answer.status == 200, answer
        sequences.append(gaps(configmap_calls(api, "GET")))
    differences = [abs(a - b) for a, b in zip(*sequences)]
    assert len(differences) == 4, sequences
    assert max(differences) > 0.025, f"identical waits in two runs {sequences}: no jitter"


# MARK: - Not retried


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(serve, api, code):
    service = started(serve)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="status", code=code, count=-1)
    answer, elapsed = publish(service)
    assert_json_error(answer, range(400, 600))
    assert answer.status != 200
    time.sleep(0.5)  # a retry, if one were coming, comes within the first backoff step (<= 0.2 s)
    calls = configmap_calls(api, "GET")
    assert len(calls) == 1, f"{len(calls)} attempts after a {code}: {[call['code'] for call in calls]}"
    assert elapsed < 3, f"a {code} took {elapsed:.1f} s to report"


# MARK: - Giving up


def test_publication_gives_up_within_the_bound_while_the_api_server_is_down(serve, api):
    """POST while the API server is down: 502/503/504 with the JSON error naming the last cause,
    within about 30 s; once the server is back the next POST succeeds."""
    service = started(serve)
    api.down()
    answer, elapsed = publish(service, timeout=GIVE_UP_BOUND + 15)
    print(f"\nMEASURE give-up with the API server down (POST to answer): {elapsed:.2f} s")
    error = assert_json_error(answer, (502, 503, 504))
    assert elapsed <= GIVE_UP_BOUND, f"gave up after {elapsed:.1f} s"
    assert elapsed >= 5, f"gave up after {elapsed:.1f} s: it hardly retried"
    assert error["code"] == "APIServerUnreachable", error
    assert "reach" in error["message"] or "refused" in error["message"].lower(), error
    status = service.request("GET", "/status").json()
    assert status["lastError"]["code"] == "APIServerUnreachable", status

    api.up()
    started_at = time.monotonic()
    answer = service.request("POST", "/sites/central", timeout=GIVE_UP_BOUND + 15)
    recovery = time.monotonic() - started_at
    print(f"MEASURE first POST after the API server is back: {recovery:.2f} s")
    assert answer.status == 200, answer
    # One publication takes ~50 ms; the next attempt must not wait for a stale connection backoff.
    assert recovery < 2, f"first POST after the API server came back took {recovery:.1f} s"


def test_serve_started_while_the_api_server_is_down_publishes_once_it_is_back(serve, api):
    api.down()
    service = serve("--auth", "none", "--refresh-interval", "0")
    answer = service.request("GET", "/healthz")
    assert_json_error(answer, (503,))
    api.up()
    back = time.monotonic()
    service.wait_ready(timeout=15)
    print(f"\nMEASURE serve's first publication after the API server came back: {time.monotonic() - back:.2f} s")
    assert time.monotonic() - back < 8
    assert "central" in set(names(stored_document(api), "clusters"))


# MARK: - Conflicts


def test_conflict_is_retried_from_a_fresh_read_keeping_the_other_writer(serve, api):
    service = started(serve)
    api.put_configmap(NAMESPACE, CONFIGMAP, {})  # our entries gone: the next publication writes
    other_site = {
        "key": "kubeconfig",
        "clusters": [{"name": "edge1", "cluster": {"server": "https://edge1.example:6443"}}],
        "users": [{"name": "user01", "user": {"token": "edge1-token"}}],
        "contexts": [{"name": "edge1", "context": {"cluster": "edge1", "user": "user01"}}],
    }
    api.add_fault(method="PATCH", path=CONFIGMAP_PATH, action="conflict", count=1,
                  data={"written-by": "the-other-writer"}, kubeconfig=other_site)
    api.requests(clear=True)
    answer, _ = publish(service)
    assert answer.status == 200, answer
    assert answer.json()["changed"] is True
    patches = configmap_calls(api, "PATCH")
    assert [patch["code"] for patch in patches] == [409, 200], patches
    assert len(configmap_calls(api, "GET")) == 2, "the retry did not start from a fresh read"
    stored = api.get_configmap(NAMESPACE, CONFIGMAP)
    assert stored["data"].get("written-by") == "the-other-writer", "the concurrent writer's key was lost"
    document = stored_document(api)
    assert set(names(document, "clusters")) == {"central", "edge1"}
    assert set(names(document, "users")) == {"user00", "user01"}
    assert set(names(document, "contexts")) == {"central", "edge1"}


@pytest.mark.parametrize("caller", ["publish", "serve --auth none", "serve --auth kubernetes"])
def test_endless_conflicts_give_up_after_several_rounds(serve, api, caller):
    """Every PATCH meets a concurrent writer first (a real 409). Each round starts from a fresh
    read; after several rounds, within the bound, `publish` exits non-zero naming the ConfigMap
    and `serve` answers 502 or 503 with its JSON error."""
    if caller != "publish":
        # Without the watch, which would repair the emptied ConfigMap on its own.
        service = serve("--auth", caller.split()[-1], "--refresh-interval", "0", "--no-watch")
        service.wait_ready()
        api.put_configmap(NAMESPACE, CONFIGMAP, {})  # our entries gone: the next publication writes
    api.add_fault(method="PATCH", path=CONFIGMAP_PATH, action="conflict", count=-1)
    api.requests(clear=True)
    if caller == "publish":
        started_at = time.monotonic()
        run = run_publish(api)
        elapsed = time.monotonic() - started_at
        assert run.returncode != 0, f"publish succeeded but should not have: {run.stdout}"
        assert f"{NAMESPACE}/{CONFIGMAP}" in run.stderr
    else:
        token = ADMIN_TOKEN if caller.endswith("kubernetes") else None
        started_at = time.monotonic()
        answer = service.request("POST", "/sites/central", token=token, timeout=60)
        elapsed = time.monotonic() - started_at
        error = assert_json_error(answer, (502, 503))
        assert set(answer.json()) == {"error"} and set(error) == {"code", "message"}, answer
        assert isinstance(error["code"], str) and isinstance(error["message"], str), error
    assert elapsed < GIVE_UP_BOUND
    patches = configmap_calls(api, "PATCH")
    assert 5 <= len(patches) <= 30 and all(patch["code"] == 409 for patch in patches), patches
    assert len(configmap_calls(api, "GET")) == len(patches), "each round must start from a fresh read"


# MARK: - Single flight


@pytest.mark.parametrize("auth", ["none", "kubernetes"])
def test_simultaneous_posts_share_one_publication(serve, api, auth):
    """Twenty POSTs while the ConfigMap GET is slow: one or two GETs, twenty equal answers."""
    service = serve("--auth", auth, "--refresh-interval", "0")
    service.wait_ready()
    token = None
    if auth == "kubernetes":
        token = ADMIN_TOKEN
        assert service.request("POST", "/sites/central", token=token).status == 200  # warms the review cache
    api.requests(clear=True)
    api.add_fault(method="GET", path=CONFIGMAP_PATH, action="delay", seconds=1.0, count=1)
    barrier = threading.Barrier(20)
    answers: list = [None] * 20

    def call(index):
        barrier.wait(5)
        answers[index] = service.request("POST", "/sites/central", token=token, timeout=30)

    threads = [threading.Thread(target=call, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    assert all(answer is not None and answer.status == 200 for answer in answers), answers
    assert len({answer.body for answer in answers}) == 1, {answer.body for answer in answers}
    gets = configmap_calls(api, "GET")
    assert 1 <= len(gets) <= 2, f"{len(gets)} GETs of the ConfigMap for 20 simultaneous POSTs"
    # TokenReviews and SubjectAccessReviews (not the site probe's SelfSubjectReviews).
    reviews = [entry for entry in api.requests()
               if entry["path"].endswith(("/tokenreviews", "/subjectaccessreviews"))]
    assert not reviews, f"{len(reviews)} access reviews despite a warm cache"


# MARK: - Several writers


def test_two_replicas_with_different_sites_converge_without_write_loops(serve, api):
    """Both read the same version (their PATCHes are held 2 s), so one of them conflicts; in the
    end both sites are present and periodic passes stop writing."""
    api.add_fault(method="PATCH", path=CONFIGMAP_PATH, action="delay", seconds=2, count=2)
    central = serve("--auth", "none", "--refresh-interval", "1")
    edge = serve("--auth", "none", "--refresh-interval", "1", "-l", "edge", "-u", "user01")
    central.wait_ready(timeout=30)
    edge.wait_ready(timeout=30)

    wait_until(lambda: set(names(stored_document(api), "clusters")) == {"central", "edge"}, timeout=20)
    document = stored_document(api)
    assert set(names(document, "clusters")) == {"central", "edge"}, "a site was lost"
    assert set(names(document, "users")) == {"user00", "user01"}
    assert set(names(document, "contexts")) == {"central", "edge"}
    codes = [patch["code"] for patch in configmap_calls(api, "PATCH")]
    assert 409 in codes, f"the two first writes did not race (PATCH codes {codes})"

    version = api.get_configmap(NAMESPACE, CONFIGMAP)["metadata"]["resourceVersion"]
    api.requests(clear=True)
    gets = wait_calls(api, "GET", 8, timeout=15)  # about four passes of each replica
    assert len(gets) >= 8, "the replicas stopped their periodic passes"
    writes = [entry for entry in configmap_calls(api) if entry["method"] != "GET"]
    assert not writes, f"{len(writes)} writes after convergence: a write loop"
    assert api.get_configmap(NAMESPACE, CONFIGMAP)["metadata"]["resourceVersion"] == version


def test_serve_and_a_publish_run_keep_each_others_entries(serve, api):
    central = serve("--auth", "none", "--refresh-interval", "1")
    central.wait_ready()
    run = run_publish(api, "-l", "edge", "-u", "user01", "--log-format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["changed"] is True
    # serve's next passes keep the edge entries and write nothing.
    api.requests(clear=True)
    assert len(wait_calls(api, "GET", 3, timeout=10)) >= 3
    assert not [entry for entry in configmap_calls(api) if entry["method"] != "GET"]
    document = stored_document(api)
    assert set(names(document, "clusters")) == {"central", "edge"}
    assert set(names(document, "users")) == {"user00", "user01"}
    again = run_publish(api, "-l", "edge", "-u", "user01")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changed"] is False
