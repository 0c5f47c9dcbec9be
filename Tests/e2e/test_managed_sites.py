"""Managed remote sites: registered once with a narrow bootstrap credential, whose short-lived
deployer token the service itself issues at the site's API server and renews.

Each remote site is another instance of the project's Kubernetes API test server on loopback,
with its own CA, holding the account `apps/deployer` (which may read ConfigMaps in `apps`, where
one waits to be read) and a bootstrap identity that may do exactly one thing: create tokens for
that account. The central API server holds the document's ConfigMap and the credentials Secret
(`--credentials-secret`), which the service may only get and patch, by name. Remote lifetimes
are capped to seconds, so renewals happen while the tests watch.

Bootstrap and issued tokens are JWT-shaped, so redaction.redact hides them; texts that hold one
are turned into booleans before they are asserted on, and scrub() hides the rest.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from kubeapi import ADMIN_TOKEN

from loopback import KUBECTL, wait_until
from managed import (DEPLOYER, SECRET, Sampler, bootstrap_requests, ca_data, configmap, credentials,
                     document_writes, issued, jwt_shaped, managed_body, outputs, put_json, put_kubeconfig, records,
                     renewal_error, request_time, scrub, site, sites, stored_token, stored_tokens, timestamp, who)
from redaction import load_json, redact
from support import NAMESPACE, claims, metric, token_fingerprint



# MARK: - What the service says


def kubectl_reads(service, context: str, tmp_path) -> bool:
    """Whether kubectl, given the served document, reads the remote's ConfigMap through `context`."""
    answer = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN)
    assert answer.status == 200, answer.status
    path = tmp_path / f"kubeconfig-{time.monotonic_ns()}"
    path.write_bytes(answer.body)
    result = subprocess.run([KUBECTL, "--kubeconfig", str(path), "--context", context, "-n", "apps", "get",
                             "configmap", "workload", "-o", "json"], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, f"kubectl --context {context}: {redact(result.stderr)}"
    return load_json(result.stdout)["data"] == {"site": context.removeprefix("site-")}


def assert_nothing_leaks(credentials_by_label: dict[str, str], texts: dict[str, str]):
    for where, text in texts.items():
        for label, value in credentials_by_label.items():
            leaked = value in text
            assert not leaked, f"{label} (fingerprint {token_fingerprint(value)}) appears in {where}"


# MARK: - 1. Registration


def test_registration_by_json_and_by_kubeconfig_issues_a_deployer_token_and_the_secret_keeps_the_bootstrap(
        central, services, remotes, tmp_path):
    service = services()
    a, b = remotes("a"), remotes("b", host="::1")
    before_a = len(a.token_requests())

    # The tokenRequest's namespace defaults to the site's (JSON: `namespace`; kubeconfig: the context's).
    body = managed_body(a, audiences=[])
    del body["tokenRequest"]["namespace"]
    answer = put_json(service, "site-a", body)
    assert answer.status == 201, scrub(answer.text, a.bootstrap)
    shown = load_json(answer.body)
    assert shown["created"] is True
    answer = put_kubeconfig(service, "site-b", b, tmp_path, {"serviceAccount": "deployer", "expirationSeconds": "7200"})
    assert answer.status == 201, scrub(answer.text, b.bootstrap)

    # One token each, asked for at once with the bootstrap credential, for the deployer.
    assert len(issued(a)) == 1 and len(a.token_requests()) == before_a + 1
    assert len(issued(b)) == 1
    token_a, token_b = stored_token(central, "site-a"), stored_token(central, "site-b")
    assert who(a, token_a) == DEPLOYER and who(b, token_b) == DEPLOYER
    assert claims(token_a)["exp"] - claims(token_a)["iat"] == 3600
    assert claims(token_b)["exp"] - claims(token_b)["iat"] == 7200
    # The bootstrap credentials were used for nothing else: no probe, no review, no read.
    assert {(entry["method"], entry["path"]) for entry in bootstrap_requests(a)} == \
        {("POST", "/api/v1/namespaces/apps/serviceaccounts/deployer/token")}

    # The record beside the document, per site.
    kept = records(central)
    assert set(kept) >= {"site-a", "site-b"}
    assert kept["site-a"]["fingerprint"] == token_fingerprint(token_a)
    assert kept["site-a"]["serviceAccount"] == "apps/deployer" and kept["site-a"]["audiences"] == []
    assert timestamp(kept["site-a"]["expiresAt"]) == claims(token_a)["exp"]
    assert timestamp(kept["site-b"]["expiresAt"]) == claims(token_b)["exp"]

    # The Secret holds exactly the bootstrap credential and what to ask for, per site.
    stored = credentials(central)
    assert set(stored) == {"site-a", "site-b"}
    assert stored["site-a"]["tokenRequest"] == {"serviceAccount": "deployer", "namespace": "apps",
                                                "expirationSeconds": 3600, "audiences": []}
    assert stored["site-b"]["tokenRequest"] == {"serviceAccount": "deployer", "namespace": "apps",
                                                "expirationSeconds": 7200, "audiences": []}
    same = stored["site-a"]["bootstrapToken"] == a.bootstrap and stored["site-b"]["bootstrapToken"] == b.bootstrap
    assert same, "the Secret does not hold the sites' bootstrap credentials"
    # With the server and CA the site was registered with: tokens are asked for there only.
    # And the registration's id, which the site's record names, and when it was stored.
    assert set(stored["site-a"]) == {"bootstrapToken", "tokenRequest", "server", "certificateAuthorityData",
                                     "registration", "createdAt"}
    assert stored["site-a"]["server"] == a.url
    assert stored["site-a"]["registration"] == kept["site-a"]["credential"]
    assert set(central.get_secret(NAMESPACE, SECRET)["data"]) == {
        f"site-a_{stored['site-a']['registration']}", f"site-b_{stored['site-b']['registration']}"}

    # The document: the issued tokens, never a bootstrap credential.
    text = configmap(central)["data"]["kubeconfig"]
    assert a.bootstrap not in text and b.bootstrap not in text, "a bootstrap credential is in the document"
    served = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN).text
    assert a.bootstrap not in served and b.bootstrap not in served, "a bootstrap credential is served"
    assert token_a in served and token_b in served

    # The probes authenticate as the deployer; the list says managed, when it expires and renews.
    waited = wait_until(lambda: all((sites(service)[name].get("health") or {}).get("user") == DEPLOYER
                                    for name in ("site-a", "site-b")), timeout=10)
    listed = sites(service)
    assert waited is not None, f"not authenticated as the deployer: {listed}"
    for name, token in (("site-a", token_a), ("site-b", token_b)):
        entry = listed[name]
        assert entry["tokenManagement"] == "managed" and entry["credential"] == "token"
        assert entry["health"]["reachable"] is True and entry["health"]["authenticated"] is True
        assert timestamp(entry["tokenExpiresAt"]) == claims(token)["exp"]
        lifetime = claims(token)["exp"] - claims(token)["iat"]
        renews = timestamp(entry["tokenRenewsAt"]) - claims(token)["iat"]
        assert 0.75 * lifetime - 1 <= renews <= 0.8 * lifetime + 1, (name, renews, lifetime)
        assert "renewalError" not in entry
    assert listed["central"]["tokenManagement"] == "static"
    assert site(service, "site-b")["server"].startswith("https://[::1]:")

    # kubectl reads through each site's context in the published document.
    assert kubectl_reads(service, "site-a", tmp_path) and kubectl_reads(service, "site-b", tmp_path)

    assert metric(service, "kubeconfig_site_token_expiry_timestamp_seconds", site="site-a") == \
        pytest.approx(claims(token_a)["exp"], abs=1)

    # Registering again with the same body changes nothing and mints nothing.
    again = put_json(service, "site-a", body)
    assert again.status == 200 and load_json(again.body)["changed"] is False, scrub(again.text, a.bootstrap)
    assert len(issued(a)) == 1 and stored_token(central, "site-a") == token_a

    assert_nothing_leaks({"bootstrap a": a.bootstrap, "bootstrap b": b.bootstrap, "issued a": token_a,
                          "issued b": token_b}, {**outputs(service), "PUT answer": json.dumps(shown)})


def test_each_registrations_token_request_is_counted_and_stays_counted(central, services, remotes):
    """kubeconfig_site_token_requests_total{site,result="issued"} counts every token issued for a
    site, the registration's too, also when registrations follow one another closely."""
    a = remotes("a")
    service = services()
    names = [f"site-{index}" for index in range(6)]
    for name in names:  # one after another, as an operator's script would
        answer = put_json(service, name, managed_body(a))
        assert answer.status == 201, scrub(answer.text, a.bootstrap)
    time.sleep(1.5)  # the renewer's passes after the registrations
    assert len(issued(a)) == len(names), "a registered site was issued a second token"
    counted = {name: metric(service, "kubeconfig_site_token_requests_total", site=name, result="issued")
               for name in names}
    assert counted == {name: 1 for name in names}, f"TokenRequests counted per site: {counted}"


# MARK: - 2. Renewal


def test_renewal_comes_at_three_quarters_to_four_fifths_of_a_capped_lifetime_and_kubectl_reads_throughout(
        central, services, remotes, tmp_path):
    a = remotes("a", cap=12)
    service = services()
    with Sampler(central, {"site-a": a}) as sampler:
        assert put_json(service, "site-a", managed_body(a)).status == 201
        for _ in range(2):  # kubectl reads through the site's context just before and just after a renewal
            current = stored_token(central, "site-a")
            time.sleep(max(0.0, claims(current)["iat"] + 8.2 - time.time()))
            still = stored_token(central, "site-a") == current
            assert still, "renewed before 75 % of the lifetime"
            assert kubectl_reads(service, "site-a", tmp_path)
            assert wait_until(lambda: stored_token(central, "site-a") != current, timeout=5), scrub(service.logs)
            assert kubectl_reads(service, "site-a", tmp_path)
            assert wait_until(lambda: (site(service, "site-a").get("health") or {}).get("user") == DEPLOYER,
                              timeout=3) is not None
        time.sleep(0.3)
    tokens = sampler.order["site-a"]
    assert len(tokens) == 3 and len(set(tokens)) == 3, "tokens flapped"
    assert sampler.invalid["site-a"] == 0, f"{sampler.invalid['site-a']} of {sampler.samples} samples were not valid"
    measured = []
    for previous, following in zip(tokens, tokens[1:]):
        lifetime = claims(previous)["exp"] - claims(previous)["iat"]
        assert lifetime == 12
        renewed_after = sampler.first_seen[following] - claims(previous)["iat"]
        measured.append(renewed_after)
        # 75 % to 80 % is 9 to 9.6 s; iat is whole seconds (up to 1 s early), plus sampling and slack.
        assert 9.0 <= renewed_after <= 10.8, f"renewed {renewed_after:.2f} s into a {lifetime} s lifetime"
    # One TokenRequest per period, not one per pass or per probe.
    times = [request_time(entry) for entry in issued(a)]
    assert len(times) == 3, len(times)
    intervals = [later - earlier for earlier, later in zip(times, times[1:])]
    assert all(8.0 <= interval <= 10.5 for interval in intervals), intervals
    assert len(document_writes(central)) <= 1 + 3  # the first publication, the registration, two renewals
    listed = site(service, "site-a")
    assert "renewalError" not in listed
    assert timestamp(listed["tokenExpiresAt"]) == claims(tokens[-1])["exp"]
    assert metric(service, "kubeconfig_site_token_requests_total", site="site-a", result="issued") == 3
    assert metric(service, "kubeconfig_site_token_requests_total", site="site-a", result="failed") in (None, 0)
    print("site renewals (s into a 12 s lifetime):", ", ".join(f"{value:.2f}" for value in measured),
          "| request intervals (s):", ", ".join(f"{value:.2f}" for value in intervals))
    assert_nothing_leaks({"bootstrap": a.bootstrap, **{f"issued {i}": t for i, t in enumerate(tokens)}},
                         outputs(service))


# MARK: - 3. Outage


def test_an_outage_spanning_the_renewal_point_keeps_the_token_and_renews_as_soon_as_the_site_is_back(
        central, services, remotes, tmp_path):
    """Spec: "keep the current token while it is valid, surface renewalError ...; the moment it is
    back, renew". The site comes back while the old token is still valid, after two failed tries."""
    a = remotes("a", cap=20)
    service = services()
    assert put_json(service, "site-a", managed_body(a)).status == 201
    first = stored_token(central, "site-a")
    iat, exp = claims(first)["iat"], claims(first)["exp"]
    first_record = records(central)["site-a"]
    time.sleep(max(0.0, iat + 13 - time.time()))
    a.down()  # from 13 s: the renewal point (15 to 16 s) falls inside
    failed = wait_until(lambda: renewal_error(service, "site-a") is not None, timeout=iat + 18 - time.time())
    assert failed is not None, f"no renewalError while the site is down: {site(service, 'site-a')}"
    shown = site(service, "site-a")
    error = shown["renewalError"]
    print("renewalError while down:", error["code"], "-", scrub(error["message"], a.bootstrap))
    assert error["code"] == "SiteConnectionRefused" and a.url in error["message"], error
    # The current token stays while it is valid; the list still says when it expires.
    kept = stored_token(central, "site-a") == first
    assert kept and records(central)["site-a"] == first_record, "the valid token was replaced or dropped"
    assert timestamp(shown["tokenExpiresAt"]) == exp
    assert shown["health"]["reachable"] is False
    assert metric(service, "kubeconfig_site_token_expiry_timestamp_seconds", site="site-a") == \
        pytest.approx(exp, abs=1)

    # Let the backoff grow (a second failure: the next try is ~4 s later), then bring the site back.
    assert wait_until(lambda: (metric(service, "kubeconfig_site_token_requests_total", site="site-a",
                                      result="failed") or 0) >= 2, timeout=exp - 1.5 - time.time()) is not None, \
        "the renewal was not retried while the site was down"
    assert time.time() < exp - 1, "too late to say anything; the machine is overloaded"
    a.up()
    back = time.time()
    renewed = wait_until(lambda: stored_token(central, "site-a") != first, timeout=15)
    assert renewed is not None, scrub(service.logs, a.bootstrap)
    after_up = time.time() - back
    print(f"renewed {after_up:.2f} s after the site came back ({back - iat:.1f} s into a 20 s lifetime; "
          f"the old token expired at 20 s)")
    # "The moment it is back": the probe runs every second, so within about two probe periods.
    assert after_up <= 2.5, (f"renewed {after_up:.1f} s after the site came back (old token expired "
                             f"{time.time() - exp:+.1f} s ago): the retry backoff, not the site's return, decided")
    second = stored_token(central, "site-a")
    assert who(a, second) == DEPLOYER
    assert wait_until(lambda: renewal_error(service, "site-a") is None, timeout=3) is not None
    assert kubectl_reads(service, "site-a", tmp_path)
    assert_nothing_leaks({"bootstrap": a.bootstrap, "first": first, "second": second}, outputs(service))


# MARK: - 4. Revoked bootstrap


def test_a_revoked_bootstrap_credential_is_a_clear_error_on_that_site_only(central, services, remotes, tmp_path):
    a, b = remotes("a", cap=12), remotes("b", cap=12)
    service = services()
    assert put_json(service, "site-a", managed_body(a)).status == 201
    assert put_json(service, "site-b", managed_body(b)).status == 201
    first_a, first_b = stored_token(central, "site-a"), stored_token(central, "site-b")
    assert a.revoke_token(a.bootstrap) is True  # the bootstrap identity is gone at site a: 401 from now on

    error = None

    def failed():
        nonlocal error
        error = renewal_error(service, "site-a")
        return error is not None
    assert wait_until(failed, timeout=claims(first_a)["iat"] + 13 - time.time()) is not None, \
        f"no renewalError at site-a: {site(service, 'site-a')}"
    print("renewalError:", error["code"], "-", scrub(error["message"], a.bootstrap))
    # A revoked credential is a 401: said to be invalid or expired, not a missing right.
    assert error["code"] == "BootstrapCredentialRejected", error
    assert "site site-a rejected its bootstrap credential as invalid or expired" in error["message"], error
    assert "register the site again" in error["message"] and "serviceaccounts/token" not in error["message"], error
    # Site a keeps its token while valid; site b renews as if nothing happened.
    valid = stored_token(central, "site-a") == first_a and who(a, first_a) == DEPLOYER
    assert valid, "site-a's still valid token was dropped"
    assert wait_until(lambda: stored_token(central, "site-b") != first_b, timeout=5) is not None
    assert who(b, stored_token(central, "site-b")) == DEPLOYER
    assert "renewalError" not in site(service, "site-b")
    assert kubectl_reads(service, "site-b", tmp_path)
    assert metric(service, "kubeconfig_site_token_requests_total", site="site-a", result="failed") >= 1
    assert metric(service, "kubeconfig_site_token_requests_total", site="site-b", result="failed") in (None, 0)
    assert len(issued(b)) == 2 and len(issued(a)) == 1
    warnings = [entry for entry in service.log_entries()
                if entry.get("msg") == "token request failed" and entry.get("site") == "site-a"]
    assert warnings and not any(entry.get("site") == "site-b" for entry in service.log_entries()
                                if entry.get("msg") == "token request failed")

    # Once site a's token has expired, its probe says so; the error stays; b is unaffected.
    assert wait_until(lambda: (site(service, "site-a").get("health") or {}).get("authenticated") is False,
                      timeout=claims(first_a)["exp"] + 4 - time.time()) is not None
    assert renewal_error(service, "site-a")["code"] == "BootstrapCredentialRejected"
    assert (site(service, "site-b").get("health") or {}).get("authenticated") is True
    assert_nothing_leaks({"bootstrap a": a.bootstrap, "bootstrap b": b.bootstrap, "issued a": first_a,
                          "issued b": first_b, "renewed b": stored_token(central, "site-b")}, outputs(service))


# MARK: - 5. Replicas


def test_two_replicas_renew_each_site_once_per_period_without_flapping(central, services, remotes):
    a, b = remotes("a", cap=10), remotes("b", cap=10)
    one, two = services("--refresh-interval", "1"), services("--refresh-interval", "1")
    with Sampler(central, {"site-a": a, "site-b": b}) as sampler:
        assert put_json(one, "site-a", managed_body(a)).status == 201
        assert put_json(two, "site-b", managed_body(b)).status == 201
        writes_before = len(document_writes(central))
        started = time.time()
        assert wait_until(lambda: all(sampler.renewals(name) >= 3 for name in ("site-a", "site-b")), timeout=40), \
            scrub(one.logs + two.logs)
        time.sleep(1.5)  # a few passes of both replicas after the last renewal
    elapsed = time.time() - started
    writes = len(document_writes(central)) - writes_before
    renewals = {name: sampler.renewals(name) for name in ("site-a", "site-b")}
    minted = {"site-a": len(issued(a)) - 1, "site-b": len(issued(b)) - 1}
    print(f"2 replicas, {elapsed:.1f} s: renewals {renewals}, TokenRequests after registration {minted}, "
          f"document writes {writes}")
    for name in ("site-a", "site-b"):
        tokens = sampler.order[name]
        assert len(set(tokens)) == len(tokens), f"{name}: an older token came back: the replicas flapped"
        assert sampler.invalid[name] == 0, f"{name}: {sampler.invalid[name]} samples were not valid"
        # One renewal per period (at least 7.5 s), not more.
        assert renewals[name] <= elapsed / 7.5 + 1, (name, renewals[name], elapsed)
        # Each replica mints at most once per period; a lost race mints, never writes.
        assert renewals[name] <= minted[name] <= 2 * renewals[name] + 1, (name, minted[name], renewals[name])
    # Writes: one per renewal at most (two sites renewed in the same pass may share one), never a multiple.
    assert max(renewals.values()) <= writes <= sum(renewals.values()), (writes, renewals)
    for service in (one, two):
        for name in ("site-a", "site-b"):
            current = claims(stored_token(central, name))["exp"]
            assert wait_until(lambda: timestamp(site(service, name)["tokenExpiresAt"]) == current, timeout=3), \
                "a replica shows another expiry than the stored token's"
    texts = {f"one {k}": v for k, v in outputs(one).items()} | {f"two {k}": v for k, v in outputs(two).items()}
    assert_nothing_leaks({"bootstrap a": a.bootstrap, "bootstrap b": b.bootstrap,
                          **{f"token {i}": t for i, t in enumerate(sampler.order["site-a"] + sampler.order["site-b"])}},
                         texts)


# MARK: - 6. Bad inputs


def test_bad_managed_registrations_are_refused_clearly_and_change_nothing(central, services, remotes, tmp_path):
    plain = services(credentials=False)
    a, b = remotes("a"), remotes("b")
    answer = put_json(plain, "site-x", managed_body(a))
    assert answer.status == 400, answer.status
    error = load_json(answer.body)["error"]
    assert error["code"] == "InvalidSite" and error["message"].startswith("tokenRequest:"), error
    assert "--credentials-secret" in error["message"]
    plain.stop()

    service = services()
    assert put_json(service, "good", managed_body(a)).status == 201
    good = stored_token(central, "good")
    before_map = configmap(central)
    before_secret = central.get_secret(NAMESPACE, SECRET)
    before_requests = len(issued(a))
    unknown = jwt_shaped("nobody-knows")

    json_cases = [
        ("no-bootstrap", managed_body(a, drop=("bootstrapToken",)), 400, "InvalidSite", "bootstrapToken:"),
        ("no-token-request", managed_body(a, drop=("tokenRequest",)), 400, "InvalidSite", "tokenRequest:"),
        ("ten-seconds", managed_body(a, expirationSeconds=10), 400, "InvalidSite", "tokenRequest.expirationSeconds:"),
        ("too-long", managed_body(a, expirationSeconds=2 ** 32 + 1), 400, "InvalidSite",
         "tokenRequest.expirationSeconds:"),
        ("fraction", managed_body(a, expirationSeconds=3600.5), 400, "InvalidSite", "tokenRequest.expirationSeconds:"),
        ("unknown-field", managed_body(a, bogus=True), 400, "InvalidSite", "tokenRequest.bogus:"),
        ("no-account", {**managed_body(a), "tokenRequest": {"namespace": "apps"}}, 400, "InvalidSite",
         "tokenRequest.serviceAccount:"),
        ("spaced-audience", managed_body(a, audiences=["a b"]), 400, "InvalidSite", "tokenRequest.audiences:"),
        ("with-token", {**managed_body(a), "token": jwt_shaped("pasted")}, 400, "InvalidSite", "token:"),
        ("not-an-object", {**managed_body(a), "tokenRequest": "deployer"}, 400, "InvalidSite", "tokenRequest:"),
        ("spaced-bootstrap", managed_body(a, bootstrap="abc def"), 400, "InvalidSite", "bootstrapToken:"),
        ("a" * 60, managed_body(a), 400, "InvalidSite", "name:"),
        # Valid requests the remote refuses: nothing is written either.
        ("forbidden", managed_body(a, bootstrap=a.stranger), 502, "TokenRequestForbidden", None),
        ("unknown-bootstrap", managed_body(a, bootstrap=unknown), 502, "BootstrapCredentialRejected", None),
        ("other-account", managed_body(a, serviceAccount="other"), 502, "TokenRequestForbidden", None),
        ("wrong-remote", managed_body(a, bootstrap=b.bootstrap), 502, "BootstrapCredentialRejected", None),
        # The good site again, with a credential the remote refuses: it stays as it was.
        ("good", managed_body(a, bootstrap=a.stranger), 502, "TokenRequestForbidden", None),
    ]
    bodies = []
    for name, body, status, code, prefix in json_cases:
        answer = put_json(service, name, body)
        bodies.append(answer.text)
        assert answer.status == status, f"{name}: {answer.status} {scrub(answer.text, a.bootstrap, a.stranger)}"
        error = load_json(answer.body)["error"]
        assert error["code"] == code, f"{name}: {error}"
        if prefix:
            assert error["message"].startswith(prefix), f"{name}: {error['message']}"
        elif code == "BootstrapCredentialRejected":
            # 401: a credential the remote does not know, so no right to name.
            assert "rejected its bootstrap credential as invalid or expired" in error["message"], \
                f"{name}: {error['message']}"
            assert "serviceaccounts/token" not in error["message"], f"{name}: {error['message']}"
        else:
            assert "refused its bootstrap credential" in error["message"], f"{name}: {error['message']}"
            assert "create on serviceaccounts/token" in error["message"], f"{name}: {error['message']}"

    yaml_cases = [
        ("yaml-ten-seconds", {"serviceAccount": "deployer", "expirationSeconds": "10"}, "InvalidSite",
         "expirationSeconds:"),
        ("yaml-not-a-number", {"serviceAccount": "deployer", "expirationSeconds": "soon"}, "InvalidSite",
         "expirationSeconds:"),
        ("yaml-unknown-query", {"serviceaccount": "deployer"}, "InvalidSite", "serviceaccount:"),
        ("yaml-no-account", {"namespace": "apps"}, "InvalidSite", "serviceAccount:"),
        # A repeated parameter is refused for every route before the caller is reviewed.
        ("yaml-twice", [("serviceAccount", "deployer"), ("serviceAccount", "other")], "BadRequest",
         "the serviceAccount query parameter is given more than once"),
    ]
    for name, query, code, prefix in yaml_cases:
        answer = put_kubeconfig(service, name, a, tmp_path, query)
        bodies.append(answer.text)
        assert answer.status == 400, f"{name}: {answer.status} {scrub(answer.text, a.bootstrap)}"
        error = load_json(answer.body)["error"]
        assert error["code"] == code and error["message"].startswith(prefix), f"{name}: {error}"
    answer = put_kubeconfig(service, "yaml-forbidden", a, tmp_path, bootstrap=a.stranger)
    bodies.append(answer.text)
    assert answer.status == 502 and load_json(answer.body)["error"]["code"] == "TokenRequestForbidden", answer.status
    answer = put_json(service, "json-query", managed_body(a), query="?serviceAccount=deployer")
    assert answer.status == 400 and load_json(answer.body)["error"]["code"] == "InvalidSite", answer.status

    # A remote that is down: the registration fails, naming why, and writes nothing.
    b.down()
    answer = put_json(service, "down", managed_body(b))
    bodies.append(answer.text)
    assert answer.status in (502, 503, 504), f"{answer.status} {scrub(answer.text, b.bootstrap)}"
    print("registration at a site that is down:", answer.status, scrub(answer.text, b.bootstrap))
    b.up()

    after_map = configmap(central)
    after_secret = central.get_secret(NAMESPACE, SECRET)
    assert after_map["metadata"]["resourceVersion"] == before_map["metadata"]["resourceVersion"]
    identical = after_map["data"] == before_map["data"] and \
        after_map["metadata"].get("annotations") == before_map["metadata"].get("annotations")
    assert identical, "a refused registration changed the document or its records"
    assert after_secret["metadata"]["resourceVersion"] == before_secret["metadata"]["resourceVersion"]
    assert set(credentials(central)) == {"good"}
    assert len(issued(a)) == before_requests, "a refused registration got a token issued"
    assert stored_token(central, "good") == good and site(service, "good")["tokenManagement"] == "managed"

    # Without the Secret (the chart creates it; the service never does), a registration is refused.
    central.delete_secret(NAMESPACE, SECRET)
    answer = put_json(service, "no-secret", managed_body(a))
    bodies.append(answer.text)
    error = load_json(answer.body)["error"]
    assert answer.status >= 500 and error["code"] == "SecretNotFound", f"{answer.status} {error}"
    assert f"secret {NAMESPACE}/{SECRET}" in error["message"] and "--credentials-secret" in error["message"], error
    assert central.get_secret(NAMESPACE, SECRET) is None, "the service created the credentials Secret"
    assert configmap(central)["metadata"]["resourceVersion"] == after_map["metadata"]["resourceVersion"]
    print("registration without the Secret:", answer.status, error["code"], "| TokenRequests it cost:",
          len(issued(a)) - before_requests)
    assert_nothing_leaks({"bootstrap a": a.bootstrap, "bootstrap b": b.bootstrap, "stranger": a.stranger,
                          "unknown": unknown, "issued": good},
                         {**outputs(service), **{f"answer {i}": text for i, text in enumerate(bodies)}})


# MARK: - 7. A rejected token, and no leaks


def test_a_token_the_probe_finds_rejected_is_renewed_at_once_and_no_credential_shows_anywhere(
        central, services, remotes, tmp_path):
    a, b = remotes("a"), remotes("b")
    service = services()
    answers = [put_json(service, "site-a", managed_body(a)), put_kubeconfig(service, "site-b", b, tmp_path),
               put_json(service, "refused", managed_body(a, bootstrap=a.stranger)),
               put_json(service, "bad", managed_body(a, expirationSeconds=10))]
    assert [answer.status for answer in answers] == [201, 201, 502, 400]
    first = stored_token(central, "site-a")
    assert wait_until(lambda: (site(service, "site-a").get("health") or {}).get("authenticated") is True)

    a.revoke_token(first)  # the issued token stops authenticating long before its expiry
    renewed = wait_until(lambda: stored_token(central, "site-a") != first, timeout=8)
    assert renewed is not None, f"not renewed after the probe found the token rejected: {site(service, 'site-a')}"
    print(f"renewed {renewed:.2f} s after the issued token was revoked (probes every 1 s)")
    assert renewed <= 4.0
    second = stored_token(central, "site-a")
    assert who(a, second) == DEPLOYER and len(issued(a)) == 2
    assert wait_until(lambda: (site(service, "site-a").get("health") or {}).get("authenticated") is True, timeout=4)
    assert kubectl_reads(service, "site-a", tmp_path) and kubectl_reads(service, "site-b", tmp_path)

    # The issued tokens appear in the served and stored document only; bootstrap credentials nowhere.
    served = service.request("GET", "/kubeconfig", token=ADMIN_TOKEN)
    answers.append(served)
    token_b = stored_token(central, "site-b")
    holds = second in served.text and token_b in served.text and first not in served.text
    assert holds, "the served document does not hold exactly the current issued tokens"
    stored_text = json.dumps(configmap(central))
    assert a.bootstrap not in stored_text and b.bootstrap not in stored_text, "a bootstrap credential is stored"
    # Every other answer, including the registrations' and the refusals'.
    answers += [service.request("POST", "/sites/central", token=ADMIN_TOKEN),
                service.request("DELETE", "/sites/nothing-here", token=ADMIN_TOKEN),
                service.request("GET", "/sites/site-a"),  # unauthenticated
                put_json(service, "x", managed_body(a), token="not-a-token")]
    texts = {**outputs(service),
             **{f"answer {i}": answer.text for i, answer in enumerate(answers) if answer is not served}}
    assert_nothing_leaks({"bootstrap a": a.bootstrap, "bootstrap b": b.bootstrap, "stranger": a.stranger,
                          "revoked issued a": first, "issued a": second, "issued b": token_b}, texts)
    assert_nothing_leaks({"bootstrap a": a.bootstrap, "bootstrap b": b.bootstrap}, {"served document": served.text})


# MARK: - 8. Removal and static again


def test_delete_and_a_pasted_token_end_management(central, services, remotes):
    a = remotes("a", cap=10)
    service = services()
    assert put_json(service, "site-a", managed_body(a)).status == 201
    assert put_json(service, "site-b", managed_body(a)).status == 201
    iat = claims(stored_token(central, "site-b"))["iat"]
    assert set(credentials(central)) == {"site-a", "site-b"} and set(records(central)) >= {"site-a", "site-b"}

    deleted = service.request("DELETE", "/sites/site-a", token=ADMIN_TOKEN)
    assert deleted.status == 200, redact(deleted.text)
    assert set(credentials(central)) == {"site-b"}
    assert "site-a" not in records(central) and "site-a" not in stored_tokens(central)
    assert service.request("GET", "/sites/site-a", token=ADMIN_TOKEN).status == 404

    a.set_max_token_expiration(None)  # an operator's long-lived token, pasted
    pasted = a.create_token("apps", "deployer", expiration_seconds=3600)
    answer = put_json(service, "site-b", {"server": a.url, "certificateAuthorityData": ca_data(a), "token": pasted,
                                          "namespace": "apps"})
    assert answer.status == 200, scrub(answer.text, pasted)
    assert credentials(central) == {}, "the static site's bootstrap credential stayed in the Secret"
    assert "site-b" not in records(central)
    same = stored_token(central, "site-b") == pasted
    assert same, "the pasted token was not stored"
    shown = site(service, "site-b")
    assert shown["tokenManagement"] == "static" and "tokenRenewsAt" not in shown and "renewalError" not in shown

    # Past the renewal point (7.5 to 8 s) and the expiry of the last issued token: nothing is asked for.
    requests_before = len(bootstrap_requests(a))
    time.sleep(max(0.0, iat + 10.5 - time.time()))
    assert len(bootstrap_requests(a)) == requests_before == 2, "a site no longer managed was renewed"
    still = stored_token(central, "site-b") == pasted
    assert still, "the pasted token was replaced"
    assert site(service, "site-b")["tokenManagement"] == "static"
    metrics = service.request("GET", "/metrics").text
    assert 'kubeconfig_site_token_requests_total{site="site-a"' not in metrics
    assert 'site="site-a"' not in metrics, "the deleted site's series stayed"
    assert_nothing_leaks({"bootstrap": a.bootstrap, "pasted": pasted}, outputs(service))
