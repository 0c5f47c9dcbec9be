"""Managed remote sites: the credentials Secret (empty, labelled, kept or not, named), its one
Role rule and the service's flags, none of them when disabled; deploy/examples/bootstrap-rbac.yaml
validated and checked; deploy/docs/MANAGED-SITES.md's and SIDECAR.md's examples checked against the example and
the chart, and VALUES.md's and RBAC.md's rows against what the chart does."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm  # PyPI: helm-python-sdk (Helm v4's engine, no helm binary)
import pytest
import yaml
from rendering import (BOOTSTRAP_RBAC, CONFIGMAP, FULLNAME, HOOK_NAME, KUBE_VERSIONS, MANAGED_SITES_DOC, NAMESPACE,
                       RBAC_DOC, RELEASE, SCENARIOS, SECRET, SIDECAR_DOC, SITE_CREDENTIALS, VALUES_DOC,
                       ManagedRegistration, Rendered, container_of, credentials_rule, document, expected_args,
                       fenced_blocks, notes_container, parse_args, service_role, site_credentials, site_tokens_example,
                       validate_all_strictly, validate_strict)


# --------------------------------------------------------------------------- managed remote sites


def test_site_credentials_secret_is_empty_labelled_and_kept(default: Rendered) -> None:
    """The chart creates the credentials Secret empty (the service fills it, one key per
    registration, and never creates it), with the chart's labels, and keeps it on uninstall."""
    secret = default.get("Secret", SITE_CREDENTIALS)
    assert secret["type"] == "Opaque"
    assert not {"data", "stringData", "immutable"} & set(secret), secret
    assert secret["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert secret["metadata"]["labels"]["app.kubernetes.io/component"] == "site-credentials"
    assert "helm.sh/hook" not in secret["metadata"]["annotations"]  # an ordinary release resource
    # Only that Secret besides the document's object: no other Secret, and no copy of a credential.
    assert [s["metadata"]["name"] for s in default.of_kind("Secret")] == [SITE_CREDENTIALS]


def test_site_credentials_named_and_not_kept(render) -> None:
    rendered = render(SCENARIOS["site-credentials-named"])
    secret = rendered.get("Secret", "edge.bootstrap-credentials")
    assert not {"data", "stringData"} & set(secret)
    assert "helm.sh/resource-policy" not in secret["metadata"].get("annotations", {})
    assert rendered.get("Secret", SECRET)  # the document's own Secret, apart from it
    args = parse_args(container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"])
    assert args["--credentials-secret"] == "edge.bootstrap-credentials"
    assert args["--credential-grace-period"] == "120"
    assert args["--secret"] == SECRET


@pytest.mark.parametrize("scenario, name", [
    ("default", SITE_CREDENTIALS), ("secret", SITE_CREDENTIALS), ("sidecar", SITE_CREDENTIALS),
    ("renamed", "kcs-site-credentials"), ("site-credentials-named", "edge.bootstrap-credentials"),
])
def test_service_role_has_exactly_get_and_patch_on_the_credentials_secret(render, scenario: str,
                                                                          name: str) -> None:
    """One rule on Secrets for the credentials: get and patch, that one Secret by name; nothing
    wider (no list/watch, no create/update/delete, no other name)."""
    rendered = render(SCENARIOS[scenario])
    rules = [r for r in service_role(rendered)["rules"]
             if "secrets" in r["resources"] and r["resourceNames"] != [document(rendered.values)[1]]]
    assert rules == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [name],
                      "verbs": ["get", "patch"]}]
    assert rendered.get("Secret", name)  # the object the rule names is the one the chart creates
    # The hook may not touch it.
    hook_rules = [r for role in rendered.of_kind("Role") if role["metadata"]["name"] == HOOK_NAME
                  for r in role["rules"]]
    assert all(name not in r["resourceNames"] for r in hook_rules)


@pytest.mark.parametrize("scenario", ["default", "sidecar", "sidecar-issued-token-secret", "renamed"])
def test_credentials_secret_flag_is_passed(render, scenario: str) -> None:
    """`--credentials-secret NAME`, in the Deployment and in the container NOTES.txt prints for
    sidecar mode, naming the Secret the chart creates."""
    rendered = render(SCENARIOS[scenario])
    if rendered.values["mode"] == "sidecar":
        args = notes_container(rendered.notes)["args"]
    else:
        args = container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"]
    name = site_credentials(rendered.values)
    index = args.index("--credentials-secret")
    assert args[index + 1] == name and args.count("--credentials-secret") == 1
    # Its grace period right after it, the default spelled out.
    assert args[index + 2:index + 4] == ["--credential-grace-period", "30"]
    assert args.count("--credential-grace-period") == 1
    assert rendered.get("Secret", name)
    assert f"Secret {NAMESPACE}/{name} (--credentials-secret)" in rendered.notes
    assert "`helm uninstall` keeps it" in rendered.notes


@pytest.mark.parametrize("extra", [{}, SCENARIOS["sidecar"]], ids=["deployment", "sidecar"])
def test_credential_grace_period_follows_the_value(render, extra) -> None:
    """siteCredentials.credentialGracePeriod is passed as `--credential-grace-period`, right
    after the credentials Secret it governs, in the Deployment and the printed sidecar."""
    rendered = render({**extra, "siteCredentials": {"credentialGracePeriod": 600}})
    if rendered.values["mode"] == "sidecar":
        args = notes_container(rendered.notes)["args"]
    else:
        args = container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"]
    index = args.index("--credentials-secret")
    assert args[index:index + 4] == ["--credentials-secret", SITE_CREDENTIALS, "--credential-grace-period", "600"]
    assert parse_args(args) == expected_args(rendered.values)


@pytest.mark.parametrize("extra", [{}, SCENARIOS["sidecar"], {"storage": "secret"}], ids=["deployment", "sidecar", "secret"])
def test_site_credentials_disabled_renders_neither_secret_nor_right_nor_flag(render, extra) -> None:
    rendered = render({**extra, "siteCredentials": {"enabled": False}})
    document_name = document(rendered.values)[1]
    assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == \
        ([document_name] if rendered.values["storage"] == "secret" else [])
    for rule in service_role(rendered)["rules"]:
        assert rule["resources"] != ["secrets"] or rule["resourceNames"] == [document_name], rule
    for path, text in rendered.manifests.items():
        assert "--credentials-secret" not in text, path
        assert "--credential-grace-period" not in text, path
        assert "site-credentials" not in text, path
    assert "Managed remote sites are off" in rendered.notes


@pytest.mark.parametrize("values, message", [
    ({"storage": "secret", "siteCredentials": {"secretName": SECRET}},
     f'siteCredentials.secretName must not be the document\'s Secret (secret.name "{SECRET}")'),
    ({"storage": "secret", "secret": {"name": "shared"}, "siteCredentials": {"secretName": "shared"}},
     'siteCredentials.secretName must not be the document\'s Secret (secret.name "shared")'),
], ids=["default-document-secret", "renamed-document-secret"])
def test_credentials_secret_is_not_the_document(chart, schemaless_chart, values, message) -> None:
    for loaded in (chart, schemaless_chart):
        with pytest.raises(helm.HelmRenderError) as caught:
            loaded.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        assert message in str(caught.value)


def test_credentials_secret_may_share_the_configmaps_name(render) -> None:
    """Different kinds: a ConfigMap document and a credentials Secret of the same name are fine."""
    rendered = render({"siteCredentials": {"secretName": CONFIGMAP}})
    assert rendered.get("Secret", CONFIGMAP) and rendered.get("ConfigMap", CONFIGMAP)
    assert service_role(rendered)["rules"][-1] == credentials_rule(CONFIGMAP)


def test_long_release_name_keeps_the_credentials_secret_name_valid(render) -> None:
    rendered = render(name="r" * 53)
    secret = next(s for s in rendered.of_kind("Secret"))
    name = secret["metadata"]["name"]
    assert name.endswith("-site-credentials") and len(name) <= 63, name
    assert service_role(rendered)["rules"][-1] == credentials_rule(name)


def bootstrap_rbac() -> list[dict[str, Any]]:
    return [o for o in yaml.safe_load_all(BOOTSTRAP_RBAC.read_text()) if o]


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_bootstrap_rbac_example_validates_strictly(version: str) -> None:
    objects = bootstrap_rbac()
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding"]
    validate_all_strictly(objects, version)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_site_tokens_rbac_example_validates_strictly(version: str) -> None:
    objects = site_tokens_example()
    assert [o["kind"] for o in objects] == ["Role", "RoleBinding"]
    validate_all_strictly(objects, version)


def test_site_tokens_rbac_example_grants_one_sites_tokens_and_nothing_else() -> None:
    """The Role names exactly what the service's SubjectAccessReview asks for one site
    (test_site_tokens.py grants it to a caller and sees it work against the real binary; the
    chart's siteTokens.grants render the same rule: test_chart_site_tokens.py)."""
    role, binding = site_tokens_example()
    assert role["rules"] == [{"apiGroups": ["kubeconfig-service.onap.org"], "resources": ["sites/token"],
                              "resourceNames": ["edge-1"], "verbs": ["create"]}]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}


def test_bootstrap_rbac_example_grants_exactly_the_deployers_token_and_its_own() -> None:
    """On the remote cluster, the bootstrap account may only create tokens for `deployer` and for
    itself (so that the service renews it), in `apps`: one Role rule, bound to that one account,
    nothing cluster-wide."""
    account, role, binding = bootstrap_rbac()
    for obj in (account, role, binding):
        assert obj["metadata"]["namespace"] == "apps", obj
    assert account["metadata"]["name"] == "kubeconfig-bootstrap"
    assert account["automountServiceAccountToken"] is False
    assert role["rules"] == [{"apiGroups": [""], "resources": ["serviceaccounts/token"],
                              "resourceNames": ["deployer", "kubeconfig-bootstrap"], "verbs": ["create"]}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kubeconfig-bootstrap",
                                    "namespace": "apps"}]


def test_managed_sites_doc_matches_the_example_and_validates() -> None:
    """deploy/docs/MANAGED-SITES.md shows the example's objects as they are in the file (no
    drift), its Secret-based token validates, and its commands and bodies are the ones
    documented: the caller's token issued for the service's audience (without it the chart's
    default check answers 401), the bootstrap token on no command line."""
    page = MANAGED_SITES_DOC.read_text()
    blocks = [[o for o in yaml.safe_load_all(block) if o] for block in fenced_blocks(page, "yaml")]
    assert blocks[0] == bootstrap_rbac()
    token_secret = blocks[1]
    assert [o["kind"] for o in token_secret] == ["Secret"]
    assert token_secret[0]["type"] == "kubernetes.io/service-account-token"
    assert token_secret[0]["metadata"]["annotations"] == {
        "kubernetes.io/service-account.name": "kubeconfig-bootstrap"}
    for obj in token_secret:
        for version in KUBE_VERSIONS:
            validate_strict(obj, version)
    assert "kubectl --context edge-1 -n apps create token kubeconfig-bootstrap --duration=720h" in \
        "\n".join(fenced_blocks(page, "sh"))
    shown = ManagedRegistration.shown()
    assert shown.caller == f"kubectl --namespace {NAMESPACE} create token {HOOK_NAME} --duration 10m --audience {FULLNAME}"
    assert shown.caller_token_request() == (NAMESPACE, HOOK_NAME, 600, [FULLNAME])
    # The JSON body, with the shell's variables standing in for the CA and the token.
    assert json.loads(shown.filled(shown.json_body, shown.server, "Q0E=", "tok")) == {
        "server": "https://edge-1.example.org:6443", "certificateAuthorityData": "Q0E=", "bootstrapToken": "tok",
        "tokenRequest": {"serviceAccount": "deployer", "namespace": "apps", "expirationSeconds": 3600}}
    assert shown.json_path == "/sites/edge-1"
    shell = shown.shell()
    assert "curl --fail -X PUT" in shell and "--data-binary @- http://127.0.0.1:8080/sites/edge-1 <<JSON" in shell
    kubeconfig = yaml.safe_load(shown.kubeconfig)
    assert kubeconfig["users"] == [{"name": "kubeconfig-bootstrap", "user": {"token": "$BOOTSTRAP"}}]
    assert [c["name"] for c in kubeconfig["contexts"]] == ["edge-1"] == [c["name"] for c in kubeconfig["clusters"]]
    assert "-H 'Content-Type: application/yaml'" in shell
    assert shown.yaml_path == "/sites/edge-1?serviceAccount=deployer&namespace=apps"
    # One site name throughout: edge-1, never edge1 or another edge.
    assert set(re.findall(r"\bedge-?\d+", page)) == {"edge-1"}
    # The bootstrap token is on no command line: it only appears inside here-documents (the
    # body on stdin, the kubeconfig file).
    terminator = None
    for line in shell.splitlines():
        if terminator is not None:
            terminator = None if line == terminator else terminator
            continue
        assert "$BOOTSTRAP" not in line, line
        heredoc = re.search(r"<<(\w+)$", line)
        terminator = heredoc.group(1) if heredoc else None
    assert terminator is None


def test_sidecar_doc_example_is_the_printed_container(render) -> None:
    """The sidecar snippet in deploy/docs/SIDECAR.md has the arguments NOTES.txt prints for the
    install command above it (--credentials-secret included)."""
    section = SIDECAR_DOC.read_text()
    install = re.search(r"helm install (\S+) deploy/helm/kubeconfig-service", section).group(1)
    rendered = render(SCENARIOS["sidecar"], name=install)
    snippet = yaml.safe_load(fenced_blocks(section, "yaml")[0])
    shown = container_of(snippet["spec"])
    printed = notes_container(rendered.notes)
    assert shown["args"] == printed["args"]
    assert parse_args(shown["args"])["--credentials-secret"] == f"{install}-kubeconfig-service-site-credentials"


def test_values_and_rbac_docs_document_the_watch_value() -> None:
    text = VALUES_DOC.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `watch.enabled` |"))
    assert "| `true` |" in row and "`--no-watch`" in row and "`list` and `watch`" in row, row
    assert "With `watch.enabled` (the default), also `list`, `watch` on it" in RBAC_DOC.read_text()


def test_values_doc_documents_the_site_credentials_values() -> None:
    text = VALUES_DOC.read_text()
    for key in ("siteCredentials.enabled", "siteCredentials.secretName", "siteCredentials.keepOnUninstall",
                "siteCredentials.credentialGracePeriod"):
        assert f"| `{key}` |" in text, key
    assert "\n## Keeping the credentials on uninstall\n" in MANAGED_SITES_DOC.read_text()
