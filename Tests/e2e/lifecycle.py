"""The managed-site lifecycle's invariants, as the end-to-end tests check them against the real
state (the central API server's credentials Secret and document ConfigMap, and each site's own
API server), and the tools the lifecycle tests need: sites that go dead behind TCP proxies, and
kill -9 in the middle of a request.

The credentials Secret holds one key per registration, `<site>_<registration>` (16 lowercase hex
digits), whose value is JSON with the bootstrap credential, what to ask for, `registration` and
`createdAt`. The document's ConfigMap carries each managed site's token record (annotation
`kubeconfig-service.onap.org/token.<site>`) whose `credential` names the registration.

    I1  every record with a `credential` names a key `<site>_<credential>` present in the Secret;
    I2  every key of the Secret is named by its site's record, unless it is younger than the
        grace period (a registration in flight);
    I3  every managed site is renewing: its token in the document is accepted by its remote and
        its tokenRenewsAt is not past (give or take the second the spec allows), or GET /sites
        shows a renewalError for it.

A key named just `<site>` is a legacy one (what the binary wrote before registrations had ids):
the record names it by the fingerprint that binary computed (`legacy_fingerprint`). Reading it
lets these checks report what goes wrong with today's binary, rather than only that its keys
have the old names.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import signal
import threading
import time
from dataclasses import dataclass, field

import yaml
from kubeapi import ADMIN_TOKEN

from managed import DEPLOYER, RECORD_PREFIX, SECRET, timestamp, who
from redaction import load_json, redact
from support import CONFIGMAP, NAMESPACE

REGISTRATION_KEY = re.compile(r"^(?P<site>[a-z0-9]([a-z0-9.-]*[a-z0-9])?)_(?P<registration>[0-9a-f]{16})$")

# The spec lets a healthy site renew up to 1 s after its tokenRenewsAt; GET /sites may show that
# time in whole seconds (up to 1 s early), and the snapshot takes a moment to read.
RENEWAL_SLACK = 1.0 + 1.0 + 0.5


def sweep_interval(grace: float) -> float:
    """How often the service looks for orphans: a third of the grace period, but not more often
    than every second (how this suite reads "about every third of it (at least every second)")."""
    return max(grace / 3, 1.0)


# MARK: - What the central cluster holds


@dataclass
class Stored:
    """The credentials Secret and the document as they were at one moment (read so that neither
    changed in between: see `read_stored`)."""
    keys: dict[str, dict | None]          # key -> its JSON (None when it is not JSON)
    records: dict[str, dict]              # site -> its token record
    tokens: dict[str, str | None]         # user entry -> its token
    resource_versions: tuple[str, str]    # (ConfigMap, Secret)
    at: float = field(default_factory=time.time)

    def keys_of(self, site: str) -> list[str]:
        return [key for key in self.keys if key_site(key) == site]

    def managed_sites(self) -> set[str]:
        return {site for site, record in self.records.items() if record.get("credential")}


def key_site(key: str) -> str:
    """The site a key of the Secret belongs to: `<site>_<registration>`, or a legacy `<site>`."""
    match = REGISTRATION_KEY.match(key)
    return match["site"] if match else key


def key_registration(key: str) -> str | None:
    match = REGISTRATION_KEY.match(key)
    return match["registration"] if match else None


def read_stored(central, attempts: int = 20) -> Stored:
    """The Secret and the ConfigMap, read as ConfigMap, Secret, ConfigMap until the ConfigMap did
    not change in between: the Secret then was read while the document was the one read, so the
    pair is a state that existed (two plain reads may straddle a write and show one that did not)."""
    for _ in range(attempts):
        before = central.get_configmap(NAMESPACE, CONFIGMAP) or {}
        secret = central.get_secret(NAMESPACE, SECRET) or {"data": {}, "metadata": {}}
        after = central.get_configmap(NAMESPACE, CONFIGMAP) or {}
        version = (before.get("metadata") or {}).get("resourceVersion")
        if version == (after.get("metadata") or {}).get("resourceVersion"):
            break
    else:
        raise AssertionError(f"the document kept changing over {attempts} reads")
    keys = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            keys[key] = json.loads(value)
        except (TypeError, ValueError):
            keys[key] = None
    annotations = (after.get("metadata") or {}).get("annotations") or {}
    records = {}
    for name, value in annotations.items():
        if name.startswith(RECORD_PREFIX):
            try:
                records[name[len(RECORD_PREFIX):]] = json.loads(value)
            except ValueError:
                records[name[len(RECORD_PREFIX):]] = {"unreadable": True}
    document = yaml.safe_load((after.get("data") or {}).get("kubeconfig") or "") or {}
    tokens = {user.get("name"): (user.get("user") or {}).get("token") for user in document.get("users") or []}
    return Stored(keys, records, tokens, (version, (secret.get("metadata") or {}).get("resourceVersion")))


def legacy_fingerprint(entry: dict) -> str:
    """How the binary before registration ids named a credential in its record: the first 12 hex
    digits of the SHA-256 of its server, CA, server name and token request (ManagedCredential.fingerprint)."""
    request = entry.get("tokenRequest") or {}
    parts = [entry.get("server") or "", entry.get("certificateAuthorityData") or "", entry.get("tlsServerName") or "",
             request.get("namespace") or "", request.get("serviceAccount") or "",
             str(request.get("expirationSeconds"))] + sorted(request.get("audiences") or [])
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def names_key(record: dict, site: str, key: str, entry: dict | None) -> bool:
    """Whether `record` (the site's token record) names `key` of the Secret."""
    credential = record.get("credential")
    if not credential or key_site(key) != site:
        return False
    if key == f"{site}_{credential}":
        return True
    return key == site and entry is not None and legacy_fingerprint(entry) == credential


# MARK: - The invariants


@dataclass(frozen=True, order=True)
class Violation:
    """One broken invariant, stable across reads (no ages, no tokens) so that sets of them compare."""
    invariant: str
    site: str
    detail: str

    def __str__(self):
        return f"{self.invariant} {self.site}: {self.detail}"


def stored_violations(stored: Stored, grace: float | None) -> set[Violation]:
    """I1 and I2 in one snapshot. `grace` None: strictly, every unnamed key is a violation (what
    a state right after a kill is measured with); otherwise keys younger than it are in flight."""
    found = set()
    for site, record in stored.records.items():
        credential = record.get("credential")
        if not credential:
            continue
        if not any(names_key(record, site, key, entry) for key, entry in stored.keys.items()):
            found.add(Violation("I1", site, f"its record names registration {credential}, which has no key "
                                            f"in the Secret (keys of the site: {sorted(stored.keys_of(site))})"))
    for key, entry in stored.keys.items():
        site = key_site(key)
        record = stored.records.get(site) or {}
        if names_key(record, site, key, entry):
            continue
        created = (entry or {}).get("createdAt") if isinstance(entry, dict) else None
        if grace is not None and created:
            try:
                if stored.at - timestamp(created) < grace:
                    continue  # a registration in flight
            except ValueError:
                pass
        named = record.get("credential")
        found.add(Violation("I2", site, f"key {key} is named by no record (the site's record names "
                                        f"{named or 'nothing'}{'' if created else '; the key has no createdAt'})"))
    return found


def renewing_violations(service, stored: Stored, remotes: dict) -> set[Violation]:
    """I3: each managed site (GET /sites says so, or its record names a registration) is renewing
    or shows why not. `remotes` maps a site to the API server that must accept its token."""
    answer = service.request("GET", "/sites", token=ADMIN_TOKEN)
    assert answer.status == 200, f"GET /sites: {answer.status} {redact(answer.text)}"
    listed = {entry["name"]: entry for entry in load_json(answer.body)["sites"]}
    managed = {name for name, entry in listed.items() if entry.get("tokenManagement") == "managed"}
    managed |= stored.managed_sites()
    found = set()
    now = time.time()
    for name in sorted(managed):
        entry = listed.get(name)
        if entry is None:
            found.add(Violation("I3", name, "its record names a registration, but GET /sites does not list it"))
            continue
        if entry.get("renewalError"):
            continue  # not renewing, and saying so
        if entry.get("tokenManagement") != "managed":
            found.add(Violation("I3", name, f"its record names a registration but GET /sites says "
                                            f"{entry.get('tokenManagement')!r}"))
            continue
        remote = remotes.get(name)
        if remote is None:
            raise AssertionError(f"the test knows no remote for managed site {name}")
        token = stored.tokens.get(entry.get("user") or name)
        if not token or who(remote, token) != DEPLOYER:
            found.add(Violation("I3", name, "its token is not accepted by its remote, and GET /sites shows "
                                            "no renewalError"))
        elif not entry.get("tokenRenewsAt"):
            found.add(Violation("I3", name, "GET /sites shows no tokenRenewsAt and no renewalError"))
        elif timestamp(entry["tokenRenewsAt"]) < now - RENEWAL_SLACK:
            found.add(Violation("I3", name, "its tokenRenewsAt is past and GET /sites shows no renewalError"))
    return found


def violations(central, service=None, remotes: dict | None = None, grace: float | None = None) -> set[Violation]:
    """I1 and I2 (and I3 with a service and the sites' remotes) as they hold now."""
    stored = read_stored(central)
    found = stored_violations(stored, grace)
    if service is not None:
        found |= renewing_violations(service, stored, remotes or {})
    return found


def settle(check, deadline: float, interval: float = 0.1) -> tuple[set[Violation], float]:
    """Polls `check(final)` until it finds nothing, or until `deadline` (time.time()), when it is
    called a last time with final=True. Returns what that found and when it first held (or the
    deadline)."""
    while True:
        final = time.time() >= deadline
        found = check(final)
        if not found or final:
            return found, time.time()
        time.sleep(interval)


# MARK: - What the service reports


def managed_status(service) -> dict:
    """`GET /status`'s `managedSites` ({} when absent)."""
    answer = service.request("GET", "/status", token=ADMIN_TOKEN)
    assert answer.status == 200, f"GET /status: {answer.status}"
    return load_json(answer.body).get("managedSites") or {}


def registration_format_problems(stored: Stored, site: str) -> list[str]:
    """What is not as the spec writes a registration's key and value, for `site`'s keys."""
    problems = []
    for key in stored.keys_of(site):
        entry = stored.keys[key]
        if not REGISTRATION_KEY.match(key):
            problems.append(f"key {key} is not <site>_<16 hex digits>")
            continue
        if not isinstance(entry, dict):
            problems.append(f"key {key} does not hold JSON")
            continue
        if entry.get("registration") != key_registration(key):
            problems.append(f"key {key} holds registration {entry.get('registration')!r}")
        try:
            timestamp(entry.get("createdAt") or "")
        except ValueError:
            problems.append(f"key {key} has no RFC 3339 createdAt")
        missing = {"bootstrapToken", "tokenRequest", "server", "certificateAuthorityData"} - set(entry)
        if missing:
            problems.append(f"key {key} lacks {sorted(missing)}")
    return problems


# MARK: - kill -9


def send_and_kill(service, method: str, path: str, body: dict | None, delay: float):
    """Sends a request (as the admin), waits `delay` seconds, then kills the service with SIGKILL
    whether or not it answered."""
    connection = service.connection(timeout=10)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        time.sleep(delay)
        kill(service)
    finally:
        connection.close()


def kill(service):
    """SIGKILL: no handler runs, nothing is flushed or cleaned up."""
    os.kill(service.process.pid, signal.SIGKILL)
    service.stop()


# MARK: - Sites that go dead


class Proxies:
    """TCP proxies on loopback, each forwarding to a target until it is black-holed: from then on
    it accepts connections and reads what comes, but never answers and never closes, and its
    connections already open go silent too (a host that died behind a live network path). Each
    proxy has a port of its own; the API test server's certificate names 127.0.0.1, so a site
    behind a proxy verifies as its target does. One asyncio loop in a thread serves them all."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.dead: set[int] = set()
        self._servers = []
        self._connections = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def add(self, target_host: str, target_port: int) -> int:
        """A new proxy to the target; returns its port."""
        return self._call(self._listen(target_host, target_port))

    def black_hole(self, ports):
        """Switches these proxies (ports) to accept-and-never-answer, open connections included."""
        self._call(self._set_dead(set(ports)))

    def close(self):
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _set_dead(self, ports):
        self.dead |= ports

    async def _close(self):
        for server in self._servers:
            server.close()
        # Connections accepted just before may start their handlers after a first round of cancels.
        for _ in range(10):
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            if not tasks:
                break
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0.01)

    async def _listen(self, target_host, target_port):
        async def serve(reader, writer):
            await self._serve(reader, writer, (target_host, target_port))
        server = await asyncio.start_server(serve, self.host, 0)
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def _serve(self, reader, writer, target):
        port = writer.get_extra_info("sockname")[1]
        upstream = None
        # asyncio holds a client connection's StreamReader weakly: without this strong reference, a
        # connection waiting on a silent upstream is garbage ("Task was destroyed but it is pending").
        self._connections.add(asyncio.current_task())
        try:
            if port not in self.dead:
                try:
                    up_reader, upstream = await asyncio.open_connection(*target)
                except OSError:
                    return
                await asyncio.gather(self._pump(reader, upstream, port), self._pump(up_reader, writer, port))
            else:
                while await reader.read(65536):
                    pass  # swallowed
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(asyncio.current_task())
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()

    async def _pump(self, source, destination, port):
        """Copies source to destination while the proxy lives; once dead, reads and drops. A dead
        proxy never closes its client's side: the client must find out by its own timeout."""
        try:
            while data := await source.read(65536):
                if port in self.dead:
                    continue
                destination.write(data)
                await destination.drain()
        except OSError:
            pass
        if port not in self.dead:
            destination.close()
        # Dead: hold on (the other direction keeps swallowing) until the client gives up.


def b64(text: str | bytes) -> str:
    return base64.b64encode(text if isinstance(text, bytes) else text.encode()).decode()
