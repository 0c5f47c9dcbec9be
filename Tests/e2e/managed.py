"""Managed remote sites, as the end-to-end tests drive them: the central cluster (the document's
ConfigMap and the credentials Secret), remote clusters whose deployer tokens the service issues
with a narrow bootstrap credential, the service started with the Secret, and what each of them
holds or says. test_managed_sites.py and test_lifecycle.py use these; their fixtures are in
conftest.py.

Each remote site is another instance of the project's Kubernetes API test server on loopback,
with its own CA, holding the account `apps/deployer` (which may read ConfigMaps in `apps`, where
one waits to be read) and a bootstrap identity that may do exactly one thing: create tokens for
that account. The central API server holds the document's ConfigMap and the credentials Secret
(`--credentials-secret`), which the service may only get and patch, by name.

Bootstrap and issued tokens are JWT-shaped, so redaction.redact hides them; texts that hold one
are turned into booleans before they are asserted on, and scrub() hides the rest.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
import time
import urllib.parse
from pathlib import Path

import yaml
from kubeapi import ADMIN_TOKEN, KubeAPIServer

from loopback import Service
from redaction import load_json, redact
from support import CONFIGMAP, CONFIGMAP_PATH, NAMESPACE

SECRET = "site-credentials"
SERVICE_USER = f"system:serviceaccount:{NAMESPACE}:kubeconfig-service"
DEPLOYER = "system:serviceaccount:apps:deployer"
BOOTSTRAP_USER = "bootstrap"
STRANGER_USER = "stranger"
RECORD_PREFIX = "kubeconfig-service.onap.org/token."

# MARK: - Credentials


def jwt_shaped(subject: str) -> str:
    """A random token shaped like a JWT (so that redact() hides it), without an `exp`."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return ".".join([part({"alg": "none"}), part({"sub": subject, "nonce": secrets.token_hex(16)}),
                     secrets.token_urlsafe(24)])


def scrub(text: str, *known: str) -> str:
    """redact(), and every known credential replaced too."""
    for value in known:
        if value:
            text = text.replace(value, "<credential>")
    return redact(text)


# MARK: - Starting them


def start_central(state_dir: Path, rules: list | None = None, **config) -> KubeAPIServer:
    """The service's own cluster: the document's ConfigMap and the credentials Secret, created
    empty (the service never creates it), which the service may get and patch by name only;
    `rules` and `config` (the API test server's) add to it."""
    server = KubeAPIServer(state_dir, config={"rules": [
        {"user": SERVICE_USER, "verbs": ["get", "patch"], "resources": ["secrets"], "namespaces": [NAMESPACE],
         "resourceNames": [SECRET]},
        *(rules or []),
    ], **config}).start()
    server.put_configmap(NAMESPACE, CONFIGMAP, {})
    server.put_secret(NAMESPACE, SECRET, {})
    return server


def start_remote(state_dir: Path, name: str, cap: int | None = None, host: str = "127.0.0.1") -> KubeAPIServer:
    """A remote cluster with `.bootstrap` (only allowed to create deployer tokens) and `.stranger`
    (authenticates, may do nothing); `cap` caps the lifetime of the tokens it issues."""
    bootstrap, stranger = jwt_shaped(f"bootstrap-{name}"), jwt_shaped(f"stranger-{name}")
    config = {
        "serviceAccounts": [{"namespace": "apps", "name": "deployer"}, {"namespace": "apps", "name": "other"}],
        "configmaps": [{"namespace": "apps", "name": "workload", "data": {"site": name}}],
        "identities": {bootstrap: {"username": BOOTSTRAP_USER}, stranger: {"username": STRANGER_USER}},
        "rules": [
            {"user": BOOTSTRAP_USER, "verbs": ["create"], "resources": ["serviceaccounts/token"],
             "namespaces": ["apps"], "resourceNames": ["deployer"]},
            {"user": DEPLOYER, "verbs": ["get", "list"], "resources": ["configmaps"], "namespaces": ["apps"]},
        ],
    }
    if cap is not None:
        config["maxTokenExpirationSeconds"] = cap
    server = KubeAPIServer(state_dir, host=host, config=config).start()
    server.bootstrap, server.stranger, server.site_name = bootstrap, stranger, name
    return server


def start_service(central: KubeAPIServer, *args, credentials: bool = True, probe_interval: int = 1) -> Service:
    """`serve` on `central` with the credentials Secret, probing every `probe_interval` seconds; ready."""
    extra = ["--credentials-secret", SECRET] if credentials else []
    service = Service(central, *extra, "--site-probe-interval", str(probe_interval), *args).start()
    try:
        service.wait_ready()
    except BaseException:
        service.stop()
        raise
    return service


# MARK: - Registration


def ca_data(remote: KubeAPIServer) -> str:
    return base64.b64encode(remote.ca_file.read_bytes()).decode()


def managed_body(remote: KubeAPIServer, bootstrap: str | None = None, *, drop=(), **token_request) -> dict:
    """A JSON registration with a tokenRequest for apps/deployer; `drop` removes top-level fields."""
    body = {"server": remote.url, "certificateAuthorityData": ca_data(remote), "namespace": "apps",
            "bootstrapToken": bootstrap or remote.bootstrap,
            "tokenRequest": {"serviceAccount": "deployer", "namespace": "apps", "expirationSeconds": 3600,
                             **token_request}}
    return {key: value for key, value in body.items() if key not in drop}


def put_json(service, name: str, body, token: str = ADMIN_TOKEN, query: str = ""):
    return service.request("PUT", f"/sites/{name}{query}", token=token, headers={"Content-Type": "application/json"},
                           body=body if isinstance(body, str) else json.dumps(body))


def put_kubeconfig(service, name: str, remote: KubeAPIServer, tmp_path, query: dict | list | None = None,
                   bootstrap: str | None = None):
    """A one-context kubeconfig whose user is the bootstrap credential, with `?serviceAccount=...`."""
    path = remote.write_kubeconfig(tmp_path / f"{name}-{time.monotonic_ns()}.kubeconfig",
                                   token=bootstrap or remote.bootstrap, namespace="apps")
    pairs = query if query is not None else {"serviceAccount": "deployer", "expirationSeconds": "3600"}
    encoded = urllib.parse.urlencode(pairs)
    return service.request("PUT", f"/sites/{name}" + (f"?{encoded}" if encoded else ""), token=ADMIN_TOKEN,
                           headers={"Content-Type": "application/yaml"}, body=path.read_text())


# MARK: - What the service shows


def outputs(service, *extra_sites: str) -> dict[str, str]:
    """Everything the service says besides the document: logs, metrics, status, the site list and
    each site."""
    listed = service.request("GET", "/sites", token=ADMIN_TOKEN)
    collected = {
        "logs": service.logs,
        "/metrics": service.request("GET", "/metrics").text,
        "/status": service.request("GET", "/status", token=ADMIN_TOKEN).text,
        "/sites": listed.text,
        "/healthz": service.request("GET", "/healthz").text,
        "/readyz": service.request("GET", "/readyz").text,
    }
    names = {entry["name"] for entry in load_json(listed.body)["sites"]} | set(extra_sites)
    for name in names:
        collected[f"/sites/{name}"] = service.request("GET", f"/sites/{name}", token=ADMIN_TOKEN).text
    return collected


def sites(service) -> dict:
    answer = service.request("GET", "/sites", token=ADMIN_TOKEN)
    assert answer.status == 200, redact(answer.text)
    return {site["name"]: site for site in load_json(answer.body)["sites"]}


def site(service, name: str) -> dict:
    answer = service.request("GET", f"/sites/{name}", token=ADMIN_TOKEN)
    assert answer.status == 200, f"{answer.status} {redact(answer.text)}"
    return load_json(answer.body)


def renewal_error(service, name: str) -> dict | None:
    return site(service, name).get("renewalError")


def timestamp(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# MARK: - What the central cluster holds


def configmap(central) -> dict:
    return central.get_configmap(NAMESPACE, CONFIGMAP) or {}


def stored_tokens(central) -> dict[str, str]:
    """Each user entry's token in the stored document, by user name."""
    text = (configmap(central).get("data") or {}).get("kubeconfig") or ""
    return {user.get("name"): (user.get("user") or {}).get("token")
            for user in (yaml.safe_load(text) or {}).get("users") or []}


def stored_token(central, name: str) -> str | None:
    return stored_tokens(central).get(name)


def records(central) -> dict[str, dict]:
    """The token records on the ConfigMap, by site."""
    annotations = configmap(central).get("metadata", {}).get("annotations") or {}
    return {key[len(RECORD_PREFIX):]: json.loads(value) for key, value in annotations.items()
            if key.startswith(RECORD_PREFIX)}


def credentials(central) -> dict[str, dict]:
    """The credentials Secret's entries, decoded, by site (a key is `<site>_<registration>`; where
    a site has several, the one its record names)."""
    secret = central.get_secret(NAMESPACE, SECRET) or {}
    named = {site: record.get("credential") for site, record in records(central).items()}
    entries: dict[str, dict] = {}
    for key, value in sorted((secret.get("data") or {}).items()):
        site = key.split("_")[0]
        entry = json.loads(value)
        if site not in entries or entry.get("registration") == named.get(site):
            entries[site] = entry
    return entries


def document_writes(central) -> list[dict]:
    return [entry for entry in central.requests()
            if entry["path"] == CONFIGMAP_PATH and entry["method"] == "PATCH" and entry["code"] == 200]


# MARK: - What the remote cluster says


def who(remote, token: str) -> str | None:
    """Who the remote says `token` is (TokenReview by its admin), None when it is not valid."""
    answer = remote.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", token=ADMIN_TOKEN,
                            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                  "spec": {"token": token}})
    status = answer.json().get("status") or {}
    return status.get("user", {}).get("username") if status.get("authenticated") else None


def issued(remote) -> list[dict]:
    """The deployer's tokens the bootstrap credential was granted (the service's), oldest first."""
    return [entry for entry in remote.token_requests("apps", "deployer")
            if entry["user"] == BOOTSTRAP_USER and entry["code"] == 201]


def bootstrap_requests(remote) -> list[dict]:
    return [entry for entry in remote.requests() if entry["user"] == BOOTSTRAP_USER]


def request_time(entry: dict) -> float:
    return datetime.datetime.fromisoformat(entry["time"]).timestamp()



# MARK: - Sampling


class Sampler:
    """Samples the stored token of each site in the background: the tokens in the order they were
    stored (a token coming back is listed again: flapping), when each first appeared, and how
    many samples the site's remote did not accept as the deployer."""

    def __init__(self, central, remotes: dict, interval: float = 0.2, check=True):
        self.central, self.remotes, self.interval, self.check = central, remotes, interval, check
        self.order = {name: [] for name in remotes}
        self.first_seen: dict[str, float] = {}
        self.invalid = {name: 0 for name in remotes}
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
                pass
            self._stop.wait(self.interval)

    def _sample(self):
        tokens = stored_tokens(self.central)
        now = time.time()
        self.samples += 1
        for name, remote in self.remotes.items():
            token = tokens.get(name)
            if token is None:
                continue
            order = self.order[name]
            if token not in self.first_seen:
                self.first_seen[token] = now
                order.append(token)
            elif order[-1] != token:
                order.append(token)
            if self.check and who(remote, token) != DEPLOYER:
                self.invalid[name] += 1

    def renewals(self, name: str) -> int:
        return max(0, len(self.order[name]) - 1)

