"""The chart and the binary agree: the Deployment Helm renders, with exactly the rights its Roles
and bindings grant, runs the real binary to a published, issued token against the local API test
server. A flag the binary does not take, or a right the chart forgot, fails here. So does a
managed remote site registered with deploy/docs/MANAGED-SITES.md's own commands (its caller's
token, its bodies), against a remote API test server whose bootstrap account has exactly the
rights of deploy/examples/bootstrap-rbac.yaml. Callers present tokens issued for the audience the
chart renders (--auth-token-audience), as deploy/docs/TOKEN-AUDIENCE.md tells them to; the publish
hook's projected token does. With siteTokens' settings, the exec kubeconfig names the rendered
public URL and kubectl, running its plugin through it, gets a granted site's token; the limits
take effect; and the binary takes every public URL the chart does, and refuses the http:// ones the
chart refuses.

Run after the binary is built (scripts/test.sh does): KUBECONFIG_SERVICE_BIN names it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeapi import ADMIN_TOKEN, KubeAPIServer
from loopback import BINARY, KUBECTL, Service, free_port, wait_until
from rendering import (BOOTSTRAP_RBAC, CONFIGMAP, DEPLOYER_NAME as DEPLOYER, FULLNAME, HOOK_NAME as HOOK, NAMESPACE,
                       SITE_CREDENTIALS, ManagedRegistration, render_chart)

# An operator's account that may read and change the document, as a caller of the service.
OPERATOR = "operator"
# What system:auth-delegator grants, for a ClusterRoleBinding to it.
AUTH_DELEGATOR = [{"verbs": ["create"], "resources": ["tokenreviews", "subjectaccessreviews"]}]


def rules_granted(objects: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    """The Roles bound to `user` by RoleBindings in the release namespace, and auth-delegator by a
    ClusterRoleBinding, as the API test server's rules. (Roles and bindings in other namespaces, the
    sinks', go to the test server as RBAC objects: `elsewhere`.)"""
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Role" and o not in elsewhere(objects)}
    granted = []
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
                    and o not in elsewhere(objects)):
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


def elsewhere(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rendered objects outside the release namespace (the sinks' Roles and RoleBindings)."""
    return [o for o in objects if o["metadata"].get("namespace", NAMESPACE) != NAMESPACE]


def site_token_rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """siteTokens.grants' Roles as the API test server's rules, for the subjects their RoleBindings
    name (users, groups, and ServiceAccounts as their users), with the Role's API group."""
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Role"}
    rules = []
    for binding in (o for o in objects if o["kind"] == "RoleBinding"
                    and o["metadata"]["labels"].get("app.kubernetes.io/component") == "site-tokens"):
        assert binding["roleRef"]["kind"] == "Role", binding
        for subject in binding["subjects"]:
            if subject["kind"] == "ServiceAccount":
                who = {"user": f"system:serviceaccount:{subject['namespace']}:{subject['name']}"}
            else:
                who = {subject["kind"].lower(): subject["name"]}
            for rule in roles[binding["roleRef"]["name"]]["rules"]:
                rules.append({**who, "apiGroups": rule["apiGroups"], "verbs": rule["verbs"],
                              "resources": rule["resources"], "namespaces": [NAMESPACE],
                              "resourceNames": rule["resourceNames"]})
    return rules


def rendered_args(objects: list[dict[str, Any]]) -> list[str]:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "serve", args
    return args


def caller_audiences(objects: list[dict[str, Any]]) -> list[str]:
    """The audiences callers' tokens must be issued for (--auth-token-audience), as rendered."""
    args = rendered_args(objects)
    return [value for flag, value in zip(args, args[1:]) if flag == "--auth-token-audience"]


def service_args(objects: list[dict[str, Any]], keep_port: bool = False) -> list[str]:
    """The container's args, less what the test sets itself (where to listen, how to log); with
    `keep_port`, the rendered --port stays (it comes after the test's own, and the last one wins)."""
    args = rendered_args(objects)
    kept, skip = [], {"--address", "--log-format"} | (set() if keep_port else {"--port"})
    pairs = iter(args[1:])
    for flag in pairs:
        value = next(pairs)
        if flag not in skip:
            kept += [flag, value]
    return kept


class RenderedService:
    """The chart's Deployment run against the API test server, with the rights its Roles grant
    (to the service's account and the hook's, and siteTokens.grants' to their subjects). `caller`
    is a token a client would present: an operator's account that may get and patch the document,
    issued for the rendered audience. `accounts`: more ServiceAccounts of the namespace, callers.
    `keep_port`: listen on the rendered port, not a free one the service picks."""

    def __init__(self, objects: list[dict[str, Any]], tmp_path: Path, document_object: tuple[str, str],
                 accounts: tuple[str, ...] = (), keep_port: bool = False):
        self.objects, self.resource, self.name = objects, *document_object
        self.keep_port = keep_port
        self.service_user = f"system:serviceaccount:{NAMESPACE}:{FULLNAME}"
        self.hook_user = f"system:serviceaccount:{NAMESPACE}:{HOOK}"
        operator = {"user": f"system:serviceaccount:{NAMESPACE}:{OPERATOR}", "verbs": ["get", "patch"],
                    "resources": [self.resource], "namespaces": [NAMESPACE], "resourceNames": [self.name]}
        rules = [{"group": "system:masters", "verbs": ["*"], "resources": ["*"]}, operator,
                 *rules_granted(objects, self.service_user), *rules_granted(objects, self.hook_user),
                 *site_token_rules(objects)]
        accounts = [o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"] + [OPERATOR, *accounts]
        assert DEPLOYER in accounts, accounts
        # Objects in other namespaces (the sinks' Roles and RoleBindings) are made there as they are
        # rendered, in namespaces that exist, and the test server's RBAC evaluates them.
        foreign = elsewhere(objects)
        assert {o["kind"] for o in foreign} <= {"Role", "RoleBinding"}, foreign
        self.api = KubeAPIServer(tmp_path / "api", config={
            "serviceAccount": {"namespace": NAMESPACE, "name": FULLNAME}, "defaultRules": False, "rules": rules,
            "serviceAccounts": [{"namespace": NAMESPACE, "name": name} for name in accounts if name != FULLNAME],
            "namespaces": sorted({o["metadata"]["namespace"] for o in foreign}), "objects": foreign,
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
            self.service = Service(self.api, *service_args(self.objects, self.keep_port)).start()
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


def test_a_site_token_grant_lets_its_subject_ask_for_that_sites_token_and_nothing_more(chart, tmp_path):
    """siteTokens.grants, as rendered, is what POST /sites/NAME/token is reviewed for: the
    pipeline's account, granted the central site, gets a fresh token of the published account
    (the deployer's) from the real binary; it may not ask for another site's, nor read the
    document; and the operator, who may read and change the document, may not ask for a token."""
    objects = render_chart(chart, {"siteTokens": {"grants": [
        {"name": "pipeline", "sites": ["central"], "subjects": [{"kind": "ServiceAccount", "name": "pipeline"}]},
        {"name": "edge-1-operators", "sites": ["edge-1"], "subjects": [{"kind": "Group", "name": "edge-1-operators"}]},
    ]}}).objects
    with RenderedService(objects, tmp_path, ("configmaps", "multisite-kubeconfig-configmap"),
                         accounts=("pipeline",)) as run:
        api, service = run.api, run.service
        # kubectl -n onap create token pipeline --audience <the rendered audience>
        pipeline = api.create_token(NAMESPACE, "pipeline", audiences=caller_audiences(objects) or None)
        body, headers = json.dumps({"expirationSeconds": 600}), {"Content-Type": "application/json"}
        answer = service.request("POST", "/sites/central/token", token=pipeline, headers=headers, body=body)
        assert answer.status == 200, answer
        credential = answer.json()
        assert (credential["apiVersion"], credential["kind"]) == ("client.authentication.k8s.io/v1", "ExecCredential")
        review = api.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", token=ADMIN_TOKEN,
                             body={"spec": {"token": credential["status"]["token"]}}).json()["status"]
        assert review["user"]["username"] == f"system:serviceaccount:{NAMESPACE}:{DEPLOYER}"
        # Another site's tokens, the document: not granted. The document's rights: no token.
        for path, method, token in (("/sites/edge-1/token", "POST", pipeline), ("/kubeconfig", "GET", pipeline),
                                    ("/sites/central/token", "POST", run.caller)):
            refused = service.request(method, path, token=token, headers=headers if method == "POST" else None,
                                      body=body if method == "POST" else None)
            assert refused.status == 403, (path, refused)
        assert service.request("GET", "/kubeconfig", token=run.caller).status == 200
        # No siteTokens.publicURL (the default): no exec kubeconfig.
        assert service.request("GET", "/kubeconfig?site=central&credentials=exec", token=run.caller).status == 400
        # The service itself was refused nothing: its Role is enough to mint the token.
        refused = [entry for entry in api.requests() if entry["user"] == run.service_user and entry["code"] == 403]
        assert refused == [], refused


def run_binary(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})


def test_an_exec_kubeconfig_through_the_rendered_public_url_gets_a_granted_sites_token(chart, tmp_path):
    """siteTokens' settings, as rendered, start the real binary and take effect, through the
    port-forward of deploy/docs/RBAC.md ("Exec kubeconfigs"): publicURL http://127.0.0.1:PORT (here
    the service's own port). The operator, who may read the document, fetches the exec kubeconfig
    with `kubeconfig-service kubeconfig`; it names the public URL and holds no secret. kubectl,
    given it and the pipeline's token (the grant's subject), runs the plugin and reaches the site
    as the published account; the operator's token gets no site token from the plugin. A longer
    lifetime is capped at maxExpirationSeconds; an ask past requestsPerMinute gets 429."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    objects = render_chart(chart, {"port": port, "siteTokens": {
        "publicURL": url, "maxExpirationSeconds": 900, "requestsPerMinute": 3, "grants": [
            {"name": "pipeline", "sites": ["central"], "subjects": [{"kind": "ServiceAccount", "name": "pipeline"},
                                                                    {"kind": "ServiceAccount", "name": "ci"}]}]}}).objects
    args = service_args(objects, keep_port=True)
    assert args[args.index("--public-url") + 1] == url and args[args.index("--port") + 1] == str(port)
    with RenderedService(objects, tmp_path, ("configmaps", CONFIGMAP), accounts=("pipeline", "ci"),
                         keep_port=True) as run:
        api, service = run.api, run.service
        assert service.port == port
        audiences = caller_audiences(objects) or None
        tokens = {"operator": run.caller, **{account: api.create_token(NAMESPACE, account, audiences=audiences)
                                             for account in ("pipeline", "ci")}}
        files = {}
        for who, token in tokens.items():
            files[who] = tmp_path / f"{who}-token"
            files[who].write_text(token)

        # Whoever may read the document fetches it, with no token file named: the plugin then reads
        # the file $KUBECONFIG_SERVICE_TOKEN_FILE names at each run, its user's own.
        fetched = run_binary("kubeconfig", "--site", "central", "--service", url,
                             env={"KUBECONFIG_SERVICE_TOKEN_FILE": str(files["operator"])})
        assert fetched.returncode == 0, fetched.stderr
        kubeconfig = yaml.safe_load(fetched.stdout)
        [user] = kubeconfig["users"]
        plugin = user["user"]["exec"]
        assert set(user["user"]) == {"exec"} and plugin["command"] == "kubeconfig-service", user
        assert plugin["args"][plugin["args"].index("--service") + 1] == url, plugin
        assert all(token not in fetched.stdout for token in tokens.values())
        path = tmp_path / "central.kubeconfig"
        path.write_text(fetched.stdout)

        # kubectl runs the plugin (the binary on its PATH) with the pipeline's token.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubeconfig-service").symlink_to(BINARY.resolve())
        env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               "KUBECONFIG_SERVICE_TOKEN_FILE": str(files["pipeline"])}
        document_path = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}"
        api.requests(clear=True)
        done = subprocess.run([KUBECTL, "--kubeconfig", str(path), "get", "--raw", document_path],
                              capture_output=True, text=True, timeout=30, env=env)
        # The deployer may not read the document: what matters is who kubectl was, not the answer.
        deployer = f"system:serviceaccount:{NAMESPACE}:{DEPLOYER}"
        assert any(e["user"] == deployer and e["path"] == document_path for e in api.requests()), done.stderr
        issued = [e for e in service.log_entries() if e.get("msg") == "issued a token to a caller"]
        assert [(e.get("user"), e.get("site")) for e in issued] == \
            [(f"system:serviceaccount:{NAMESPACE}:pipeline", "central")], issued

        # The plugin with the operator's token: refused (no grant), one line, nothing on stdout.
        refused = subprocess.run([plugin["command"], *plugin["args"]], capture_output=True, text=True, timeout=30,
                                 env={**env, "KUBECONFIG_SERVICE_TOKEN_FILE": str(files["operator"])})
        assert refused.returncode != 0 and refused.stdout == "", refused
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr

        # ci, also granted: an hour asked, maxExpirationSeconds given; the 4th ask in a minute, 429.
        headers = {"Content-Type": "application/json"}
        answers = [service.request("POST", "/sites/central/token", token=tokens["ci"], headers=headers,
                                   body=json.dumps({"expirationSeconds": 3600})) for _ in range(4)]
        assert [a.status for a in answers] == [200, 200, 200, 429], answers
        expires = datetime.fromisoformat(answers[0].json()["status"]["expirationTimestamp"].replace("Z", "+00:00"))
        assert expires.timestamp() <= time.time() + 900 + 5, expires
        assert expires.timestamp() > time.time() + 900 - 60, expires


# The public URLs the chart takes, and the http:// ones it refuses (test_chart_site_tokens.py).
CHART_TAKES = ["https://kubeconfig.example.org", "https://kubeconfig.example.org:8443/kubeconfig/",
               "https://[2001:db8::1]:8443", "http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080"]
CHART_REFUSES = ["http://kubeconfig.example.org", f"http://{FULLNAME}.{NAMESPACE}.svc:8080",
                 "http://localhost.example.org", "http://127.0.0.1.nip.io:8080/", "http://10.0.0.1:8080"]


def without_namespace(args: list[str]) -> list[str]:
    at = args.index("--namespace")
    return args[:at] + args[at + 2:]


def test_the_binary_takes_the_public_urls_the_chart_takes_and_refuses_the_others(chart, tmp_path):
    """The rendered arguments with each public URL the chart takes pass the binary's own checks:
    without --namespace, the binary then stops at reading the namespace from a missing
    service-account folder, which it does only once its arguments are accepted (exit 1, not 64,
    its usage error). With each http:// URL the chart refuses, the binary refuses them too."""
    missing = str(tmp_path / "no-service-account")
    for url in CHART_TAKES:
        args = service_args(render_chart(chart, {"siteTokens": {"publicURL": url}}).objects)
        assert args[args.index("--public-url") + 1] == url
        started = run_binary("serve", "--service-account-dir", missing, *without_namespace(args))
        assert started.returncode == 1 and "ServiceAccountUnreadable" in started.stderr, (url, started.stderr)
    default = without_namespace(service_args(render_chart(chart, {}).objects))
    for url in CHART_REFUSES:
        started = run_binary("serve", "--service-account-dir", missing, *default, "--public-url", url)
        assert started.returncode == 64 and "--public-url must be an https URL" in started.stderr, (url, started)


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
    series are there from the start, at 0, so that `increase()` sees a first repair. A managed
    site's bootstrap series exist only with such a site: Tests/e2e/test_bootstrap_renewal.py
    reads them at GET /metrics."""
    objects = render_chart(chart, {"siteProbes": {"interval": 1}, "prometheusRule": {"enabled": True}}).objects
    rule = next(o for o in objects if o["kind"] == "PrometheusRule")
    expressions = " ".join(r["expr"] for group in rule["spec"]["groups"] for r in group["rules"])
    read = set(re.findall(r"\bkubeconfig_\w+", expressions))
    assert len(read) == 10, read
    per_managed_site = {"kubeconfig_site_bootstrap_expiry_timestamp_seconds",
                        "kubeconfig_site_bootstrap_renewal_timestamp_seconds"}
    assert per_managed_site <= read
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
        exposed = {name for name, _, _ in samples}
        assert read - per_managed_site <= exposed, sorted(read - per_managed_site - exposed)

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
