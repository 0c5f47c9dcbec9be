"""The managed-site lifecycle (issue 20, findings 1 to 4): a managed site never silently stops
renewing. Re-registering it with any change keeps it renewing; concurrent writers of one name
never leave a record without its credential; kill -9 anywhere leaves no orphan credential for
longer than the grace period; and dead sites do not delay healthy ones.

Every test checks the real state: the credentials Secret and the document's ConfigMap on the
central API server (the invariants I1 and I2 of lifecycle.py), and each remote's acceptance of
the token the document holds (I3). Grace periods are short (GRACE seconds), and remote token
lifetimes are capped to seconds, so renewals happen while the tests watch.

KCS_LONG=1 runs the crash and dead-site tests longer (at least 50 kills; six renewal periods);
KCS_SEED fixes the random choices (each test prints the seed it used). pytest -s shows the
measurements.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time

import pytest
from kubeapi import ADMIN_TOKEN

from lifecycle import (Proxies, b64, key_site, kill, managed_status, names_key, read_stored,
                       registration_format_problems, send_and_kill, settle, stored_violations, sweep_interval,
                       violations)
from loopback import wait_until
from managed import (BOOTSTRAP_USER, DEPLOYER, SECRET, ca_data, jwt_shaped, managed_body, put_json, request_time, site,
                     sites, start_central, start_remote, start_service, stored_token, stored_tokens, timestamp, who)
from redaction import redact
from support import CONFIGMAP_PATH, NAMESPACE, claims, metric

LONG = os.environ.get("KCS_LONG") == "1"
SEED = int(os.environ.get("KCS_SEED") or time.time_ns() % 1_000_000)
GRACE = 4
# An orphan must be gone within GRACE + one sweep interval; MARGIN covers the sweep's own reads and
# write on the local API server, the service's start after a kill, and the test's 0.1 s polling.
MARGIN = 1.0
SETTLE = GRACE + sweep_interval(GRACE) + MARGIN
GRACE_ARGS = ("--credential-grace-period", str(GRACE))
SECRET_PATH = f"/api/v1/namespaces/{NAMESPACE}/secrets/{SECRET}"


def rng(test: str) -> random.Random:
    print(f"\n{test}: KCS_SEED={SEED}")
    return random.Random(f"{SEED}-{test}")


def static_body(remote, token: str) -> dict:
    """A registration with a pasted token (no bootstrap credential): the site is static."""
    return {"server": remote.url, "certificateAuthorityData": ca_data(remote), "token": token, "namespace": "apps"}


def listed_state(service, name: str) -> str:
    """`managed`, `static` or `absent`, as GET /sites/{name} says."""
    answer = service.request("GET", f"/sites/{name}", token=ADMIN_TOKEN)
    if answer.status == 404:
        return "absent"
    assert answer.status == 200, f"GET /sites/{name}: {answer.status} {redact(answer.text)}"
    return json.loads(answer.body).get("tokenManagement") or "no token"


def secret_keys(central) -> set[str]:
    return set((central.get_secret(NAMESPACE, SECRET) or {}).get("data") or {})


def lines(items, indent: str = "    ") -> str:
    return "".join(f"\n{indent}{item}" for item in sorted(items))


# MARK: - 1. Registering a managed site again


REREGISTRATION_CAP = 12  # the repro: lifetimes capped at 12 s, renewed at 9 to 9.6 s
EXTRA_AUDIENCE = "https://kubernetes.default.svc.cluster.local"  # the test server's own: tokens for it still work


def reregistrations(remote, other_ca: bytes, other_bootstrap: str) -> dict[str, tuple[str, dict, dict]]:
    """field -> (site, first body, body that changes only that field)."""
    first = managed_body(remote)
    return {
        "expirationSeconds": ("re-expiration", first, managed_body(remote, expirationSeconds=7200)),
        # The test server's certificate names both 127.0.0.1 and localhost: the same cluster.
        "server": ("re-server", first, {**first, "server": f"https://localhost:{remote.port}"}),
        "certificateAuthorityData": ("re-ca", first, {
            **first, "certificateAuthorityData": b64(remote.ca_file.read_bytes() + other_ca)}),
        "tlsServerName": ("re-server-name", first, {**first, "tlsServerName": "kubernetes.default.svc"}),
        "audiences": ("re-audiences", first, managed_body(remote, audiences=[EXTRA_AUDIENCE])),
        "bootstrapToken": ("re-bootstrap", first, managed_body(remote, other_bootstrap)),
    }


def reflects(field: str, second: dict, entry: dict) -> bool:
    """Whether a key of the Secret holds the second registration's value of `field`."""
    if field in ("expirationSeconds", "audiences"):
        return (entry.get("tokenRequest") or {}).get(field) == second["tokenRequest"].get(field)
    return entry.get(field) == second[field]


@pytest.fixture(scope="module")
def reregistered(tmp_path_factory):
    """One managed site per field, registered, then registered again with only that field changed,
    then left 20 s (past every token's renewal point) on a remote that caps lifetimes at 12 s.
    Returns what was seen per field; the tests below judge one field each."""
    folder = tmp_path_factory.mktemp("reregistration")
    central = start_central(folder / "central")
    remote = start_remote(folder / "remote", "a", cap=REREGISTRATION_CAP)
    service = None
    try:
        service = start_service(central, *GRACE_ARGS)
        other_bootstrap = remote.add_identity(BOOTSTRAP_USER, token=jwt_shaped("bootstrap-a-2"))
        cases = reregistrations(remote, central.ca_file.read_bytes(), other_bootstrap)
        seen = {field: {"site": name} for field, (name, _, _) in cases.items()}
        for field, (name, first, _) in cases.items():
            answer = put_json(service, name, first)
            assert answer.status == 201, f"{field}: first registration {answer.status} {redact(answer.text)}"
        time.sleep(1)
        for field, (name, _, second) in cases.items():
            answer = put_json(service, name, second)
            seen[field]["answer"] = (answer.status, json.loads(answer.body) if answer.body else {})
            seen[field]["token"] = stored_token(central, name)
            again = put_json(service, name, second)
            seen[field]["again"] = (again.status, json.loads(again.body) if again.body else {})
        registered = time.time()
        time.sleep(max(0.0, registered + 20 - time.time()))
        found = violations(central, service, {name: remote for name, _, _ in cases.values()}, GRACE)
        stored = read_stored(central)
        for field, (name, _, second) in cases.items():
            token = stored.tokens.get(name)
            seen[field].update(
                renewed=token is not None and token != seen[field]["token"],
                accepted=token is not None and who(remote, token) == DEPLOYER,
                violations=sorted(v for v in found if v.site == name),
                keys=stored.keys_of(name),
                reflected=[reflects(field, second, stored.keys[key] or {}) for key in stored.keys_of(name)],
                format=registration_format_problems(stored, name),
                listed=site(service, name))
        for field, outcome in seen.items():
            print(f"{field:>24}: answer {outcome['answer'][0]} changed={outcome['answer'][1].get('changed')}, "
                  f"identical again changed={outcome['again'][1].get('changed')}, renewed={outcome['renewed']}, "
                  f"accepted={outcome['accepted']}, keys {outcome['keys']}, violations {len(outcome['violations'])}")
        yield seen
    finally:
        if service is not None:
            service.stop()
        remote.stop()
        central.stop()


@pytest.mark.parametrize("field", ["expirationSeconds", "server", "certificateAuthorityData", "tlsServerName",
                                   "audiences", "bootstrapToken"])
def test_a_managed_site_registered_again_with_another_value_keeps_renewing_under_the_new_registration(
        reregistered, field):
    seen = reregistered[field]
    problems = []
    status, body = seen["answer"]
    if status != 200:
        problems.append(f"registering again answered {status}: {redact(json.dumps(body))}")
    elif body.get("changed") is not True:
        problems.append(f"registering again with another {field} answered changed={body.get('changed')!r}")
    if not seen["renewed"]:
        problems.append("the token in the document was not renewed in the 20 s after the re-registration "
                        f"(lifetimes are {REREGISTRATION_CAP} s)")
    if not seen["accepted"]:
        renewal_error = seen["listed"].get("renewalError")
        problems.append("the token in the document is not accepted by the remote; GET /sites says "
                        f"tokenManagement={seen['listed'].get('tokenManagement')!r}, renewalError={renewal_error}")
    problems += [str(violation) for violation in seen["violations"]]
    if seen["reflected"] != [True]:
        problems.append(f"the Secret should hold one key of the site, with the new {field}: keys {seen['keys']}, "
                        f"holding it: {seen['reflected']}")
    again_status, again = seen["again"]
    if again_status != 200 or again.get("changed") is not False:
        problems.append(f"an identical registration answered {again_status} changed={again.get('changed')!r}")
    problems += seen["format"]
    assert not problems, f"{field} changed:\n  " + "\n  ".join(problems)


# MARK: - 2. Concurrent writers of one name


ROUNDS = 15
CONCURRENT_CAP = 4  # renewed at 3 to 3.2 s: whether a site renews is seen within a round


def test_concurrent_managed_and_static_registrations_and_deletes_of_one_name_never_leave_a_record_without_its_key(
        central, services, remotes):
    """Finding 2: a DELETE or a pasted token's late cleanup deleted a managed PUT's newer
    credential. Each round: the site is managed; then a managed PUT (another registration), a
    static PUT and a DELETE go at once, each after its own random 0-50 ms. Once the round
    settles, I1-I3 hold, and a site that ended managed renews before its token expires."""
    a = remotes("a", cap=CONCURRENT_CAP)
    service = services(*GRACE_ARGS)
    random_ = rng("concurrent")
    name = "contested"
    # The concurrent managed PUT is another registration: it changes the bootstrap credential
    # (which today's binary does not record), so that finding 1 does not mix in.
    bootstraps = [a.bootstrap, a.add_identity(BOOTSTRAP_USER, token=jwt_shaped("bootstrap-a-2"))]
    outcomes, failures = [], []
    for round_ in range(ROUNDS):
        prepared = put_json(service, name, managed_body(a, bootstraps[round_ % 2]))
        assert prepared.status in (200, 201), f"round {round_}: {prepared.status} {redact(prepared.text)}"
        pasted = a.create_token("apps", "deployer", expiration_seconds=3600)
        requests = {
            "managed": ("PUT", managed_body(a, bootstraps[(round_ + 1) % 2])),
            "static": ("PUT", static_body(a, pasted)),
            "delete": ("DELETE", None),
        }
        delays = {kind: random_.uniform(0, 0.05) for kind in requests}
        statuses: dict[str, int] = {}
        barrier = threading.Barrier(len(requests))

        def send(kind):
            method, body = requests[kind]
            barrier.wait()
            time.sleep(delays[kind])
            answer = service.request(method, f"/sites/{name}", token=ADMIN_TOKEN, timeout=30,
                                     headers={"Content-Type": "application/json"} if body else None,
                                     body=json.dumps(body) if body else None)
            statuses[kind] = answer.status

        threads = [threading.Thread(target=send, args=(kind,)) for kind in requests]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        ended = time.time()
        state = listed_state(service, name)
        found, held = settle(lambda final: violations(central, service, {name: a}, GRACE), ended + SETTLE)
        renewed = None
        if state == "managed":
            token = stored_token(central, name)
            expires = claims(token)["exp"] if token else ended

            def renewed_and_accepted():
                current = stored_token(central, name)
                return current not in (None, token) and who(a, current) == DEPLOYER
            renewed = wait_until(renewed_and_accepted, timeout=max(0.0, expires + 0.5 - time.time()), interval=0.1)
        order = " ".join(sorted(requests, key=delays.get))
        outcome = (f"round {round_:2}: {order:22} -> {statuses}, ended {state}, "
                   f"{'settled in %.2f s' % (held - ended) if not found else 'NOT settled'}"
                   + ("" if renewed is None else f", {'renewed' if renewed is not None else 'NOT renewed'}"))
        print(outcome)
        outcomes.append(outcome)
        if found or (state == "managed" and renewed is None):
            failures.append(outcome + lines(found))
    managed_rounds = sum(" ended managed" in outcome for outcome in outcomes)
    print(f"{len(failures)} of {ROUNDS} rounds failed; {managed_rounds} ended managed")
    assert not failures, f"{len(failures)} of {ROUNDS} rounds broke an invariant:\n" + "\n".join(failures)


# MARK: - 3. kill -9


KILLS = 50 if LONG else 10
OPERATIONS = ("register", "reregister", "paste", "delete", "renewal")
CRASH_CAP = 8  # renewal at 6 to 6.4 s


def test_kill_9_anywhere_in_a_put_a_delete_a_renewal_or_a_registration_leaves_no_orphan_past_the_grace_period(
        central, services, remotes):
    """Finding 3. Each kill: a site (new name) in the state the operation needs, the operation
    sent, the service killed with SIGKILL a random time after sending, between just before the
    operation's first write and just after its last (as measured uninterrupted; for a renewal:
    around the renewal point), then started again. Within GRACE plus a sweep interval (plus MARGIN) of the
    restart, I1-I3 hold. Half the kills of each operation run against a slow API server (writes take 0.15 s
    more, TokenRequests 0.3 s), which widens the gaps between writes. Right after each kill, the
    Secret and the document are compared strictly: a new unnamed key or a record without its key
    is a kill that landed between the two writes."""
    remote = remotes("crash", cap=CRASH_CAP)
    random_ = rng("crash")
    plan = [(OPERATIONS[index % len(OPERATIONS)], index // len(OPERATIONS) % 2 == 1) for index in range(KILLS)]
    random_.shuffle(plan)  # each operation as often natural as slow
    service = services(*GRACE_ARGS)
    known = {}

    def slow(on: bool):
        if on:
            central.add_fault(method="PATCH", path=f"/api/v1/namespaces/{NAMESPACE}/", action="delay", seconds=0.15,
                              count=-1)
            remote.add_fault(method="POST", pathRegex="/serviceaccounts/deployer/token$", action="delay", seconds=0.3,
                             count=-1)
        else:
            central.clear_faults()
            remote.clear_faults()

    # A re-registration changes the bootstrap credential: today's binary then keeps renewing (its
    # record does not name the credential), so what a kill does is not mixed up with finding 1.
    other_bootstrap = remote.add_identity(BOOTSTRAP_USER, token=jwt_shaped("bootstrap-crash-2"))

    def operation(op: str):
        if op == "register":
            return "PUT", managed_body(remote)
        if op == "reregister":
            return "PUT", managed_body(remote, other_bootstrap)
        if op == "paste":
            return "PUT", static_body(remote, remote.create_token("apps", "deployer", expiration_seconds=3600))
        return "DELETE", None

    def writes_since(since: float) -> list[float]:
        """When the Secret and the document were written (PATCHes arriving at the API server), in
        seconds after `since`."""
        return [request_time(entry) - since for entry in central.requests()
                if entry["method"] == "PATCH" and entry["path"] in (SECRET_PATH, CONFIGMAP_PATH)
                and request_time(entry) >= since]

    # When each operation writes, uninterrupted, in both modes (twice each): a kill comes at a
    # random time from just before its first write to just after its last.
    windows = {}
    for slowly in (False, True):
        slow(slowly)
        for op in ("register", "reregister", "paste", "delete") * 2:
            name = f"calibration-{op}"
            known[name] = remote
            if op != "register":
                assert put_json(service, name, managed_body(remote)).status == 201
            method, body = operation(op)
            sent = time.time()
            answer = service.request(method, f"/sites/{name}", token=ADMIN_TOKEN, body=json.dumps(body) if body else None,
                                     headers={"Content-Type": "application/json"} if body else None, timeout=30)
            assert answer.status in (200, 201), f"{op}: {answer.status} {redact(answer.text)}"
            writes = writes_since(sent) or [time.time() - sent]
            earlier = windows.get((op, slowly), (writes[0], writes[-1]))
            windows[op, slowly] = (min(earlier[0], writes[0]), max(earlier[1], writes[-1]))
            if op != "delete":
                assert service.request("DELETE", f"/sites/{name}", token=ADMIN_TOKEN).status == 200
        slow(False)
    windows = {key: (max(0.0, first - 0.02), last + 0.03) for key, (first, last) in windows.items()}
    print("write windows (s after sending):",
          {f"{op}{' slow' if s else ''}": f"{first:.3f}-{last:.3f}" for (op, s), (first, last) in windows.items()})

    results, failures = [], []
    carried: set = set()  # what earlier kills left broken (reported with them), so not counted again
    for index, (op, slowly) in enumerate(plan):
        name = f"crash-{index}"
        known[name] = remote
        if op != "register":
            answer = put_json(service, name, managed_body(remote))
            assert answer.status == 201, f"kill {index}: {answer.status} {redact(answer.text)}"
        before = stored_violations(read_stored(central), None)
        slow(slowly)
        if op == "renewal":
            renews = timestamp(site(service, name)["tokenRenewsAt"])
            time.sleep(max(0.0, renews - 0.3 - time.time()))
            delay = random_.uniform(0, 1.5)
            time.sleep(delay)
            kill(service)
        else:
            method, body = operation(op)
            delay = random_.uniform(*windows[op, slowly])
            send_and_kill(service, method, f"/sites/{name}", body, delay)
        time.sleep(0.4)  # writes the slow API server was still holding land
        after_kill = read_stored(central)
        between = stored_violations(after_kill, None) - before
        unnamed = {key for key, entry in after_kill.keys.items()
                   if not names_key(after_kill.records.get(key_site(key)) or {}, key_site(key), key, entry)}
        slow(False)
        restarted = time.time()
        service = services(*GRACE_ARGS)
        found, held = settle(lambda final: violations(central, service, known, GRACE) - carried, restarted + SETTLE)
        # Keys no record named right after the kill that are gone now: removed as orphans (a key
        # whose record a held write named a moment later is not one).
        orphans = unnamed - set(read_stored(central).keys)
        repaired = managed_status(service).get("orphansRemoved") if orphans and not found else None
        results.append({"op": op, "slow": slowly, "between": bool(between), "failed": bool(found)})
        mode = "slow" if slowly else "natural"
        print(f"kill {index:2}: {op:10} {mode:7} after {delay:.3f} s: "
              f"{'between the writes' if between else 'not between writes':18} -> "
              + (f"settled {held - restarted:.2f} s after the restart" if not found else
                 f"{len(found)} violation(s) {SETTLE:.1f} s after the restart")
              + ("" if repaired is None else f"; orphansRemoved={repaired}"))
        if found:
            failures.append(f"kill {index} ({op}, {mode}, {delay:.3f} s after sending):"
                            f"\n    right after the kill:{lines(between, '      ') or ' consistent'}"
                            f"\n    {SETTLE:.1f} s after the restart:{lines(found, '      ')}")
        elif orphans and not repaired:
            failures.append(f"kill {index} ({op}, {mode}): an orphan was removed, but /status "
                            f"managedSites.orphansRemoved is {repaired!r}")
        carried |= found
        service.request("DELETE", f"/sites/{name}", token=ADMIN_TOKEN)
    for op in OPERATIONS:
        for slowly in (False, True):
            mine = [result for result in results if result["op"] == op and result["slow"] == slowly]
            print(f"{op:>10} {'slow' if slowly else 'natural':7}: {len(mine):2} kills, "
                  f"{sum(result['between'] for result in mine):2} between the two writes, "
                  f"{sum(result['failed'] for result in mine):2} not repaired")
    print(f"{len(results)} kills, {sum(result['between'] for result in results)} between the two writes, "
          f"{len(failures)} failed")
    assert not failures, f"{len(failures)} of {len(results)} kills left the lifecycle broken:\n" + "\n".join(failures)


def test_an_orphan_key_survives_the_grace_period_and_a_delete_of_its_name_then_is_removed_and_counted(
        central, services, remotes):
    """What a crash between a registration's two writes leaves: a key whose record was never
    written (here put there by the test, as the service writes one). DELETE of its name has no
    record to act on and removes nothing by name; the key stays while it could be a registration
    in flight (the grace period), then goes, and /status and the metric count it."""
    a = remotes("a")
    service = services(*GRACE_ARGS)
    assert put_json(service, "kept", managed_body(a)).status == 201
    registration = "%016x" % random.getrandbits(64)
    orphan = f"ghost_{registration}"
    created = int(time.time())  # RFC 3339 in whole seconds: the key looks up to 1 s older than it is
    entry = {**{key: value for key, value in managed_body(a).items() if key != "namespace"},
             "registration": registration,
             "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))}
    patched = central.request("PATCH", SECRET_PATH, token=ADMIN_TOKEN,
                              body={"data": {orphan: b64(json.dumps(entry))}},
                              content_type="application/merge-patch+json")
    assert patched.status == 200, patched.status
    kept = secret_keys(central) - {orphan}

    deleted = service.request("DELETE", "/sites/ghost", token=ADMIN_TOKEN)
    print(f"DELETE /sites/ghost (only an orphan key): {deleted.status} {redact(deleted.text)}")
    assert orphan in secret_keys(central), "the orphan went at once: a registration in flight would have lost its key"
    early = wait_until(lambda: orphan not in secret_keys(central), timeout=max(0.0, created + GRACE - 1.2 - time.time()))
    assert early is None, "the orphan went before the grace period: a registration in flight would have lost its key"
    gone = wait_until(lambda: orphan not in secret_keys(central), timeout=max(0.0, created + SETTLE - time.time()))
    assert gone is not None, f"the orphan key is still there {time.time() - created:.1f} s after it was written"
    print(f"the orphan went {time.time() - created:.1f} s after it was written (grace {GRACE} s)")
    assert secret_keys(central) == kept, "another key went with it"
    assert not violations(central, service, {"kept": a}, GRACE)
    status = managed_status(service)
    assert status.get("orphansRemoved", 0) >= 1, f"/status managedSites: {status}"
    # "credentials: <keys in the Secret>": a count or the keys themselves.
    shown = status.get("credentials")
    assert shown == len(kept) or (isinstance(shown, list) and set(shown) == kept), f"/status managedSites: {status}"
    assert (metric(service, "kubeconfig_site_credential_repairs_total", kind="orphan") or 0) >= 1


# MARK: - 4. Dead sites


DEAD_SITES, DEAD_MANAGED = 50, 25
HEALTHY = 3
LIFETIME = 20  # the remotes' cap: renewed at 15 to 16 s
PROBE_INTERVAL, API_TIMEOUT = 2, 3
PERIODS = 6 if LONG else 2


def test_black_holed_sites_delay_neither_the_renewals_nor_the_probes_of_healthy_sites(central, services, remotes):
    """Finding 4. 50 sites behind TCP proxies to one live API server, 25 of them managed, all
    registered while it answers; then every proxy turns into a black hole (accepts, never
    answers). Three healthy managed sites with 20 s lifetimes must each renew within 1 s of the
    tokenRenewsAt GET /sites shows (and before the old token expires), and their probe results
    must never be older than the probe interval plus the API timeout, for PERIODS renewals each."""
    backing = remotes("backing", cap=LIFETIME)
    healthy = {f"healthy-{index}": remotes(f"healthy-{index}", cap=LIFETIME) for index in range(HEALTHY)}
    service = services(*GRACE_ARGS, "--api-timeout", str(API_TIMEOUT), probe_interval=PROBE_INTERVAL)
    with Proxies() as proxies:
        ports = [proxies.add("127.0.0.1", backing.port) for _ in range(DEAD_SITES)]
        pasted = backing.create_token("apps", "deployer", expiration_seconds=3600)
        dead = {f"dead-{index:02d}": port for index, port in enumerate(ports)}
        started = time.time()
        for index, (name, port) in enumerate(dead.items()):
            body = managed_body(backing) if index < DEAD_MANAGED else static_body(backing, pasted)
            answer = put_json(service, name, {**body, "server": f"https://127.0.0.1:{port}"})
            assert answer.status == 201, f"{name}: {answer.status} {redact(answer.text)}"
        for name, remote in healthy.items():
            answer = put_json(service, name, managed_body(remote))
            assert answer.status == 201, f"{name}: {answer.status} {redact(answer.text)}"
        print(f"registered {DEAD_SITES} sites behind proxies and {HEALTHY} healthy ones in {time.time() - started:.1f} s")
        proxies.black_hole(ports)
        holed = time.time()

        tokens: dict[str, list[tuple[str, float]]] = {name: [] for name in healthy}  # (token, first seen)
        shown: dict[str, list[tuple[float, dict]]] = {name: [] for name in healthy}  # (when, GET /sites entry)
        stop = threading.Event()

        def watch_document():
            while not stop.is_set():
                now = time.time()
                current = stored_tokens(central)
                for name in healthy:
                    token = current.get(name)
                    if token and (not tokens[name] or tokens[name][-1][0] != token):
                        tokens[name].append((token, now))
                stop.wait(0.1)

        def watch_sites():
            while not stop.is_set():
                try:
                    listed = sites(service)
                except (OSError, AssertionError):
                    listed = {}
                now = time.time()
                for name in healthy:
                    if name in listed:
                        shown[name].append((now, listed[name]))
                stop.wait(0.25)

        watchers = [threading.Thread(target=watch_document, daemon=True), threading.Thread(target=watch_sites, daemon=True)]
        for watcher in watchers:
            watcher.start()

        def renewals_since_holed(name):
            return sum(1 for _, seen in tokens[name][1:] if seen > holed)
        enough = wait_until(lambda: all(renewals_since_holed(name) >= PERIODS for name in healthy),
                            timeout=PERIODS * LIFETIME + 10, interval=0.5)
        time.sleep(1)
        stop.set()
        for watcher in watchers:
            watcher.join(5)

        # Renewals: when each new token first showed in the document, against the previous token's
        # expiry and its tokenRenewsAt as first shown (GET /sites may show the next token's
        # renewal point while the old token is still in the document, when the new one is minted
        # but not yet written).
        renewals, problems = [], []
        whole_seconds = True
        for name in healthy:
            for (previous, _), (token, seen) in zip(tokens[name], tokens[name][1:]):
                if seen <= holed:
                    continue
                expiry = claims(previous)["exp"]
                renews_at = [entry["tokenRenewsAt"] for _, entry in shown[name]
                             if entry.get("tokenRenewsAt") and timestamp(entry["tokenExpiresAt"]) == expiry]
                if not renews_at:
                    problems.append(f"{name}: no tokenRenewsAt was shown for a token expiring at {expiry}")
                    continue
                whole_seconds &= "." not in renews_at[0]
                renewals.append((name, seen - timestamp(renews_at[0]), expiry - seen))
        # tokenRenewsAt in whole seconds is up to 1 s early; the document is polled every 0.1 s.
        late_limit = 1.0 + (1.0 if whole_seconds else 0.0) + 0.25
        for name, late, left in renewals:
            if late > late_limit:
                problems.append(f"{name}: renewed {late:.2f} s after its tokenRenewsAt (limit {late_limit:.2f} s)")
            if left <= 0:
                problems.append(f"{name}: renewed {-left:.2f} s after the old token expired")
        for name in healthy:
            if renewals_since_holed(name) < PERIODS:
                problems.append(f"{name}: {renewals_since_holed(name)} renewals in {time.time() - holed:.0f} s, "
                                f"expected {PERIODS}")

        # Probe results: at each sample after the black-holing, the age of the newest health.checkedAt
        # seen so far. checkedAt in whole seconds is up to 1 s older than it looks; a healthy probe
        # itself and the GET /sites that reads it take a moment: 0.5 s.
        checks = [(entry.get("health") or {}).get("checkedAt") for name in healthy for _, entry in shown[name]]
        age_limit = PROBE_INTERVAL + API_TIMEOUT + 0.5 + (0.0 if any(c and "." in c for c in checks) else 1.0)
        ages = {}
        for name in healthy:
            newest, worst = None, 0.0
            for when, entry in shown[name]:
                checked = (entry.get("health") or {}).get("checkedAt")
                if checked:
                    newest = max(newest or 0.0, timestamp(checked))
                if newest is not None:
                    worst = max(worst, when - newest)
            ages[name] = worst
            if newest is None:
                problems.append(f"{name}: never probed")
            elif worst > age_limit:
                problems.append(f"{name}: its probe result aged to {worst:.1f} s (limit {age_limit:.1f} s)")
        print(f"{DEAD_SITES} black-holed sites ({DEAD_MANAGED} managed), {HEALTHY} healthy, probes every "
              f"{PROBE_INTERVAL} s, --api-timeout {API_TIMEOUT} s, {time.time() - holed:.0f} s observed"
              f"{'' if enough is not None else ' (not every healthy site renewed ' + str(PERIODS) + ' times)'}")
        print("renewal lateness after tokenRenewsAt (s): "
              + ", ".join(f"{name} {late:+.2f} (old token had {left:.1f} s left)" for name, late, left in renewals))
        print("worst probe-result age (s): " + ", ".join(f"{name} {age:.1f}" for name, age in ages.items())
              + f" (limit {age_limit:.1f})")

        # Every managed site is renewing or says why not: the dead ones' renewal points have passed.
        remotes_of = {**{name: backing for name in dead}, **healthy}
        found = violations(central, service, remotes_of, GRACE)
        problems += [str(violation) for violation in sorted(found)]
        status = managed_status(service)
        not_renewing = {entry.get("site") for entry in status.get("notRenewing") or []}
        listed = sites(service)
        failing = {name for name, entry in listed.items() if entry.get("renewalError")}
        for name in sorted(failing & set(healthy)):
            error = listed[name]["renewalError"]
            problems.append(f"{name} (healthy) shows renewalError {error.get('code')}: {redact(str(error.get('message')))}")
        print(f"GET /sites: {len(failing)} sites with a renewalError; /status notRenewing: {len(not_renewing)}")
        if not_renewing != failing:
            problems.append(f"/status managedSites.notRenewing {sorted(not_renewing)} is not the sites with a "
                            f"renewalError {sorted(failing)}")
        if not_renewing & set(healthy):
            problems.append(f"healthy sites listed as not renewing: {sorted(not_renewing & set(healthy))}")
        gauge = metric(service, "kubeconfig_managed_sites_not_renewing")
        if gauge != len(not_renewing):
            problems.append(f"kubeconfig_managed_sites_not_renewing is {gauge}, /status lists {len(not_renewing)}")
    assert not problems, "\n".join(problems)

