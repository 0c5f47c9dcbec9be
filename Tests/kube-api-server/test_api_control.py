"""The control API's faults (status, delay, drop, conflict), the request log, kubelet-style token
rotation, and identities added at run time."""

import http.client
import json
import os
import ssl
import time

import pytest
import yaml
from apitests import SA_USER, SEED, conflict_message, get_seed, patch, status


# MARK: - Faults


def test_status_fault_answers_count_times(api):
    api.add_fault(method="GET", path=SEED, action="status", code=503, count=2)
    codes = [api.request("GET", SEED, token=api.token).status for _ in range(3)]
    assert codes == [503, 503, 200]


def test_status_fault_body_is_a_status_with_the_reason(api):
    api.add_fault(path=SEED, action="status", code=504)
    answer = api.request("GET", SEED, token=api.token)
    assert answer.json() == status(504, "Timeout", "Timeout: request did not complete within the allotted timeout")


def test_too_many_requests_carries_retry_after(api):
    api.add_fault(path=SEED, action="status", code=429, retryAfter=2)
    answer = api.request("GET", SEED, token=api.token)
    assert answer.status == 429 and answer.headers["Retry-After"] == "2"
    assert answer.json() == status(429, "TooManyRequests", "Too many requests, please try again later.",
                                   {"retryAfterSeconds": 2})


def test_plain_text_fault_is_like_the_max_in_flight_filter(api):
    api.add_fault(path=SEED, action="status", code=429, retryAfter=1, plainText=True)
    answer = api.request("GET", SEED, token=api.token)
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.body == b"Too many requests, please try again later.\n"


def test_faults_match_on_method_and_regex(api):
    api.add_fault(method="PUT", pathRegex=r"/configmaps/se+d$", action="status", code=500, count=-1)
    assert api.request("GET", SEED, token=api.token).status == 200
    seed = get_seed(api)
    assert api.request("PUT", SEED, seed, token=api.token).status == 500
    assert api.request("PUT", SEED, seed, token=api.token).status == 500  # count -1: forever
    api.clear_faults()
    assert api.request("PUT", SEED, seed, token=api.token).status == 200


def test_delay_fault_delays_then_answers(api):
    api.add_fault(path=SEED, action="delay", seconds=0.4)
    started = time.monotonic()
    assert api.request("GET", SEED, token=api.token).status == 200
    assert time.monotonic() - started >= 0.4


def test_drop_fault_closes_the_connection_without_an_answer(api):
    api.add_fault(path=SEED, action="drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        api.request("GET", SEED, token=api.token)
    assert api.request("GET", SEED, token=api.token).status == 200
    assert [(entry["fault"], entry["code"]) for entry in api.requests()] == [("drop", None), (None, 200)]


def test_conflict_fault_makes_a_conditional_write_stale(api):
    seed = get_seed(api)
    api.add_fault(method="PUT", path=SEED, action="conflict")
    answer = api.request("PUT", SEED, {**seed, "data": {"mine": "1"}}, token=api.token)
    assert answer.status == 409 and answer.json()["message"] == conflict_message("seed")
    fresh = get_seed(api)
    assert "concurrent-writer" in fresh["data"]
    retried = api.request("PUT", SEED, {**fresh, "data": {**fresh["data"], "mine": "1"}}, token=api.token)
    assert retried.status == 200


def test_conflict_fault_can_add_kubeconfig_entries(api):
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "a", "cluster": {"server": "https://a"}}]}
    seed = api.put_configmap("onap", "seed", {"config": yaml.safe_dump(kubeconfig)})
    entry = {"name": "b", "cluster": {"server": "https://b"}}
    api.add_fault(method="PATCH", path=SEED, action="conflict", kubeconfig={"key": "config", "clusters": [entry]})
    precondition = {"metadata": {"resourceVersion": seed["metadata"]["resourceVersion"]}, "data": {"x": "1"}}
    assert patch(api, precondition, "application/merge-patch+json").status == 409
    written = yaml.safe_load(get_seed(api)["data"]["config"])
    assert [cluster["name"] for cluster in written["clusters"]] == ["a", "b"]


def test_unknown_fault_action_is_refused(api):
    with pytest.raises(RuntimeError, match="400"):
        api.add_fault(action="explode")


# MARK: - Request log, token rotation, identities


def test_request_log_records_calls_but_no_tokens(api):
    api.request("GET", SEED, token=api.token)
    api.request("GET", SEED, token="secret-but-wrong")
    log = api.requests(clear=True)
    assert [(e["method"], e["path"], e["user"], e["code"]) for e in log] == [
        ("GET", SEED, SA_USER, 200), ("GET", SEED, None, 401)]
    assert api.token not in json.dumps(log) and "secret-but-wrong" not in json.dumps(log)
    assert api.requests() == []


def test_rotate_token_swaps_the_data_link_and_keeps_the_old_token_valid(api):
    old_token, old_dir = api.token, os.readlink(api.sa_dir / "..data")
    new_token = api.rotate_token()
    assert api.token == new_token != old_token
    assert os.readlink(api.sa_dir / "..data") != old_dir and not (api.sa_dir / old_dir).exists()
    assert api.request("GET", SEED, token=new_token).status == 200
    assert api.request("GET", SEED, token=old_token).status == 200


def test_rotate_token_can_invalidate_the_old_token(api):
    old_token = api.token
    api.rotate_token(invalidate_old=True)
    assert api.request("GET", SEED, token=old_token).status == 401
    assert api.request("GET", SEED, token=api.token).status == 200


def test_reset_drops_run_time_identities(api):
    token = api.add_identity("temporary", rules=[{"verbs": ["get"], "resources": ["configmaps"]}])
    assert api.request("GET", SEED, token=token).status == 200
    api.reset()
    assert api.request("GET", SEED, token=token).status == 401
