"""The chart and the binary agree: the Deployment Helm renders, with exactly the rights its Roles
and bindings grant, runs the real binary to a published, issued token against the local API test
server. A flag the binary does not take, or a right the chart forgot, fails here. So does a
managed remote site registered with deploy/docs/MANAGED-SITES.md's own commands (its caller's
token, its bodies), against a remote API test server whose bootstrap account has exactly the
rights of deploy/examples/bootstrap-rbac.yaml. Callers present tokens issued for the audience the
chart renders (--auth-token-audience), as deploy/docs/TOKEN-AUDIENCE.md tells them to; the publish
hook's projected token does.

Run after the binary is built (scripts/test.sh does): KUBECONFIG_SERVICE_BIN names it.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeapi import ADMIN_TOKEN, KubeAPIServer
from loopback import Service, wait_until
from rendering import (BOOTSTRAP_RBAC, DEPLOYER_NAME as DEPLOYER, FULLNAME, HOOK_NAME as HOOK, NAMESPACE,
                       SITE_CREDENTIALS, ManagedRegistration, render_chart)

# An operator's account that may read and change the document, as a caller of the service.
OPERATOR = "operator"
# What system:auth-delegator grants, for a ClusterRoleBinding to it.
AUTH_DELEGATOR = [{"verbs": ["create"], "resources": ["tokenreviews", "subjectaccessreviews"]}]


def rules_granted(objects: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    """The Roles bound to `user` by RoleBindings, and auth-delegator by a ClusterRoleBinding, as
    the API test server's rules (it has no Role objects of its own)."""
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Role"}
    granted = []
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        bound = any(f"system:serviceaccount:{s.get('namespace', NAMESPACE)}:{s['name']}" == user
                    for s in binding["subjects"] if s["kind"] == "ServiceAccount")
        if not bound:
            continue
        reference = binding["roleRef"]
        if reference["kind"] == "ClusterRole":
            assert reference["name"] == "system:auth-delegator", reference
            granted += [{"user": user, **rule} for rule in AUTH_DELEGATOR]
            continue
        for rule in roles[reference["name"]]["rules"]:
            assert rule["apiGroups"] == [""], rule
            granted.append({"user": user, "verbs": rule["verbs"], "resources": rule["resources"],
                            "namespaces": [NAMESPACE],
                            **({"resourceNames": rule["resourceNames"]} if "resourceNames" in rule else {})})
    return granted


def rendered_args(objects: list[dict[str, Any]]) -> list[str]:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "serve", args
    return args


def caller_audiences(objects: list[dict[str, Any]]) -> list[str]:
    """The audiences callers' tokens must be issued for (--auth-token-audience), as rendered."""
    args = rendered_args(objects)
    return [value for flag, value in zip(args, args[1:]) if flag == "--auth-token-audience"]


def service_args(objects: list[dict[str, Any]]) -> list[str]:
    """The container's args, less what the test sets itself (where to listen, how to log)."""
    args = rendered_args(objects)
    kept, skip = [], {"--address", "--port", "--log-format"}
    pairs = iter(args[1:])
    for flag in pairs:
        value = next(pairs)
        if flag not in skip:
            kept += [flag, value]
    return kept


class RenderedService:
    """The chart's Deployment run against the API test server, with the rights its Roles grant
    (to the service's account and the hook's). `caller` is a token a client would present: an
    operator's account that may get and patch the document, issued for the rendered audience."""

    def __init__(self, objects: list[dict[str, Any]], tmp_path: Path, document_object: tuple[str, str]):
        self.objects, self.resource, self.name = objects, *document_object
        self.service_user = f"system:serviceaccount:{NAMESPACE}:{FULLNAME}"
        self.hook_user = f"system:serviceaccount:{NAMESPACE}:{HOOK}"
        operator = {"user": f"system:serviceaccount:{NAMESPACE}:{OPERATOR}", "verbs": ["get", "patch"],
                    "resources": [self.resource], "namespaces": [NAMESPACE], "resourceNames": [self.name]}
        rules = [{"group": "system:masters", "verbs": ["*"], "resources": ["*"]}, operator,
                 *rules_granted(objects, self.service_user), *rules_granted(objects, self.hook_user)]
        accounts = [o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"] + [OPERATOR]
        assert DEPLOYER in accounts, accounts
        self.api = KubeAPIServer(tmp_path / "api", config={
            "serviceAccount": {"namespace": NAMESPACE, "name": FULLNAME}, "defaultRules": False, "rules": rules,
            "serviceAccounts": [{"namespace": NAMESPACE, "name": name} for name in accounts if name != FULLNAME],
        })
        self.service: Service | None = None
        self.caller = ""

    def __enter__(self) -> "RenderedService":
        self.api.start()
        try:
            # The test server stands in for Helm: every ConfigMap and Secret the chart renders
            # (the document's object, the managed sites' credentials Secret) is created as
            # rendered, empty. The service creates neither.
            created = []
            for o in self.objects:
                if o["kind"] in ("ConfigMap", "Secret"):
                    assert not {"data", "binaryData", "stringData"} & set(o), o
                    fields = {k: v for k, v in o["metadata"].items() if k in ("labels", "annotations")}
                    if o["kind"] == "Secret":
                        self.api.put_secret(NAMESPACE, o["metadata"]["name"], {}, type=o["type"], **fields)
                    else:
                        self.api.put_configmap(NAMESPACE, o["metadata"]["name"], {}, **fields)
                    created.append(("secrets" if o["kind"] == "Secret" else "configmaps", o["metadata"]["name"]))
            assert (self.resource, self.name) in created, created
            self.service = Service(self.api, *service_args(self.objects)).start()
            self.service.wait_ready(timeout=20)
            # kubectl -n onap create token operator --audience <the rendered audience>
            self.caller = self.api.create_token(NAMESPACE, OPERATOR, audiences=caller_audiences(self.objects) or None)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: Any) -> None:
        if self.service is not None:
            self.service.stop()
        self.api.stop()


@pytest.mark.parametrize("values, document_object", [
    ({}, ("configmaps", "multisite-kubeconfig-configmap")),
    ({"storage": "secret"}, ("secrets", "multisite-kubeconfig-secret")),
    ({"siteCredentials": {"enabled": False}}, ("configmaps", "multisite-kubeconfig-configmap")),
], ids=["configmap", "secret", "site-credentials-off"])
def test_the_rendered_deployment_publishes_an_issued_token_with_only_the_charts_rights(
        chart, tmp_path, values, document_object):
    objects = render_chart(chart, values).objects
    credentials = values.get("siteCredentials", {}).get("enabled", True)
    assert ("--credentials-secret" in service_args(objects)) == credentials
    assert any(o["kind"] == "Secret" and o["metadata"]["name"] == SITE_CREDENTIALS for o in objects) == credentials
    with RenderedService(objects, tmp_path, document_object) as run:
        api, service, (resource, name) = run.api, run.service, document_object
        stored = api.request("GET", f"/api/v1/namespaces/{NAMESPACE}/{resource}/{name}", token=ADMIN_TOKEN).json()
        text = stored["data"]["kubeconfig"]
        document = yaml.safe_load(base64.b64decode(text) if resource == "secrets" else text)
        token = document["users"][0]["user"]["token"]
        review = api.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", token=ADMIN_TOKEN,
                             body={"spec": {"token": token}}).json()["status"]
        assert review["user"]["username"] == f"system:serviceaccount:{NAMESPACE}:{DEPLOYER}"
        status = service.request("GET", "/status", token=run.caller).json()
        assert status["tokenSource"] == "TokenRequest" and status.get("lastError") is None, json.dumps(status)
        # Nothing the service asked for was refused: its rights are enough, as rendered.
        refused = [entry for entry in api.requests() if entry["user"] == run.service_user and entry["code"] == 403]
        assert refused == [], refused


def hook_token_audience(objects: list[dict[str, Any]]) -> str | None:
    """The audience of the token the publish hook's pod mounts (its projected volume), None when
    it uses the automounted one."""
    job = next(o for o in objects if o["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    sources = [source["serviceAccountToken"] for volume in pod.get("volumes", [])
               for source in volume.get("projected", {}).get("sources", []) if "serviceAccountToken" in source]
    assert len(sources) <= 1 and bool(sources) != pod["automountServiceAccountToken"], pod
    return sources[0]["audience"] if sources else None


@pytest.mark.parametrize("values", [{}, {"authTokenAudiences": []}], ids=["audience", "audience-off"])
def test_the_publish_hooks_token_is_accepted_and_others_are_not(chart, tmp_path, values):
    """The hook's POST works with the token its pod gets as rendered (the kubelet issues a
    projected token for the hook's account and audience: TokenRequest here). With the audience
    check, the hook account's ordinary token, the admin's static token and a token for another
    audience get the service's 401; without it, the ordinary token publishes."""
    objects = render_chart(chart, values).objects
    audience = hook_token_audience(objects)
    assert caller_audiences(objects) == ([] if values else [FULLNAME]) and audience == (None if values else FULLNAME)
    with RenderedService(objects, tmp_path, ("configmaps", "multisite-kubeconfig-configmap")) as run:
        api, service = run.api, run.service
        hook_token = api.create_token(NAMESPACE, HOOK, expiration_seconds=600,
                                      audiences=[audience] if audience else None)
        published = service.request("POST", "/sites/central", token=hook_token)
        assert published.status == 200, published
        ordinary = api.create_token(NAMESPACE, HOOK)  # the automounted kind: the API server's audience
        elsewhere = api.create_token(NAMESPACE, HOOK, audiences=["vault"])
        expected = {"ordinary": 401 if audience else 200, "admin": 401 if audience else 200, "elsewhere": 401}
        got = {name: service.request("POST", "/sites/central", token=token).status
               for name, token in (("ordinary", ordinary), ("admin", ADMIN_TOKEN), ("elsewhere", elsewhere))}
        assert got == expected
        if audience:
            refused = service.request("POST", "/sites/central", token=ordinary).json()["error"]["message"]
            assert refused == f"the bearer token is not valid for this service's audience ({FULLNAME})"


def exposition(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text exposition as (name, labels, value) samples."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?', line)
        assert match, line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def test_the_binary_exposes_every_series_the_alerts_read(chart, tmp_path):
    """The PrometheusRule and the binary agree: every metric an alert reads is at GET /metrics of
    the chart's Deployment (site probes every second here, so that one runs soon), with the
    labels the alerts use. The central site's token is the published one: the site alert leaves
    that site to KubeconfigPublishedTokenExpiring, which reads the same expiry. The managed sites'
    series are there from the start, at 0, so that `increase()` sees a first repair."""
    objects = render_chart(chart, {"siteProbes": {"interval": 1}, "prometheusRule": {"enabled": True}}).objects
    rule = next(o for o in objects if o["kind"] == "PrometheusRule")
    expressions = " ".join(r["expr"] for group in rule["spec"]["groups"] for r in group["rules"])
    read = set(re.findall(r"\bkubeconfig_\w+", expressions))
    assert len(read) == 8, read
    with RenderedService(objects, tmp_path, ("configmaps", "multisite-kubeconfig-configmap")) as run:
        samples: list[tuple[str, dict[str, str], float]] = []

        def site_probed() -> bool:
            nonlocal samples
            answer = run.service.request("GET", "/metrics")
            assert answer.status == 200, answer
            samples = exposition(answer.text)
            return any(name == "kubeconfig_site_up" and labels.get("site") == "central"
                       for name, labels, _ in samples)

        assert wait_until(site_probed, timeout=20), run.service.logs
        assert read <= {name for name, _, _ in samples}, sorted(read - {name for name, _, _ in samples})

        def value(name: str, **labels: str) -> float:
            found = [v for n, l, v in samples if n == name and l == labels]
            assert len(found) == 1, (name, labels, [s for s in samples if s[0] == name])
            return found[0]

        assert value("kubeconfig_site_up", site="central") == 1.0  # reached with its CA, token accepted
        assert value("kubeconfig_site_certificate_expiry_timestamp_seconds", site="central", certificate="ca") > 0
        assert value("kubeconfig_site_token_expiry_timestamp_seconds", site="central") == \
            value("kubeconfig_token_expiry_timestamp_seconds")
        assert value("kubeconfig_last_success_timestamp_seconds") > 0
        assert {l["result"] for n, l, _ in samples if n == "kubeconfig_publications_total"} >= \
            {"changed", "unchanged", "failed"}
        assert value("kubeconfig_managed_sites_not_renewing") == 0.0
        for kind in ("orphan", "reissued"):
            assert value("kubeconfig_site_credential_repairs_total", kind=kind) == 0.0


def example_rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The API test server's rules for what deploy/examples/bootstrap-rbac.yaml grants: each
    RoleBinding's Role, for its ServiceAccount subjects, in the Role's namespace."""
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Role"}
    rules = []
    for binding in (o for o in objects if o["kind"] == "RoleBinding"):
        namespace = binding["metadata"]["namespace"]
        assert binding["roleRef"]["kind"] == "Role", binding
        role = roles[(namespace, binding["roleRef"]["name"])]
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount", subject
            user = f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
            for rule in role["rules"]:
                assert rule["apiGroups"] == [""], rule
                rules.append({"user": user, "verbs": rule["verbs"], "resources": rule["resources"],
                              "namespaces": [namespace], "resourceNames": rule["resourceNames"]})
    return rules


def registration(kind: str, remote: KubeAPIServer, bootstrap: str) -> tuple[str, dict[str, str], str]:
    """PUT /sites/edge-1 as deploy/docs/MANAGED-SITES.md shows it: (path, headers, body), JSON or
    a kubeconfig whose user is the bootstrap credential, with the tokenRequest in the query; only
    the remote's server, its CA and the bootstrap token are filled in, as the shell would."""
    shown = ManagedRegistration.shown()
    ca = base64.b64encode(remote.ca_file.read_bytes()).decode()
    if kind == "json":
        return (shown.json_path, {"Content-Type": "application/json"},
                shown.filled(shown.json_body, remote.url, ca, bootstrap))
    return (shown.yaml_path, {"Content-Type": "application/yaml"},
            shown.filled(shown.kubeconfig, remote.url, ca, bootstrap))


def documented_caller(api: KubeAPIServer) -> str:
    """The caller's token MANAGED-SITES.md mints (`kubectl create token`), issued as asked."""
    namespace, account, seconds, audiences = ManagedRegistration.shown().caller_token_request()
    return api.create_token(namespace, account, expiration_seconds=seconds, audiences=audiences or None)


@pytest.mark.parametrize("kind", ["json", "kubeconfig"])
def test_a_managed_site_runs_with_the_charts_rights_and_the_example_bootstrap_rbac(chart, tmp_path, kind):
    """The chart's credentials Secret and its get/patch right are all a managed registration
    needs centrally, and deploy/examples/bootstrap-rbac.yaml is all the bootstrap credential needs
    remotely: registered with the documented caller's token and body, the site's deployer token
    is issued there, its bootstrap credential is kept under its registration's key of that
    Secret (`edge-1_<16 hex>`) and nowhere else, and DELETE removes that key again."""
    example = [o for o in yaml.safe_load_all(BOOTSTRAP_RBAC.read_text()) if o]
    bootstrap_user = "system:serviceaccount:apps:kubeconfig-bootstrap"
    remote = KubeAPIServer(tmp_path / "remote", config={
        "serviceAccount": {"namespace": "apps", "name": "kubeconfig-bootstrap"}, "defaultRules": False,
        "rules": [{"group": "system:masters", "verbs": ["*"], "resources": ["*"]}, *example_rules(example)],
        "serviceAccounts": [{"namespace": "apps", "name": "deployer"}],
    }).start()
    try:
        # kubectl -n apps create token kubeconfig-bootstrap --duration=8760h
        bootstrap = remote.create_token("apps", "kubeconfig-bootstrap", expiration_seconds=8760 * 3600)
        with RenderedService(render_chart(chart, {}).objects, tmp_path,
                             ("configmaps", "multisite-kubeconfig-configmap")) as run:
            api, service = run.api, run.service
            path, headers, body = registration(kind, remote, bootstrap)
            answer = service.request("PUT", path, token=documented_caller(api), headers=headers, body=body)
            assert answer.status == 201, answer

            stored = api.get_configmap(NAMESPACE, "multisite-kubeconfig-configmap")["data"]["kubeconfig"]
            document = yaml.safe_load(stored)
            context = next(c["context"] for c in document["contexts"] if c["name"] == "edge-1")
            user = next(u["user"] for u in document["users"] if u["name"] == context["user"])
            review = remote.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", token=ADMIN_TOKEN,
                                    body={"spec": {"token": user["token"]}}).json()["status"]
            assert review["user"]["username"] == "system:serviceaccount:apps:deployer"

            # Kept in the credentials Secret under the registration's key, and in no answer or document.
            secret = api.get_secret(NAMESPACE, SITE_CREDENTIALS)
            assert len(secret["data"]) == 1, sorted(secret["data"])
            [key] = secret["data"]
            assert re.fullmatch(r"edge-1_[0-9a-f]{16}", key), key
            assert bootstrap in secret["data"][key] and isinstance(json.loads(secret["data"][key]), dict)
            sites = service.request("GET", "/sites", token=run.caller)
            edge = next(s for s in sites.json()["sites"] if s["name"] == "edge-1")
            assert edge["tokenManagement"] == "managed" and edge["namespace"] == "apps", edge
            for text in (stored, answer.text, sites.text, service.request("GET", "/metrics").text, service.logs):
                assert bootstrap not in text
            assert any(n == "kubeconfig_site_token_requests_total" and l == {"site": "edge-1", "result": "issued"}
                       and v >= 1 for n, l, v in exposition(service.request("GET", "/metrics").text))

            removed = service.request("DELETE", "/sites/edge-1", token=run.caller)
            assert removed.status == 200, removed
            assert not api.get_secret(NAMESPACE, SITE_CREDENTIALS)["data"]

            # Centrally: nothing refused, and Secrets touched only as the Role allows (GET and
            # PATCH of the one credentials Secret; nothing created, listed or replaced).
            log = [e for e in api.requests() if e["user"] == run.service_user]
            assert [e for e in log if e["code"] == 403] == []
            secret_calls = {(e["method"], e["path"].split("?")[0]) for e in log if "/secrets" in e["path"]}
            credentials_path = f"/api/v1/namespaces/{NAMESPACE}/secrets/{SITE_CREDENTIALS}"
            assert secret_calls == {("GET", credentials_path), ("PATCH", credentials_path)}, secret_calls
        # Remotely: the bootstrap account asked only for the deployer's tokens, and was never refused.
        remote_calls = [e for e in remote.requests() if e["user"] == bootstrap_user]
        assert remote_calls and all(e["code"] < 400 for e in remote_calls), remote_calls
        assert {(e["method"], e["path"]) for e in remote_calls} == \
            {("POST", "/api/v1/namespaces/apps/serviceaccounts/deployer/token")}
    finally:
        remote.stop()
