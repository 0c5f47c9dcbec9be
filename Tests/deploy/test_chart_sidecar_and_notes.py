"""Sidecar mode (ConfigMap and RBAC only, the container NOTES.txt prints), the notes, and the
callers' token audience (`--auth-token-audience`) in the arguments, the notes and the deploy docs."""

from __future__ import annotations

import re
import textwrap

import pytest
import yaml
from rendering import (CONFIGMAP, FULLNAME, HOOK_NAME, KUBE_VERSIONS, NAMESPACE, SCENARIOS, SECRET,
                       SITE_CREDENTIALS, TEST_POD_NAME, TOKEN_AUDIENCE_DOC, VALUES_DOC, Rendered, assert_resources,
                       assert_restricted, container_of, curl_tokens, doc_section, expected_args, notes_container,
                       parse_args, validate_strict)


TOKEN_FLAGS = {"--token-service-account", "--token-expiration", "--token-audience"}


# --------------------------------------------------------------------------- sidecar mode


def test_sidecar_mode_installs_configmap_and_rbac_only(render) -> None:
    rendered = render(SCENARIOS["sidecar"])
    kinds = {o["kind"] for o in rendered.objects}
    assert kinds == {"ConfigMap", "Secret", "Role", "RoleBinding", "ClusterRoleBinding"}, rendered.names()
    assert [o["metadata"]["name"] for o in rendered.of_kind("Secret")] == [SITE_CREDENTIALS]


def test_sidecar_with_issued_token_and_secret(render) -> None:
    """credentials.serviceAccount in sidecar mode: the Cloudify pod's account may request that
    one account's tokens; no dedicated account is created."""
    rendered = render(SCENARIOS["sidecar-issued-token-secret"])
    assert rendered.names() == sorted([
        f"ClusterRoleBinding/{FULLNAME}-{NAMESPACE}-auth-delegator",
        f"Secret/{SECRET}", f"Secret/{SITE_CREDENTIALS}",
        f"Role/{FULLNAME}", f"RoleBinding/{FULLNAME}",
        f"ServiceAccount/{HOOK_NAME}", f"Role/{HOOK_NAME}", f"RoleBinding/{HOOK_NAME}",
        f"Job/{HOOK_NAME}", f"Pod/{TEST_POD_NAME}",
    ])
    assert rendered.get("RoleBinding", FULLNAME)["subjects"] == [
        {"kind": "ServiceAccount", "name": "dcae-cloudify-manager", "namespace": NAMESPACE}]
    container = notes_container(rendered.notes)
    assert parse_args(container["args"]) == expected_args(rendered.values)
    assert "ServiceAccount onap/dcae-cloudify-deployer: lifetime 600s, audiences cloudify" in rendered.notes


def test_sidecar_notes_print_the_container(render) -> None:
    rendered = render(SCENARIOS["sidecar"])
    notes = rendered.notes
    assert "serviceAccountName: dcae-cloudify-manager" in notes
    container = notes_container(notes)
    assert container["name"] == "kubeconfig-service"
    assert parse_args(container["args"]) == expected_args(rendered.values)
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert_restricted(container["securityContext"])
    assert_resources(container["resources"])
    # The pod's own token: no token is requested in sidecar mode by default.
    assert not TOKEN_FLAGS & set(parse_args(container["args"]))
    assert "carries the pod's own token (ServiceAccount onap/dcae-cloudify-manager)" in notes
    # The same container the Deployment runs, but for the port's name and the token flags
    # (deployment mode always publishes an issued token).
    deployment_container = container_of(render().one("Deployment")["spec"]["template"]["spec"])
    deployment_args = parse_args(deployment_container["args"])
    assert set(deployment_args) - set(parse_args(container["args"])) == \
        {"--token-service-account", "--token-expiration"}
    for flag in ("--token-service-account", "--token-expiration"):  # each with its value
        at = deployment_container["args"].index(flag)
        del deployment_container["args"][at:at + 2]
    assert {k: v for k, v in container.items() if k != "ports"} == \
        {k: v for k, v in deployment_container.items() if k != "ports"}


def test_sidecar_with_url_gets_hook_and_test(render) -> None:
    rendered = render(SCENARIOS["sidecar-with-url"])
    assert not rendered.of_kind("Deployment") and not rendered.of_kind("Service")
    tokens = curl_tokens(container_of(rendered.one("Job")["spec"]["template"]["spec"]))
    assert tokens[-1] == "http://dcae-cloudify-manager:8080/sites/central"
    assert container_of(rendered.one("Pod")["spec"])["command"][-1] == \
        "http://dcae-cloudify-manager:8080/healthz"


# --------------------------------------------------------------------------- NOTES.txt


def test_notes_give_the_manual_retrigger(default: Rendered) -> None:
    notes = default.notes
    assert f"kubectl --namespace {NAMESPACE} create token {HOOK_NAME} --duration 10m --audience {FULLNAME})" in notes
    assert f"port-forward service/{FULLNAME} 8080:8080" in notes
    assert ('curl --fail -X POST -H "Authorization: Bearer $TOKEN" '
            "http://127.0.0.1:8080/sites/central") in notes
    assert f"http://{FULLNAME}.{NAMESPACE}.svc:8080/sites/central" in notes


def test_notes_follow_secret_storage(render) -> None:
    notes = render(SCENARIOS["secret"]).notes
    assert f"in Secret {NAMESPACE}/{SECRET}, key \"kubeconfig\"" in notes
    assert f"get secret {SECRET} -o jsonpath='{{.data.kubeconfig}}' | base64 -d" in notes
    assert f"secret: {{secretName: {SECRET}}}" in notes and "Secret volume" in notes
    # Readers of GET /kubeconfig are authorised against the Secret: the operator must grant it.
    assert f'need "get" on secrets/{SECRET}' in notes
    assert f"--verb=get --resource=secrets --resource-name={SECRET}" in notes
    assert f'may "patch" the Secret ({HOOK_NAME})' in notes


def test_notes_grant_readers_the_configmap(default: Rendered) -> None:
    assert f'need "get" on configmaps/{CONFIGMAP}' in default.notes
    assert f"--verb=get --resource=configmaps --resource-name={CONFIGMAP}" in default.notes
    assert "Secret volume" not in default.notes


def test_notes_without_auth_need_no_token(render) -> None:
    notes = render(SCENARIOS["auth-none"]).notes
    assert "create token" not in notes
    assert "curl --fail -X POST http://127.0.0.1:8080/sites/central" in notes


# --------------------------------------------------------------------------- callers' token audience


@pytest.mark.parametrize("scenario, audiences", [
    ("default", [FULLNAME]), ("renamed", ["kcs"]), ("auth-none", []), ("audience-off", []),
    ("audiences-two", ["kubeconfig-service", FULLNAME]),
])
def test_callers_tokens_must_be_issued_for_the_release_by_default(render, scenario: str,
                                                                  audiences: list[str]) -> None:
    """--auth-token-audience is the release's full name unless authTokenAudiences says otherwise,
    so that a token minted for another service cannot be replayed here; [] turns the check off,
    and auth: none checks no token at all."""
    rendered = render(SCENARIOS[scenario])
    args = parse_args(container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"])
    assert args.get("--auth-token-audience", []) == audiences


def test_a_sidecar_audience_is_the_sidecar_releases_name(render) -> None:
    rendered = render(SCENARIOS["sidecar"], name="dcae-kubeconfig")
    assert parse_args(notes_container(rendered.notes)["args"])["--auth-token-audience"] == \
        ["dcae-kubeconfig-kubeconfig-service"]


def test_notes_tell_callers_how_to_get_a_token_for_the_audience(render) -> None:
    notes = render().notes
    assert f"A caller's token must also be issued for the audience {FULLNAME}" in notes
    volume = re.search(r"^  volumes:\n(?:    .*\n)+", notes, re.MULTILINE).group(0)
    assert yaml.safe_load(volume) == {"volumes": [{"name": "kubeconfig-service-token", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token", "audience": FULLNAME, "expirationSeconds": 3600}}]}}]}
    assert f"kubectl create token ACCOUNT --audience {FULLNAME}" in notes
    assert "must also be issued for the audience kubeconfig-service or dcae-kubeconfig-service" in \
        render(SCENARIOS["audiences-two"]).notes
    for scenario in ("audience-off", "auth-none"):
        notes = render(SCENARIOS[scenario]).notes
        assert "--audience" not in notes and "serviceAccountToken" not in notes, scenario


def test_deploy_docs_document_the_callers_token_audience(default: Rendered) -> None:
    text = VALUES_DOC.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `authTokenAudiences` |"))
    assert "| `null` |" in row and "`--auth-token-audience`" in row and "`[]`" in row, row
    section = TOKEN_AUDIENCE_DOC.read_text()
    prose = " ".join(section.split())
    # The Cloudify pod's projected token is for the default release's audience, at the path the
    # section reads it from, and the snippet is a valid pod spec.
    block = re.search(r"^( *)```yaml\n(.*?)^ *```$", section, re.MULTILINE | re.DOTALL)
    snippet = yaml.safe_load(textwrap.dedent(block.group(2)))
    [volume] = snippet["spec"]["volumes"]
    projected = volume["projected"]["sources"][0]["serviceAccountToken"]
    assert projected["audience"] == FULLNAME == parse_args(
        container_of(default.one("Deployment")["spec"]["template"]["spec"])["args"])["--auth-token-audience"][0]
    [mount] = snippet["spec"]["containers"][0]["volumeMounts"]
    assert mount["name"] == volume["name"]
    assert f"$(cat {mount['mountPath']}/{projected['path']})" in prose
    validate_strict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cloudify-manager"},
                     "spec": snippet["spec"]}, KUBE_VERSIONS[0])
    # What a client with its ordinary token gets: the service's own 401.
    assert ('"message": "the bearer token is not valid for this service\'s audience '
            f'({FULLNAME})"') in prose
    assert f"kubectl --namespace onap create token ACCOUNT --audience {FULLNAME}" in prose
    assert "`authTokenAudiences: []` turns the check off" in prose
    # deploy/README.md's manual re-trigger is NOTES.txt's.
    retrigger = f"TOKEN=$(kubectl --namespace {NAMESPACE} create token {HOOK_NAME} --duration 10m --audience {FULLNAME})"
    assert retrigger in doc_section("Re-trigger a publication by hand") and retrigger in default.notes
