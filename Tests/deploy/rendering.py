"""The chart rendered offline, as the chart's tests read it: `Rendered` (manifests by template
and parsed objects), `render_chart` (`helm template`, the schema enforced), the named SCENARIOS of
values every test picks from, the names derived from the release, and what the values mean for
the objects and the service's flags (`expected_args`, `service_role`, ...).

The chart is linted and rendered with Helm's own engine through helm-python-sdk
(module ``helm_python``: Helm v4's Go SDK behind a C ABI, no ``helm`` binary):
``helm_python.lint(...)`` is ``helm lint``, ``Chart.render(...)`` is ``helm
template`` (offline, values.schema.json is enforced).
Every rendered object goes through ``kubernetes_validate.validate(obj, version,
strict=True)``, the library behind ``kubernetes-validate --strict``.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate  # PyPI: kubernetes-validate
import yaml


REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "deploy" / "helm" / "kubeconfig-service"


RELEASE = "dcae"
NAMESPACE = "onap"

# Kubernetes versions the rendered manifests are validated against: the oldest
# one still in wide use that kubernetes-validate ships, and its newest.
KUBE_VERSIONS = ("1.30.0", "latest")


@dataclass
class Rendered:
    """One offline render of the chart: manifests by template and parsed objects."""

    values: dict[str, Any]
    manifests: dict[str, str]
    objects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def notes(self) -> str:
        return next((text for path, text in self.manifests.items()
                     if path.endswith("/NOTES.txt")), "")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The one object of that kind and name (in `namespace`: the release's is None)."""
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name
                 and o["metadata"].get("namespace") in ((None, NAMESPACE) if namespace in (None, NAMESPACE)
                                                        else (namespace,))]
        assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}: {self.names()}"
        return found[0]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, found {self.names()}"
        return found[0]

    def names(self) -> list[str]:
        return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in self.objects)


def parse_manifests(manifests: dict[str, str]) -> list[dict[str, Any]]:
    objects = []
    for path, text in sorted(manifests.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                assert isinstance(doc, dict) and "kind" in doc, f"{path}: not an object: {doc!r}"
                objects.append(doc)
    return objects


def render_chart(chart: Any, values: dict[str, Any] | None = None, *,
                 name: str = RELEASE, namespace: str = NAMESPACE) -> Rendered:
    """Render like `helm template NAME CHART -n NAMESPACE -f values` (schema checked)."""
    manifests = chart.render(values or {}, name=name, namespace=namespace,
                             is_install=True)
    effective = chart.merge_values(values or {})
    return Rendered(values=effective, manifests=manifests, objects=parse_manifests(manifests))


# The release full name `kubeconfig-service.fullname` gives release "dcae" (the release name
# does not contain the chart name, so it is prefixed to it), and the names derived from it.
FULLNAME = f"{RELEASE}-kubeconfig-service"
HOOK_NAME = f"{FULLNAME}-publish"
TEST_POD_NAME = f"{FULLNAME}-test"
DEPLOYER_NAME = f"{FULLNAME}-deployer"
CONFIGMAP = "multisite-kubeconfig-configmap"
SECRET = "multisite-kubeconfig-secret"
SITE_CREDENTIALS = f"{FULLNAME}-site-credentials"
BOOTSTRAP_RBAC = REPO_ROOT / "deploy" / "examples" / "bootstrap-rbac.yaml"
SITE_TOKENS_RBAC = REPO_ROOT / "deploy" / "examples" / "site-tokens-rbac.yaml"
# The API group and resource the service's SubjectAccessReview names for POST /sites/NAME/token.
SITE_TOKENS_GROUP = "kubeconfig-service.onap.org"
DEPLOY_README = REPO_ROOT / "deploy" / "README.md"
# The chart's reference pages, which the tests hold to the chart and the example they show.
DEPLOY_DOCS = REPO_ROOT / "deploy" / "docs"
ALERTS_DOC = DEPLOY_DOCS / "ALERTS.md"
MANAGED_SITES_DOC = DEPLOY_DOCS / "MANAGED-SITES.md"
RBAC_DOC = DEPLOY_DOCS / "RBAC.md"
SIDECAR_DOC = DEPLOY_DOCS / "SIDECAR.md"
TOKEN_AUDIENCE_DOC = DEPLOY_DOCS / "TOKEN-AUDIENCE.md"
VALUES_DOC = DEPLOY_DOCS / "VALUES.md"

# The alerts on, with their labels, annotations and runbook (alerting.CUSTOM turns every other knob).
PROMETHEUS_RULE = {
    "enabled": True,
    "labels": {"release": "kube-prometheus-stack"},
    "annotations": {"example.org/owner": "dcae"},
    "interval": "30s",
    "seriesSelector": 'namespace="onap"',
    "alertLabels": {"team": "dcae"},
    "alertAnnotations": {"dashboard": "https://grafana.example.org/d/kubeconfig"},
    "runbookUrl": "https://git.example.org/onap/kubeconfig-service/blob/main/deploy/docs/ALERTS.md",
    "siteDown": {"for": "10m", "severity": "critical"},
}

# Named sets of values; each is linted, rendered and validated, and the tests pick the ones
# that show a behaviour.
SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "auth-none": {"auth": "none"},
    "sidecar": {
        "mode": "sidecar",
        "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"},
    },
    "sidecar-with-url": {
        "mode": "sidecar",
        "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"},
        # The trailing slash is dropped: the hook and the test append their paths.
        "sidecar": {"url": "http://dcae-cloudify-manager:8080/"},
    },
    "renamed": {
        "fullnameOverride": "kcs",
        "image": {"repository": "registry.example.org/onap/kubeconfig-service", "tag": "1.2.3",
                  "pullPolicy": "Always"},
        "configMap": {"name": "edge-kubeconfig", "key": "config.yaml"},
        "location": "edge1",
        "user": "admin01",
        "port": 9090,
        "refreshInterval": 300,
        "siteProbes": {"interval": 30, "concurrency": 4},
        "apiTimeout": 15,
        "threads": 4,
        "logFormat": "json",
        "logLevel": "debug",
        "serviceAccount": {"name": "kcs"},
    },
    "hook-and-test-off": {"hook": {"enabled": False}, "test": {"enabled": False}},
    "secret": {"storage": "secret"},
    "secret-elsewhere": {
        "storage": "secret",
        "secret": {"create": False, "name": "edge-kubeconfig", "key": "config.yaml"},
    },
    "deployer-bound": {
        "credentials": {"clusterRole": "edit", "expirationSeconds": 7200,
                        "audiences": ["https://kubernetes.default.svc", "cloudify"]},
    },
    "consumer-account": {"credentials": {"serviceAccount": "dcae-cloudify-manager"}},
    "sidecar-issued-token-secret": {
        "mode": "sidecar",
        "storage": "secret",
        "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"},
        "credentials": {"serviceAccount": "dcae-cloudify-deployer", "expirationSeconds": 600,
                        "audiences": ["cloudify"]},
        "sidecar": {"url": "http://dcae-cloudify-manager:8080"},
    },
    "replicas": {"replicaCount": 2, "podDisruptionBudget": {"enabled": True}},
    "configmap-elsewhere": {"configMap": {"create": False}},
    "not-kept-and-scheduling": {
        "configMap": {"keepOnUninstall": False},
        "nodeSelector": {"kubernetes.io/os": "linux", "example.org/pool": "dcae"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "dcae",
                         "effect": "NoSchedule"}],
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100,
            "podAffinityTerm": {
                "topologyKey": "kubernetes.io/hostname",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "kubeconfig-service"}},
            },
        }]}},
        "imagePullSecrets": [{"name": "registry-credentials"}],
        "podAnnotations": {"example.org/scrape": "false"},
        "podLabels": {"example.org/team": "dcae"},
        "serviceAccount": {"annotations": {"example.org/sa": "yes"}},
    },
    # The alerts (off by default), with every knob; test_alerts.py runs them through promtool.
    # Managed remote sites off: no credentials Secret, no right on it, no flag.
    "site-credentials-off": {"siteCredentials": {"enabled": False}},
    "site-credentials-named": {
        "storage": "secret",
        "siteCredentials": {"secretName": "edge.bootstrap-credentials", "keepOnUninstall": False,
                            "credentialGracePeriod": 120},
    },
    "prometheus-rule": {"prometheusRule": PROMETHEUS_RULE},
    # No watch on the document's object: --no-watch, and no list/watch in the Role.
    "watch-off": {"watch": {"enabled": False}},
    "secret-watch-off": {"storage": "secret", "watch": {"enabled": False}},
    # Callers' token audience: off, or two audiences (a migration from one to the other).
    "audience-off": {"authTokenAudiences": []},
    "audiences-two": {"authTokenAudiences": ["kubeconfig-service", "dcae-kubeconfig-service"]},
    # Who may ask for which sites' tokens: one Role and RoleBinding per grant. A remote site,
    # the central site (the location), and each kind of subject.
    "site-tokens": {"siteTokens": {"grants": [
        {"name": "edge-1-operators", "sites": ["edge-1"],
         "subjects": [{"kind": "Group", "name": "edge-1-operators"},
                      {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "edge-1-operator"}]},
        {"name": "pipelines", "sites": ["central", "edge-2.example.org"],
         "subjects": [{"kind": "ServiceAccount", "name": "deploy-pipeline"},
                      {"kind": "ServiceAccount", "name": "ci", "namespace": "ci"}]},
    ]}},
    # Tokens on request: the exec kubeconfig's public URL and both limits, at their far ends.
    "site-token-settings": {"siteTokens": {"publicURL": "https://kubeconfig.example.org",
                                           "maxExpirationSeconds": 86400, "requestsPerMinute": 10000}},
    # Sinks: Argo CD's namespace and a dedicated one for Flux, with selectors and the central
    # site's labels; both in one namespace (one Role there); in sidecar mode (the printed container).
    "sinks": {"sinks": {"argocd": {"enabled": True, "namespace": "argocd",
                                   "selector": "tier in (central, edge),!example.org/legacy"},
                        "kubeconfigSecrets": {"enabled": True, "namespace": "fleet-sites", "selector": "tier=edge"}},
              "siteLabels": {"tier": "central", "example.org/region": "eu-west_1"}},
    "sinks-one-namespace": {"sinks": {"argocd": {"enabled": True, "namespace": "fleet"},
                                      "kubeconfigSecrets": {"enabled": True, "namespace": "fleet"}}},
    "sinks-sidecar": {
        "mode": "sidecar",
        "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"},
        "sinks": {"kubeconfigSecrets": {"enabled": True, "namespace": "fleet-sites"}},
        "siteLabels": {"tier": "central"},
    },
}


def resolve_version(version: str) -> str:
    """A KUBE_VERSIONS entry as kubernetes-validate takes it ("latest": its newest)."""
    return kubernetes_validate.latest_version() if version == "latest" else version


def container_of(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """The one container of a pod spec (no init or sidecar containers anywhere)."""
    assert "initContainers" not in pod_spec
    containers = pod_spec["containers"]
    assert len(containers) == 1, [c["name"] for c in containers]
    return containers[0]


def assert_restricted(security_context: dict[str, Any]) -> None:
    """A container security context that meets the restricted Pod Security Standard by itself."""
    assert security_context["runAsNonRoot"] is True
    assert security_context["runAsUser"] > 0 and security_context["runAsGroup"] > 0
    assert security_context["allowPrivilegeEscalation"] is False
    assert security_context["readOnlyRootFilesystem"] is True
    assert security_context["capabilities"] == {"drop": ["ALL"]}
    assert security_context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not security_context.get("privileged", False)


def assert_pod_security(pod_spec: dict[str, Any]) -> None:
    pod_context = pod_spec["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["runAsUser"] == 65532 and pod_context["runAsGroup"] == 65532
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod_spec.get(key, False), key
    for container in pod_spec["containers"]:
        assert_restricted(container["securityContext"])


def assert_resources(resources: dict[str, Any]) -> None:
    """CPU and memory requested, memory limited (no CPU limit: no throttling)."""
    assert set(resources) == {"requests", "limits"}, resources
    assert set(resources["requests"]) == {"cpu", "memory"}, resources
    assert set(resources["limits"]) == {"memory"}, resources


# Flags the service takes more than once; parse_args gives their values as a list.
REPEATABLE_FLAGS = {"--token-audience", "--auth-token-audience", "--site-label"}


# Flags without a value; parse_args gives them as True.
SWITCHES = {"--watch", "--no-watch"}


def parse_args(args: list[str]) -> dict[str, str | list[str] | bool]:
    """`serve --flag value ... --switch ...` as {flag: value}; every value a string, every flag
    once except the repeatable ones ({flag: [value, ...]}); a switch as {switch: True}."""
    assert args[0] == "serve", args
    switches = [arg for arg in args[1:] if arg in SWITCHES]
    assert len(set(switches)) == len(switches) <= 1, args  # --watch and --no-watch exclude each other
    rest = [arg for arg in args[1:] if arg not in SWITCHES]
    flags, values = rest[0::2], rest[1::2]
    assert len(flags) == len(values), args
    assert all(flag.startswith("--") for flag in flags), args
    assert all(isinstance(value, str) and not value.startswith("--") for value in values), args
    single = [flag for flag in flags if flag not in REPEATABLE_FLAGS]
    assert len(set(single)) == len(single), args
    parsed: dict[str, str | list[str] | bool] = dict.fromkeys(switches, True)
    for flag, value in zip(flags, values):
        if flag in REPEATABLE_FLAGS:
            parsed.setdefault(flag, []).append(value)  # type: ignore[union-attr]
        else:
            parsed[flag] = value
    return parsed


def fullname(values: dict[str, Any]) -> str:
    """`kubeconfig-service.fullname` for release RELEASE (which does not contain the chart name)."""
    return values.get("fullnameOverride") or FULLNAME


def auth_token_audiences(values: dict[str, Any]) -> list[str]:
    """`--auth-token-audience` values: authTokenAudiences, or by default (null) the release's
    full name; none without auth: kubernetes."""
    if values["auth"] != "kubernetes":
        return []
    configured = values.get("authTokenAudiences")
    return [fullname(values)] if configured is None else list(configured)


def document(values: dict[str, Any]) -> tuple[str, str, str]:
    """The document's object as the values choose it: (resource, name, key)."""
    if values["storage"] == "secret":
        return "secrets", values["secret"]["name"], values["secret"]["key"]
    return "configmaps", values["configMap"]["name"], values["configMap"]["key"]


def token_account(values: dict[str, Any]) -> str | None:
    """The account whose issued token is published: always one in deployment mode (the
    dedicated `<fullname>-deployer` unless credentials.serviceAccount names one); in sidecar
    mode only a named one, else None (the pod's own token)."""
    named = values["credentials"]["serviceAccount"]
    if values["mode"] == "deployment":
        return named or f"{fullname(values)}-deployer"
    return named or None


def site_credentials(values: dict[str, Any]) -> str | None:
    """The Secret of the managed sites' bootstrap credentials (`--credentials-secret`): named,
    or `<fullname>-site-credentials`; None with siteCredentials.enabled false."""
    section = values["siteCredentials"]
    if not section["enabled"]:
        return None
    return section["secretName"] or f"{fullname(values)}-site-credentials"


def expected_args(values: dict[str, Any]) -> dict[str, str | list[str] | bool]:
    """The service's flags as they follow from the (merged) chart values."""
    resource, name, key = document(values)
    expected: dict[str, str | list[str] | bool] = {
        "--namespace": NAMESPACE,
        "--location": values["location"],
        "--user": values["user"],
        "--secret" if resource == "secrets" else "--configmap": name,
        "--key": key,
        "--address": "0.0.0.0",
        "--port": str(values["port"]),
        "--auth": values["auth"],
        "--refresh-interval": str(values["refreshInterval"]),
        "--site-probe-interval": str(values["siteProbes"]["interval"]),
        "--site-probe-concurrency": str(values["siteProbes"]["concurrency"]),
        "--log-format": values["logFormat"],
        "--log-level": values["logLevel"],
        "--threads": str(values["threads"]),
    }
    if values.get("apiTimeout") is not None:
        expected["--api-timeout"] = str(values["apiTimeout"])
    if not values["watch"]["enabled"]:
        expected["--no-watch"] = True  # watching is the service's default: no --watch
    if auth_token_audiences(values):
        expected["--auth-token-audience"] = auth_token_audiences(values)
    credentials = site_credentials(values)
    if credentials:
        expected["--credentials-secret"] = credentials
        expected["--credential-grace-period"] = str(values["siteCredentials"]["credentialGracePeriod"])
    if values["auth"] == "kubernetes":  # the one mode with POST /sites/NAME/token
        site_tokens = values["siteTokens"]
        expected["--max-credential-expiration"] = str(site_tokens["maxExpirationSeconds"])
        expected["--credential-requests-per-minute"] = str(site_tokens["requestsPerMinute"])
        if site_tokens["publicURL"]:
            expected["--public-url"] = site_tokens["publicURL"]
    for key, flag in SINK_FLAGS.items():
        sink = values["sinks"][key]
        if sink["enabled"]:
            expected[flag] = sink["namespace"]
            if sink["selector"]:
                expected[f"{flag}-selector"] = sink["selector"]
    if values["siteLabels"]:
        expected["--site-label"] = [f"{k}={v}" for k, v in sorted(values["siteLabels"].items())]
    account = token_account(values)
    if account:
        expected["--token-service-account"] = account
        expected["--token-expiration"] = str(values["credentials"]["expirationSeconds"])
        if values["credentials"]["audiences"]:
            expected["--token-audience"] = list(values["credentials"]["audiences"])
    return expected


def service_role(rendered: Rendered) -> dict[str, Any]:
    """The Role of the service's own account in the release namespace (not the publish hook's, a
    site-token grant's, nor the sinks' in their namespaces)."""
    roles = [r for r in rendered.of_kind("Role")
             if r["metadata"]["labels"].get("app.kubernetes.io/component")
             not in ("publish-hook", "site-tokens", "sinks")]
    assert len(roles) == 1, rendered.names()
    return roles[0]


# The sinks (values key: the serve flag that names the sink's namespace; "-selector" appended, its
# selector), and what the service needs on Secrets in each sink namespace: the one rule of the
# chart without resourceNames.
SINK_FLAGS = {"argocd": "--argocd-secrets", "kubeconfigSecrets": "--kubeconfig-secrets"}
SINK_VERBS = ["get", "list", "watch", "create", "update", "delete"]
SINK_RULE = {"apiGroups": [""], "resources": ["secrets"], "verbs": SINK_VERBS}


def sink_namespaces(values: dict[str, Any]) -> list[str]:
    """The namespaces the enabled sinks write to, each once, in flag order."""
    namespaces = [values["sinks"][key]["namespace"] for key in SINK_FLAGS if values["sinks"][key]["enabled"]]
    return list(dict.fromkeys(namespaces))


def sinks_role_name(values: dict[str, Any]) -> str:
    """The sinks' Role and RoleBinding in each sink namespace: `<fullname>-<release namespace>-sinks`."""
    return f"{fullname(values)}-{NAMESPACE}-sinks"


def sink_objects(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    """The sinks' Roles or RoleBindings (component sinks), one of each per sink namespace."""
    return [o for o in rendered.of_kind(kind)
            if o["metadata"]["labels"].get("app.kubernetes.io/component") == "sinks"]


def site_token_objects(rendered: Rendered, kind: str) -> list[dict[str, Any]]:
    """The Roles or RoleBindings of siteTokens.grants (component site-tokens)."""
    return [o for o in rendered.of_kind(kind)
            if o["metadata"]["labels"].get("app.kubernetes.io/component") == "site-tokens"]


def site_tokens_name(grant: str, values: dict[str, Any] | None = None) -> str:
    """A grant's Role and RoleBinding: `<fullname>-site-tokens-<grant>` (short full names)."""
    return f"{fullname(values or {})}-site-tokens-{grant}"


def site_token_rule(*sites: str) -> dict[str, Any]:
    """`create` on `sites/token` of these sites: what POST /sites/NAME/token is reviewed for."""
    return {"apiGroups": [SITE_TOKENS_GROUP], "resources": ["sites/token"], "resourceNames": list(sites),
            "verbs": ["create"]}


def site_tokens_example() -> list[dict[str, Any]]:
    """deploy/examples/site-tokens-rbac.yaml's objects: its Role and RoleBinding."""
    return [o for o in yaml.safe_load_all(SITE_TOKENS_RBAC.read_text()) if o]


def curl_tokens(container: dict[str, Any]) -> list[str]:
    """The hook's `/bin/sh -ec "exec curl ..."` command as the shell splits it, from `curl` on."""
    command = container["command"]
    assert command[:2] == ["/bin/sh", "-ec"] and len(command) == 3, command
    tokens = shlex.split(command[2])
    assert tokens[:2] == ["exec", "curl"], tokens
    return tokens[1:]


def notes_pod_spec(notes: str) -> dict[str, Any]:
    """The pod spec snippet NOTES.txt prints in sidecar mode, parsed."""
    match = re.search(r"^( *)spec:\n.*?# END kubeconfig-service container\n", notes,
                      re.MULTILINE | re.DOTALL)
    assert match, notes
    snippet = yaml.safe_load(textwrap.dedent(match.group(0)))
    assert set(snippet) == {"spec"}, snippet
    return snippet["spec"]


def notes_container(notes: str) -> dict[str, Any]:
    begin, end = "# BEGIN kubeconfig-service container", "# END kubeconfig-service container"
    assert notes.count(begin) == 1 and notes.count(end) == 1, notes
    container = container_of(notes_pod_spec(notes))
    block = notes[notes.index(begin) + len(begin):notes.index(end)]
    assert yaml.safe_load(textwrap.dedent(block.strip("\n"))) == [container]
    return container


def validate_strict(obj: dict[str, Any], version: str) -> str:
    return kubernetes_validate.validate(obj, resolve_version(version), strict=True)


def validate_all_strictly(objects: list[dict[str, Any]], version: str) -> None:
    """Each object against the Kubernetes `version`'s schema, unknown fields refused."""
    for obj in objects:
        try:
            validate_strict(obj, version)
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']} ({version}): "
                                 f"{'.'.join(map(str, error.path))}: {error.message}") from None


def document_rule(resource: str, name: str, *, watch: bool = True) -> dict[str, Any]:
    """get/patch on the document's object; list/watch on it too, by name, with watch.enabled."""
    return {"apiGroups": [""], "resources": [resource], "resourceNames": [name],
            "verbs": ["get", "patch", "list", "watch"] if watch else ["get", "patch"]}


def token_rule(account: str) -> dict[str, Any]:
    return {"apiGroups": [""], "resources": ["serviceaccounts/token"], "resourceNames": [account],
            "verbs": ["create"]}


def credentials_rule(name: str = SITE_CREDENTIALS) -> dict[str, Any]:
    return {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [name], "verbs": ["get", "patch"]}


def doc_section(title: str, page: Path = DEPLOY_README) -> str:
    """A page's `## title` section, up to the next `## ` heading (deploy/README.md's by default)."""
    text = page.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def fenced_blocks(text: str, language: str) -> list[str]:
    """The bodies of a Markdown text's ```language blocks, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class ManagedRegistration:
    """MANAGED-SITES.md's registration of a managed site as its shell shows it: the caller's token
    (the `kubectl create token` command), and each `PUT` with its path and body, the body's
    `$CA` and `$BOOTSTRAP` (and the site's made-up server) still to fill in."""

    caller: str
    json_path: str
    json_body: str
    yaml_path: str
    kubeconfig: str
    server: str = "https://edge-1.example.org:6443"

    @staticmethod
    def shell() -> str:
        """The section's shell blocks, joined."""
        return "\n".join(fenced_blocks(doc_section("Registering a managed site", MANAGED_SITES_DOC), "sh"))

    @classmethod
    def shown(cls) -> "ManagedRegistration":
        shell = cls.shell()
        return cls(
            caller=re.search(r"^TOKEN=\$\((kubectl [^)]*)\)$", shell, re.MULTILINE).group(1),
            json_path=re.search(r"--data-binary @- http://127\.0\.0\.1:8080(\S+) <<JSON$", shell, re.MULTILINE).group(1),
            json_body=re.search(r"<<JSON\n(.*?)\nJSON\n", shell, re.DOTALL).group(1),
            yaml_path=re.search(r"--data-binary @\S+ 'http://127\.0\.0\.1:8080(\S+)'$", shell, re.MULTILINE).group(1),
            kubeconfig=re.search(r"<<YAML\n(.*?)\nYAML\n", shell, re.DOTALL).group(1),
        )

    def caller_token_request(self) -> tuple[str, str, int | None, list[str]]:
        """`kubectl --namespace NS create token ACCOUNT [--duration Nm] [--audience A ...]` as
        (namespace, account, seconds, audiences): what the TokenRequest asks for."""
        words = shlex.split(self.caller)
        assert words[:2] == ["kubectl", "--namespace"] and words[3:5] == ["create", "token"], words
        namespace, account, flags = words[2], words[5], words[6:]
        seconds, audiences = None, []
        for flag, value in zip(flags[::2], flags[1::2]):
            if flag == "--duration":
                match = re.fullmatch(r"(\d+)([smh])", value)
                seconds = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]
            elif flag == "--audience":
                audiences.append(value)
            else:
                raise AssertionError(f"unexpected flag {flag} in {self.caller}")
        return namespace, account, seconds, audiences

    def filled(self, text: str, server: str, ca: str, bootstrap: str) -> str:
        """A body with the site's server, CA and bootstrap token as the shell would expand them."""
        assert text.count(self.server) == 1 and "$CA" in text and "$BOOTSTRAP" in text, text
        return text.replace(self.server, server).replace("$CA", ca).replace("$BOOTSTRAP", bootstrap)
