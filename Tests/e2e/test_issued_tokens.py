"""Issued credentials end to end: `--token-service-account` publishes a token the TokenRequest API
issued for the consumer's account, renews it at 80 % of the lifetime the API server granted,
keeps several replicas converging without a leader, and `--secret` keeps the document in a
Secret. The API test server caps token lifetimes to seconds, so renewals happen during the test.

Tokens are compared as booleans or fingerprints, never shown.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import threading
import time

import pytest
import yaml

from kubeapi import ADMIN_TOKEN, READER_TOKEN, KubeAPIServer
from loopback import KUBECTL, Service, wait_until
from redaction import load_json, redact
from support import CONFIGMAP, CONFIGMAP_PATH, NAMESPACE, claims, run_publish, token_fingerprint

CONSUMER = "cloudify"
CONSUMER_USER = f"system:serviceaccount:{NAMESPACE}:{CONSUMER}"
SERVICE_USER = f"system:serviceaccount:{NAMESPACE}:kubeconfig-service"
SECRET = "multisite-kubeconfig"
ANNOTATION = "kubeconfig-service.onap.org/token.central"
ISSUE = ["--token-service-account", CONSUMER]

# The service may create tokens for the consumer's account, by name; the consumer may read
# ConfigMaps, so that real clients have something to read with the published token.
RULES = [
    {"user": SERVICE_USER, "verbs": ["create"], "resources": ["serviceaccounts/token"], "namespaces": [NAMESPACE],
     "resourceNames": [CONSUMER]},
    {"user": SERVICE_USER, "verbs": ["get", "patch"], "resources": ["secrets"], "namespaces": [NAMESPACE],
     "resourceNames": [SECRET]},
    {"user": CONSUMER_USER, "verbs": ["get"], "resources": ["configmaps"], "namespaces": [NAMESPACE]},
]


def start_api(path, rules=RULES, **config) -> KubeAPIServer:
    server = KubeAPIServer(path, config={"serviceAccounts": [{"namespace": NAMESPACE, "name": CONSUMER}],
                                         "rules": rules, **config}).start()
    server.put_configmap(NAMESPACE, CONFIGMAP, {})
    return server


@pytest.fixture
def issuing_api(tmp_path):
    """An API server where the consumer's account exists and the service may issue its tokens."""
    server = start_api(tmp_path / "api")
    yield server
    server.stop()


@pytest.fixture
def replicas(issuing_api):
    """Starts `serve` replicas against `issuing_api`; all stopped after the test."""
    started: list[Service] = []

    def start(*args) -> Service:
        service = Service(issuing_api, *ISSUE, *args).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


# MARK: - Helpers


def stored_token(api) -> str | None:
    """The token of our user entry in the ConfigMap."""
    text = ((api.get_configmap(NAMESPACE, CONFIGMAP) or {}).get("data") or {}).get("kubeconfig") or ""
    users = (yaml.safe_load(text) or {}).get("users") or []
    return next((user.get("user", {}).get("token") for user in users if user.get("name") == "user00"), None)


def record(api) -> dict:
    """Our annotation on the ConfigMap: the record every replica renews by."""
    annotations = (api.get_configmap(NAMESPACE, CONFIGMAP) or {}).get("metadata", {}).get("annotations") or {}
    return json.loads(annotations[ANNOTATION])


def who(api, token: str) -> str | None:
    """Who the API server says `token` is (TokenReview by the admin), None when it is not valid."""
    answer = api.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", token=ADMIN_TOKEN,
                         body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                               "spec": {"token": token}})
    status = answer.json().get("status") or {}
    return status.get("user", {}).get("username") if status.get("authenticated") else None


def request_times(api) -> list[float]:
    """When the consumer's tokens were requested, as epoch seconds, oldest first."""
    return [datetime.datetime.fromisoformat(entry["time"]).timestamp()
            for entry in api.token_requests(NAMESPACE, CONSUMER) if entry["code"] == 201]


def document_writes(api) -> list[dict]:
    return [entry for entry in api.requests()
            if entry["path"] == CONFIGMAP_PATH and entry["method"] == "PATCH" and entry["code"] == 200]


def status(service) -> dict:
    return load_json(service.request("GET", "/status", token=ADMIN_TOKEN).body)


def kubectl_reads(kubeconfig_text: str, tmp_path, context="central") -> bool:
    """Whether kubectl, given the document, reads the ConfigMap through `context`."""
    path = tmp_path / f"kubeconfig-{time.monotonic_ns()}"
    path.write_text(kubeconfig_text)
    result = subprocess.run([KUBECTL, "--kubeconfig", str(path), "--context", context, "get", "--raw",
                             CONFIGMAP_PATH], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, f"kubectl failed: {redact(result.stderr)}"
    return json.loads(result.stdout)["metadata"]["name"] == CONFIGMAP


class Sampler:
    """Samples the stored token in the background: which tokens were stored, when each first
    appeared, and whether every sample authenticated as the consumer."""

    def __init__(self, api, interval=0.2):
        self.api, self.interval = api, interval
        self.first_seen: dict[str, float] = {}
        self.order: list[str] = []
        self.invalid_samples = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            try:
                self._sample()
            except OSError:
                pass  # the API server is down: no sample
            self._stop.wait(self.interval)

    def _sample(self):
        token = stored_token(self.api)
        if token is not None:
            self.samples += 1
            if token not in self.first_seen:
                self.first_seen[token] = time.time()
                self.order.append(token)
            elif self.order[-1] != token:
                self.order.append(token)  # an older token came back: flapping
            if who(self.api, token) != CONSUMER_USER:
                self.invalid_samples += 1


def assert_no_token_leaks(tokens, *texts):
    for token in tokens:
        leaked = any(token in text for text in texts)
        assert not leaked, f"the token with fingerprint {token_fingerprint(token)} appeared in an answer or a log"


# MARK: - The issued token


def test_the_published_token_is_issued_for_the_consumer_and_real_clients_use_it(issuing_api, replicas, tmp_path):
    service = replicas()
    service.wait_ready()
    token = stored_token(issuing_api)
    is_consumer = who(issuing_api, token) == CONSUMER_USER
    assert is_consumer, "the published token does not authenticate as the consumer's account"
    not_ours = token != issuing_api.token
    assert not_ours, "the service published its own pod token"
    assert claims(token)["sub"] == CONSUMER_USER
    assert claims(token)["exp"] - claims(token)["iat"] == 3600

    published = record(issuing_api)
    assert published["fingerprint"] == token_fingerprint(token)
    assert published["serviceAccount"] == f"{NAMESPACE}/{CONSUMER}" and published["audiences"] == []
    assert datetime.datetime.fromisoformat(published["expiresAt"]).timestamp() == claims(token)["exp"]

    shown = status(service)
    assert shown["tokenSource"] == "TokenRequest" and shown["tokenSubject"] == CONSUMER_USER
    assert shown["tokenFingerprint"] == token_fingerprint(token)
    renews = datetime.datetime.fromisoformat(shown["tokenRenewsAt"]).timestamp() - claims(token)["iat"]
    assert 0.75 * 3600 <= renews <= 0.8 * 3600, renews  # each replica picks its point in that band

    # No TokenRequest per publication: POSTs reuse the stored token.
    for _ in range(3):
        answer = load_json(service.request("POST", "/sites/central", token=ADMIN_TOKEN).body)
        assert answer["changed"] is False and answer["tokenSource"] == "TokenRequest", answer
    assert len(request_times(issuing_api)) == 1
    assert len(document_writes(issuing_api)) == 1

    document = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).text
    assert kubectl_reads(document, tmp_path)
    from kubernetes import client, config
    path = tmp_path / "python-kubeconfig"
    path.write_text(document)
    api_client = config.new_client_from_config(config_file=str(path), context="central")
    try:
        read = client.CoreV1Api(api_client).read_namespaced_config_map(CONFIGMAP, NAMESPACE)
    finally:
        api_client.close()
    assert read.metadata.name == CONFIGMAP

    metrics = service.request("GET", "/metrics").text
    assert 'kubeconfig_token_requests_total{result="issued"} 1' in metrics.splitlines()
    expiry = [line for line in metrics.splitlines() if line.startswith("kubeconfig_token_expiry_timestamp_seconds ")]
    assert expiry and float(expiry[0].split()[1]) == pytest.approx(claims(token)["exp"], abs=1)
    assert_no_token_leaks([token], service.logs, metrics, json.dumps(shown), json.dumps(published))


def test_publish_once_prints_the_issued_tokens_expiry(issuing_api):
    result = run_publish(issuing_api, *ISSUE, "--token-expiration", "7200")
    assert result.returncode == 0, redact(result.stderr)
    printed = json.loads(result.stdout)
    token = stored_token(issuing_api)
    assert printed["tokenSource"] == "TokenRequest" and printed["changed"] is True
    expires = datetime.datetime.fromisoformat(printed["tokenExpiresAt"]).timestamp()
    assert expires == claims(token)["exp"] and claims(token)["exp"] - claims(token)["iat"] == 7200
    assert_no_token_leaks([token], result.stdout, result.stderr)

    again = json.loads(run_publish(issuing_api, *ISSUE).stdout)
    assert again["changed"] is False and again["tokenExpiresAt"] == printed["tokenExpiresAt"]
    assert len(request_times(issuing_api)) == 1


@pytest.mark.parametrize("seconds", ["599", "0", "soon"])
def test_a_lifetime_under_ten_minutes_is_refused_at_start(issuing_api, seconds):
    result = run_publish(issuing_api, *ISSUE, "--token-expiration", seconds)
    assert result.returncode != 0
    assert "--token-expiration" in result.stderr
    assert request_times(issuing_api) == []


def test_renewal_comes_at_three_quarters_to_four_fifths_of_a_capped_lifetime_without_refresh_passes(issuing_api, replicas,
                                                                                       tmp_path):
    issuing_api.set_max_token_expiration(10)
    with Sampler(issuing_api) as sampler:
        service = replicas("--refresh-interval", "0")
        service.wait_ready()
        for _ in range(2):  # kubectl reads through the entry just before and just after a renewal
            current = stored_token(issuing_api)
            time.sleep(max(0.0, claims(current)["iat"] + 7 - time.time()))
            assert kubectl_reads(service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).text, tmp_path)
            assert wait_until(lambda: stored_token(issuing_api) != current, timeout=5), service.logs
            assert kubectl_reads(service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).text, tmp_path)
        assert wait_until(lambda: len(request_times(issuing_api)) >= 4, timeout=20), service.logs
        assert wait_until(lambda: len(sampler.order) >= 4, timeout=3)
    tokens = sampler.order
    assert len(tokens) >= 4 and len(set(tokens)) == len(tokens), "tokens flapped"
    assert sampler.invalid_samples == 0, f"{sampler.invalid_samples} of {sampler.samples} samples were not valid"
    for previous, following in zip(tokens, tokens[1:]):
        lifetime = claims(previous)["exp"] - claims(previous)["iat"]
        assert lifetime == 10
        renewed_after = sampler.first_seen[following] - claims(previous)["iat"]
        # Between 75 % and 80 % (7.5 to 8 s), plus the sampling interval and some scheduling slack.
        assert 7.5 <= renewed_after <= 9.0, f"renewed {renewed_after:.2f} s into a {lifetime} s lifetime"
    times = request_times(issuing_api)
    intervals = [later - earlier for earlier, later in zip(times, times[1:])]
    # The claims' times are whole seconds, so a request may come up to 1 s sooner after the last.
    assert all(6.5 <= interval <= 9.0 for interval in intervals), intervals
    print("renewal intervals (s):", ", ".join(f"{interval:.2f}" for interval in intervals))
    assert len(document_writes(issuing_api)) == len(tokens)
    shown = json.dumps(status(service))
    assert_no_token_leaks(tokens, service.logs, shown, service.request("GET", "/metrics").text)


@pytest.mark.parametrize("count", [2, 3])
def test_replicas_converge_on_one_token_per_renewal_period(issuing_api, replicas, count):
    issuing_api.set_max_token_expiration(10)
    with Sampler(issuing_api) as sampler:
        services = [replicas("--refresh-interval", "1") for _ in range(count)]
        for service in services:
            service.wait_ready()
        assert wait_until(lambda: len(sampler.order) >= 4, timeout=40)
        time.sleep(1.5)  # a few refresh passes of every replica after the last renewal
    elapsed = time.time() - sampler.first_seen[sampler.order[0]]
    tokens = sampler.order
    assert len(set(tokens)) == len(tokens), "an older token came back: the replicas flapped"
    assert sampler.invalid_samples == 0, f"{sampler.invalid_samples} of {sampler.samples} samples were not valid"
    writes = document_writes(issuing_api)
    requested = request_times(issuing_api)
    # One write per issued token that reached the ConfigMap; a lost race mints, never writes.
    assert len(writes) == len(tokens), (len(writes), len(tokens))
    # One renewal per period (at least 7.5 s), not more: replicas that raced discard what they minted.
    assert len(tokens) <= elapsed / 7.5 + 1.5, (len(tokens), elapsed)
    assert len(tokens) <= len(requested) <= count * len(tokens), (len(requested), len(tokens))
    for service in services:
        assert status(service)["tokenFingerprint"] == token_fingerprint(stored_token(issuing_api)) or \
            wait_until(lambda: status(service)["tokenFingerprint"] == token_fingerprint(stored_token(issuing_api)),
                       timeout=3) is not None
    print(f"{count} replicas: {len(tokens)} tokens stored, {len(requested)} TokenRequests, {len(writes)} writes")


# MARK: - Failures


def test_a_missing_account_is_named_and_the_service_recovers_once_it_exists(issuing_api, replicas):
    issuing_api.delete_service_account(NAMESPACE, CONSUMER)
    service = replicas()
    assert wait_until(lambda: service.request("GET", "/healthz").status == 503 and
                      "ServiceAccountNotFound" in json.dumps(status(service)), timeout=10), service.logs
    answer = service.request("POST", "/sites/central", token=ADMIN_TOKEN)
    error = load_json(answer.body)["error"]
    assert answer.status == 502 and error["code"] == "ServiceAccountNotFound", answer
    assert f"serviceaccount {NAMESPACE}/{CONSUMER} not found" in error["message"]
    assert stored_token(issuing_api) is None

    issuing_api.add_service_account(NAMESPACE, CONSUMER)
    service.wait_ready(timeout=15)
    assert who(issuing_api, stored_token(issuing_api)) == CONSUMER_USER


def test_a_deleted_and_recreated_account_gets_a_new_token(issuing_api, replicas):
    service = replicas("--refresh-interval", "1")
    service.wait_ready()
    first = stored_token(issuing_api)
    issuing_api.delete_service_account(NAMESPACE, CONSUMER)
    # The next pass sees the token no longer authenticates; it cannot renew while the account is gone.
    assert wait_until(lambda: (status(service).get("renewalError") or {}).get("code") == "ServiceAccountNotFound",
                      timeout=10), service.logs
    unchanged = stored_token(issuing_api) == first
    assert unchanged, "a failed renewal must leave the stored token in place (there is no better one)"
    answer = service.request("GET", "/readyz")
    assert answer.status == 503 and "no longer authenticates" in answer.text, answer
    issuing_api.add_service_account(NAMESPACE, CONSUMER)
    assert wait_until(lambda: who(issuing_api, stored_token(issuing_api)) == CONSUMER_USER, timeout=15), service.logs
    service.wait_ready()
    assert "renewalError" not in status(service)


def test_a_token_altered_by_hand_is_put_back_without_a_new_token_request(issuing_api, replicas):
    service = replicas("--refresh-interval", "1")
    service.wait_ready()
    issued = stored_token(issuing_api)
    configmap = issuing_api.get_configmap(NAMESPACE, CONFIGMAP)
    document = yaml.safe_load(configmap["data"]["kubeconfig"])
    document["users"][0]["user"]["token"] = "pasted-by-hand"
    issuing_api.put_configmap(NAMESPACE, CONFIGMAP, {"kubeconfig": yaml.safe_dump(document)},
                              annotations=configmap["metadata"]["annotations"])
    assert wait_until(lambda: stored_token(issuing_api) == issued, timeout=10), service.logs
    assert len(request_times(issuing_api)) == 1


def test_audiences_are_asked_for_and_recorded(issuing_api):
    result = run_publish(issuing_api, *ISSUE, "--token-audience", "cloudify", "--token-audience", "vault")
    assert result.returncode == 0, redact(result.stderr)
    token = stored_token(issuing_api)
    assert sorted(claims(token)["aud"]) == ["cloudify", "vault"]
    assert record(issuing_api)["audiences"] == ["cloudify", "vault"]
    # The same audiences in another order are the same request: the stored token is kept.
    again = run_publish(issuing_api, *ISSUE, "--token-audience", "vault", "--token-audience", "cloudify")
    assert json.loads(again.stdout)["changed"] is False
    assert len(request_times(issuing_api)) == 1


def test_a_forbidden_token_request_names_the_right_needed(tmp_path):
    api = start_api(tmp_path / "api", rules=[])
    try:
        result = run_publish(api, *ISSUE)
    finally:
        api.stop()
    assert result.returncode == 1
    assert "TokenRequestForbidden" in result.stderr and "forbidden:" in result.stderr
    assert f"needs create on serviceaccounts/token for resourceNames [{CONSUMER}] in namespace {NAMESPACE}" \
        in result.stderr, redact(result.stderr)


def test_a_failed_renewal_keeps_the_token_until_it_expires_then_readiness_fails(issuing_api, replicas):
    issuing_api.set_max_token_expiration(20)
    service = replicas("--refresh-interval", "0")
    service.wait_ready()
    first = stored_token(issuing_api)
    expires = claims(first)["exp"]
    issuing_api.add_fault(method="POST", path=f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{CONSUMER}/token",
                          action="status", code=403, count=-1)
    assert wait_until(lambda: (status(service).get("renewalError") or {}).get("code") == "TokenRequestForbidden",
                      timeout=20), service.logs
    # Renewal fell due at 16 s and failed; the token is valid until 20 s: still ready, still in place.
    ready = service.request("GET", "/readyz").status
    valid = who(issuing_api, first) == CONSUMER_USER
    checked_in_time = time.time() < expires - 0.5
    assert checked_in_time, "the checks ran too late to say anything; the machine is overloaded"
    assert ready == 200 and valid and stored_token(issuing_api) == first
    assert wait_until(lambda: service.request("GET", "/readyz").status == 503, timeout=8)
    reason = load_json(service.request("GET", "/readyz").body)["error"]["message"]
    assert "the published token expired" in reason and "forbidden" in reason
    failed = [line for line in service.request("GET", "/metrics").text.splitlines()
              if line.startswith('kubeconfig_token_requests_total{result="failed"}')]
    assert failed and float(failed[0].split()[1]) >= 2, "failed renewals were not retried"
    warnings = [entry for entry in service.log_entries() if entry.get("msg") == "token request failed"
                and entry.get("level") == "warning"]
    assert len(warnings) == 1, "a lasting failure is logged once"

    issuing_api.clear_faults()
    service.wait_ready(timeout=15)
    assert who(issuing_api, stored_token(issuing_api)) == CONSUMER_USER
    assert "renewalError" not in status(service)


def test_an_outage_spanning_the_renewal_point_renews_once_the_api_server_is_back(issuing_api, replicas):
    issuing_api.set_max_token_expiration(20)
    with Sampler(issuing_api, interval=0.5) as sampler:
        service = replicas("--refresh-interval", "0")
        service.wait_ready()
        issued = claims(stored_token(issuing_api))["iat"]
        time.sleep(max(0, issued + 13 - time.time()))
        issuing_api.down(seconds=4)  # from 13 s to 17 s: the renewal point (16 s) falls inside
        time.sleep(4.2)
        assert wait_until(lambda: len(sampler.order) == 2, timeout=6), service.logs
        renewed_at = sampler.first_seen[sampler.order[1]] - issued
    assert 17 <= renewed_at <= 20, f"renewed {renewed_at:.1f} s into a 20 s lifetime"
    assert who(issuing_api, sampler.order[1]) == CONSUMER_USER
    assert service.request("GET", "/readyz").status == 200


# MARK: - Secret storage


def test_the_document_can_live_in_a_secret(issuing_api, replicas, tmp_path):
    issuing_api.put_secret(NAMESPACE, SECRET, {})
    service = replicas("--secret", SECRET)
    service.wait_ready()
    secret = issuing_api.get_secret(NAMESPACE, SECRET)
    document = secret["data"]["kubeconfig"]
    token = (yaml.safe_load(document)["users"][0]["user"]["token"])
    assert who(issuing_api, token) == CONSUMER_USER
    assert json.loads(secret["metadata"]["annotations"][ANNOTATION])["fingerprint"] == token_fingerprint(token)
    assert not issuing_api.get_configmap(NAMESPACE, CONFIGMAP).get("data"), "the ConfigMap was written"
    assert kubectl_reads(document, tmp_path)

    shown = status(service)
    assert shown["secret"] == SECRET and "configMap" not in shown
    # Callers are authorised against the Secret: the reader may get ConfigMaps, not Secrets.
    assert service.request("GET", "/kubeconfig", token=READER_TOKEN).status == 403
    served = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN)
    assert served.status == 200 and served.body.decode() == document
    answer = load_json(service.request("POST", "/sites/central", token=ADMIN_TOKEN).body)
    assert answer["secret"] == SECRET and answer["changed"] is False
    assert_no_token_leaks([token], service.logs, json.dumps(shown))


def test_a_missing_secret_is_named_and_configmap_and_secret_exclude_each_other(issuing_api):
    result = run_publish(issuing_api, "--secret", SECRET)
    assert result.returncode == 1 and "SecretNotFound" in result.stderr
    assert f"secret {NAMESPACE}/{SECRET} not found" in result.stderr
    both = run_publish(issuing_api, "--secret", SECRET, "--configmap", CONFIGMAP)
    assert both.returncode != 0 and "mutually exclusive" in both.stderr
