"""A managed site's bootstrap credential renews itself: the service asks the site's API server for
a new token of the bootstrap account with the bootstrap token itself, at 75-80 % of its granted
lifetime, writes it into the registration's key of the credentials Secret, and uses it for the
next deployer token; an outage across the renewal point keeps the site working and it renews
after; an account without the right to renew itself is shown `static`, and once it lapses the site
says `BootstrapExpired` with the fix (register it again). The remote caps every token's lifetime
to seconds, so that several periods pass while the tests watch. No token ever shows.
"""

from __future__ import annotations

import json
import time

import pytest
from kubeapi import ADMIN_TOKEN, KubeAPIServer

from loopback import wait_until
from managed import DEPLOYER, SECRET, ca_data, configmap, outputs, put_json, scrub, site, stored_token, timestamp
from redaction import redact
from support import NAMESPACE, claims, metric
from test_managed_sites import kubectl_reads

BOOTSTRAP = "system:serviceaccount:apps:kubeconfig-bootstrap"


def start_site(state_dir, cap: int, renews_itself: bool = True) -> KubeAPIServer:
    """A remote cluster as `site add` leaves it: the deployer (reads ConfigMaps in `apps`) and the
    `kubeconfig-bootstrap` account, which may create tokens for the deployer and, unless
    `renews_itself` is false, for itself; every TokenRequest granted at most `cap` seconds."""
    names = ["deployer", "kubeconfig-bootstrap"] if renews_itself else ["deployer"]
    server = KubeAPIServer(state_dir, config={
        "serviceAccounts": [{"namespace": "apps", "name": "deployer"},
                            {"namespace": "apps", "name": "kubeconfig-bootstrap"}],
        "configmaps": [{"namespace": "apps", "name": "workload", "data": {"site": "edge"}}],
        "rules": [
            {"user": BOOTSTRAP, "verbs": ["create"], "resources": ["serviceaccounts/token"], "namespaces": ["apps"],
             "resourceNames": names},
            {"user": DEPLOYER, "verbs": ["get", "list"], "resources": ["configmaps"], "namespaces": ["apps"]},
        ],
        "maxTokenExpirationSeconds": cap,
    }).start()
    return server


@pytest.fixture
def edge_site(tmp_path):
    started = []

    def start(cap: int, renews_itself: bool = True) -> KubeAPIServer:
        server = start_site(tmp_path / f"edge-{len(started)}", cap, renews_itself)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def mint_bootstrap(remote: KubeAPIServer) -> str:
    """What `site add` does: a TokenRequest for kubeconfig-bootstrap (the cap shortens it)."""
    return remote.create_token("apps", "kubeconfig-bootstrap", expiration_seconds=2592000)


def register(service, remote: KubeAPIServer, bootstrap: str):
    body = {"server": remote.url, "certificateAuthorityData": ca_data(remote), "namespace": "apps",
            "bootstrapToken": bootstrap,
            "tokenRequest": {"serviceAccount": "deployer", "namespace": "apps", "expirationSeconds": 3600}}
    answer = put_json(service, "edge", body)
    assert answer.status in (200, 201), scrub(answer.text, bootstrap)
    return answer


def stored_bootstrap(central) -> str | None:
    """The bootstrap credential the credentials Secret holds for site edge (one registration)."""
    data = (central.get_secret(NAMESPACE, SECRET) or {}).get("data") or {}
    entries = [json.loads(value) for key, value in data.items() if key.startswith("edge_")]
    assert len(entries) <= 1, f"{len(entries)} registrations of edge"
    return entries[0]["bootstrapToken"] if entries else None


def secret_writes(central) -> int:
    path = f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}"
    return sum(1 for entry in central.requests() if entry["path"] == path and entry["method"] == "PATCH"
               and entry["code"] == 200)


def bootstrap_renewals(remote) -> list[dict]:
    """TokenRequests for the bootstrap account made by the bootstrap account (the service's renewals)."""
    return [entry for entry in remote.token_requests("apps", "kubeconfig-bootstrap") if entry["user"] == BOOTSTRAP]


def assert_no_token_in(service, tokens: set[str], bootstraps: set[str]):
    """No token in anything the service says; no bootstrap credential in the document either."""
    for where, text in outputs(service, "edge").items():
        for token in tokens | bootstraps:
            assert token not in text, f"a token (exp {claims(token).get('exp')}) appears in {where}"
    document = json.dumps(configmap(service.api))
    for token in bootstraps:
        assert token not in document, f"a bootstrap credential (exp {claims(token).get('exp')}) is in the document"


def test_the_bootstrap_credential_renews_itself_over_several_periods(central, services, edge_site, tmp_path):
    remote = edge_site(cap=10)
    service = services()
    first = mint_bootstrap(remote)
    assert claims(first)["exp"] - claims(first)["iat"] == 10
    register(service, remote, first)
    shown = site(service, "edge")
    assert shown["bootstrapManagement"] == "managed", redact(json.dumps(shown))
    assert timestamp(shown["bootstrapExpiresAt"]) == claims(first)["exp"]
    # At 75 to 80 % of the 10 s granted (shown in whole seconds).
    assert 7 <= timestamp(shown["bootstrapRenewsAt"]) - claims(first)["iat"] <= 8
    assert "bootstrapRenewalError" not in shown
    assert metric(service, "kubeconfig_site_bootstrap_expiry_timestamp_seconds", site="edge") == claims(first)["exp"]
    renewal_point = metric(service, "kubeconfig_site_bootstrap_renewal_timestamp_seconds", site="edge")
    assert renewal_point is not None and 7.5 <= renewal_point - claims(first)["iat"] < 8
    writes_before = secret_writes(central)
    assert kubectl_reads(service, "edge", tmp_path)

    # Three periods: each renewal is one TokenRequest with the bootstrap token itself, for its own
    # account, and one conditional write of the same key; the old one is then revoked, so that
    # the deployer's renewals afterwards prove they present the new one.
    seen, tokens = [first], set()
    deadline = time.monotonic() + 36
    while len(seen) < 4 and time.monotonic() < deadline:
        assert wait_until(lambda: stored_bootstrap(central) not in (None, seen[-1]), timeout=12) is not None, \
            f"no renewal after {len(seen) - 1}"
        renewed = stored_bootstrap(central)
        grown = claims(renewed)
        assert grown["sub"] == BOOTSTRAP and grown["exp"] - grown["iat"] == 10
        assert grown["aud"] == claims(first)["aud"], "the same audiences"
        assert grown["iat"] >= claims(seen[-1])["iat"] + 7, "not before 75 % of the lifetime"
        # The service uses it once it shows it; the old one is then revoked.
        assert wait_until(lambda: site(service, "edge")["bootstrapExpiresAt"] != shown["bootstrapExpiresAt"]) \
            is not None
        shown = site(service, "edge")
        assert timestamp(shown["bootstrapExpiresAt"]) == grown["exp"]
        assert remote.revoke_token(seen[-1])
        seen.append(renewed)
        tokens.add(stored_token(central, "edge"))
        assert kubectl_reads(service, "edge", tmp_path)
    assert len(seen) == 4, "three renewals"
    renewals = bootstrap_renewals(remote)
    assert [entry["code"] for entry in renewals] == [201, 201, 201], "one TokenRequest per period"
    assert secret_writes(central) == writes_before + 3, "one write per renewal"
    assert service.wait_log("renewed a site's bootstrap credential", count=3)

    # The deployer's token is renewed again after the last renewal: with the newest credential.
    deployer = stored_token(central, "edge")
    assert wait_until(lambda: stored_token(central, "edge") != deployer, timeout=12) is not None
    assert kubectl_reads(service, "edge", tmp_path)
    tokens.add(stored_token(central, "edge"))
    failed = [entry for entry in remote.token_requests("apps", "deployer") if entry["code"] != 201]
    assert failed == [], "no deployer token was asked with a revoked bootstrap credential"
    assert "bootstrapRenewalError" not in site(service, "edge")
    assert_no_token_in(service, tokens, set(seen))
    # The site's bootstrap series go with it.
    assert service.request("DELETE", "/sites/edge", token=ADMIN_TOKEN).status == 200
    for name in ("kubeconfig_site_bootstrap_expiry_timestamp_seconds",
                 "kubeconfig_site_bootstrap_renewal_timestamp_seconds"):
        assert wait_until(lambda: metric(service, name, site="edge") is None, timeout=3) is not None, name


def test_an_outage_across_the_renewal_point_keeps_the_site_and_it_renews_after(central, services, edge_site, tmp_path):
    remote = edge_site(cap=24)
    service = services()
    first = mint_bootstrap(remote)
    register(service, remote, first)
    assert kubectl_reads(service, "edge", tmp_path)
    renews_at = timestamp(site(service, "edge")["bootstrapRenewsAt"])
    expires_at = claims(first)["exp"]
    # Down from a second before the renewal point to two after: both the bootstrap's and the
    # deployer's renewals fail meanwhile.
    time.sleep(max(0.0, renews_at - 1 - time.time()))
    remote.down(seconds=3)
    assert wait_until(lambda: "bootstrapRenewalError" in site(service, "edge"), timeout=5) is not None
    during = site(service, "edge")
    assert during["bootstrapManagement"] == "managed"
    assert during["bootstrapRenewalError"]["code"] not in ("BootstrapExpired", "TokenRequestForbidden"), \
        redact(json.dumps(during))
    assert stored_bootstrap(central) == first, "kept while valid"
    # Back: renewed before it lapses (retried with backoff, or as soon as the probe reaches it).
    assert wait_until(lambda: stored_bootstrap(central) != first, timeout=expires_at - time.time()) is not None
    renewed = stored_bootstrap(central)
    assert time.time() < expires_at
    assert wait_until(lambda: "bootstrapRenewalError" not in site(service, "edge"), timeout=5) is not None
    assert claims(renewed)["iat"] > renews_at
    assert kubectl_reads(service, "edge", tmp_path)
    assert_no_token_in(service, {stored_token(central, "edge")}, {first, renewed})


def test_an_account_without_the_right_is_static_and_a_lapsed_one_says_how_to_recover(
        central, services, edge_site, tmp_path):
    remote = edge_site(cap=10, renews_itself=False)
    service = services()
    first = mint_bootstrap(remote)
    register(service, remote, first)
    assert site(service, "edge")["bootstrapManagement"] == "managed", "a service-account token, until refused"
    assert wait_until(lambda: site(service, "edge")["bootstrapManagement"] == "static", timeout=10) is not None
    shown = site(service, "edge")
    assert "bootstrapRenewsAt" not in shown
    error = shown["bootstrapRenewalError"]
    assert error["code"] == "TokenRequestForbidden"
    assert "allow serviceaccount apps/kubeconfig-bootstrap create on serviceaccounts/token" in error["message"]
    assert metric(service, "kubeconfig_site_bootstrap_renewal_timestamp_seconds", site="edge") is None
    assert metric(service, "kubeconfig_site_bootstrap_expiry_timestamp_seconds", site="edge") == claims(first)["exp"]
    # Lapsed: the site says so, with the fix; the refused renewal was not asked again meanwhile.
    assert wait_until(lambda: (site(service, "edge").get("bootstrapRenewalError") or {}).get("code")
                      == "BootstrapExpired", timeout=claims(first)["exp"] - time.time() + 3) is not None
    lapsed = site(service, "edge")
    assert "run kubeconfig-service site add edge again" in lapsed["bootstrapRenewalError"]["message"]
    assert len(bootstrap_renewals(remote)) == 1
    # Registering again (with the right granted, as `site add` does) recovers the site.
    remote = edge_site(cap=600)
    fresh = mint_bootstrap(remote)
    register(service, remote, fresh)
    again = site(service, "edge")
    assert again["bootstrapManagement"] == "managed" and "bootstrapRenewalError" not in again
    assert kubectl_reads(service, "edge", tmp_path)
    assert_no_token_in(service, {stored_token(central, "edge")}, {first, fresh})


def test_two_replicas_converge_on_one_bootstrap_credential_per_period(central, services, edge_site, tmp_path):
    """Each replica draws its own renewal point; the first to renew writes, the other finds it in
    the Secret (adopting it, or a newer one it wrote) and both then use the Secret's credential:
    at most two TokenRequests and two writes per period, never a flapping older credential."""
    remote = edge_site(cap=10)
    one = services("--credential-grace-period", "3")
    two = services("--credential-grace-period", "3")
    first = mint_bootstrap(remote)
    register(one, remote, first)
    assert wait_until(lambda: "bootstrapManagement" in site(two, "edge"), timeout=5) is not None
    writes_before = secret_writes(central)
    seen = [first]
    while len(seen) < 3:
        assert wait_until(lambda: stored_bootstrap(central) not in (None, seen[-1]), timeout=12) is not None
        seen.append(stored_bootstrap(central))
        # Both replicas use the Secret's credential soon after (a check every second).
        def converged():
            stored = claims(stored_bootstrap(central))["exp"]
            return all(timestamp(site(service, "edge")["bootstrapExpiresAt"]) == stored for service in (one, two))
        assert wait_until(converged, timeout=4) is not None, "the replicas did not converge"
        assert kubectl_reads(one, "edge", tmp_path) and kubectl_reads(two, "edge", tmp_path)
    renewals, writes = len(bootstrap_renewals(remote)), secret_writes(central) - writes_before
    print(f"2 replicas, 2 periods: bootstrap TokenRequests {renewals}, Secret writes {writes}")
    # At most two of each per period (one replica may start a third period meanwhile).
    assert 2 <= renewals <= 5 and 2 <= writes <= 4, (renewals, writes)
    expiries = [claims(token)["exp"] for token in seen]
    assert expiries == sorted(expiries), "never an older credential again"
    for service in (one, two):
        assert "bootstrapRenewalError" not in site(service, "edge")
    assert_no_token_in(one, set(), set(seen))
    assert_no_token_in(two, set(), set(seen))
