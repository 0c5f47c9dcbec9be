"""What the chart creates and how it names it: standard labels on every object, names derived
from the release (truncated when long), the service accounts, and the document's ConfigMap or
Secret, created empty and kept, or owned elsewhere."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rendering import (CHART_DIR, CONFIGMAP, DEPLOYER_NAME, FULLNAME, HOOK_NAME, NAMESPACE, RELEASE, Rendered,
                       SCENARIOS, SECRET, SITE_CREDENTIALS, TEST_POD_NAME, container_of, document, document_rule,
                       parse_args, service_role, site_credentials)


# Labels every object of the chart carries (hook and test Pods included).
STANDARD_LABELS = ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of")


def document_objects(rendered: "Rendered", kind: str) -> list[dict[str, Any]]:
    """The ConfigMaps or Secrets that hold the document: all of that kind but the credentials
    Secret."""
    return [o for o in rendered.of_kind(kind)
            if o["metadata"]["labels"].get("app.kubernetes.io/component") != "site-credentials"]


# --------------------------------------------------------------------------- labels and names


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_standard_labels_on_every_object(render, chart, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    values = rendered.values
    version = values["image"]["tag"] or chart.metadata["appVersion"]
    for obj in rendered.objects:
        labels = obj["metadata"].get("labels", {})
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for label in STANDARD_LABELS:
            assert label in labels, (where, label)
        assert labels["helm.sh/chart"] == f"kubeconfig-service-{chart.metadata['version']}", where
        assert labels["app.kubernetes.io/instance"] == RELEASE, where
        assert labels["app.kubernetes.io/managed-by"] == "Helm", where
        assert labels["app.kubernetes.io/part-of"] == "onap-dcae", where
        if obj["kind"] == "Pod":  # the helm test Pod: not selected by the service's selector
            assert labels["app.kubernetes.io/name"] == "kubeconfig-service-test", where
        else:
            assert labels["app.kubernetes.io/name"] == "kubeconfig-service", where
            assert labels["app.kubernetes.io/version"] == version, where
    for workload in rendered.of_kind("Deployment") + rendered.of_kind("Job"):
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        for label in STANDARD_LABELS:
            assert label in pod_labels, (workload["kind"], label)


def test_default_names(default: Rendered) -> None:
    assert default.names() == sorted([
        f"ClusterRoleBinding/{FULLNAME}-{NAMESPACE}-auth-delegator",
        f"ConfigMap/{CONFIGMAP}",
        f"Deployment/{FULLNAME}",
        f"Job/{HOOK_NAME}",
        f"Pod/{TEST_POD_NAME}",
        f"Role/{FULLNAME}",
        f"Role/{HOOK_NAME}",
        f"RoleBinding/{FULLNAME}",
        f"RoleBinding/{HOOK_NAME}",
        f"Secret/{SITE_CREDENTIALS}",
        f"Service/{FULLNAME}",
        f"ServiceAccount/{FULLNAME}",
        f"ServiceAccount/{DEPLOYER_NAME}",
        f"ServiceAccount/{HOOK_NAME}",
    ])


def test_three_service_accounts_by_default(default: Rendered) -> None:
    accounts = sorted(sa["metadata"]["name"] for sa in default.of_kind("ServiceAccount"))
    assert accounts == sorted([FULLNAME, HOOK_NAME, DEPLOYER_NAME])
    assert default.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == FULLNAME
    assert default.one("Job")["spec"]["template"]["spec"]["serviceAccountName"] == HOOK_NAME
    # No pod runs as the dedicated account: its tokens come from the TokenRequest API.
    pods = [w["spec"]["template"]["spec"] for w in default.of_kind("Deployment") + default.of_kind("Job")]
    assert all(spec.get("serviceAccountName") != DEPLOYER_NAME for spec in pods + [default.one("Pod")["spec"]])


def test_long_release_names_are_truncated(render) -> None:
    rendered = render(name="r" * 53)  # Helm's longest release name
    # Service names are DNS labels; the Job's name ends up in its Pods' job-name label.
    for kind in ("Service", "Job", "Pod"):
        for obj in rendered.of_kind(kind):
            name = obj["metadata"]["name"]
            assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
    assert rendered.one("Job")["metadata"]["name"].endswith("-publish")
    assert rendered.one("Pod")["metadata"]["name"].endswith("-test")
    accounts = {sa["metadata"]["name"] for sa in rendered.of_kind("ServiceAccount")}
    assert len(accounts) == 3
    assert all(len(name) <= 63 for name in accounts), accounts
    deployer = next(name for name in accounts if name.endswith("-deployer"))
    assert parse_args(container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"])[
        "--token-service-account"] == deployer
    assert service_role(rendered)["rules"][1]["resourceNames"] == [deployer]


# --------------------------------------------------------------------------- ConfigMap


def test_configmap_has_no_data_so_helm_never_owns_the_document(default: Rendered) -> None:
    """The service writes the document; Helm must neither reset it on upgrade nor keep a copy
    (with its token) in the release Secret: the manifest carries no data."""
    configmap = default.get("ConfigMap", CONFIGMAP)
    assert "data" not in configmap
    assert "binaryData" not in configmap
    assert configmap["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "helm.sh/hook" not in configmap["metadata"]["annotations"]


def test_no_template_looks_up_live_objects() -> None:
    """`lookup` would copy live data (the token) into the release Secret."""
    for template in (CHART_DIR / "templates").rglob("*"):
        if template.is_file():
            assert "lookup" not in template.read_text(), template


def test_configmap_name_key_and_keep(render) -> None:
    renamed = render(SCENARIOS["renamed"])
    assert "data" not in renamed.get("ConfigMap", "edge-kubeconfig")
    not_kept = render(SCENARIOS["not-kept-and-scheduling"]).get("ConfigMap", CONFIGMAP)
    assert "helm.sh/resource-policy" not in not_kept["metadata"].get("annotations", {})


def test_configmap_owned_elsewhere_is_not_created_but_still_granted(render) -> None:
    rendered = render(SCENARIOS["configmap-elsewhere"])
    assert rendered.of_kind("ConfigMap") == []
    assert rendered.get("Role", FULLNAME)["rules"][0]["resourceNames"] == [CONFIGMAP]


def test_secret_storage_creates_an_empty_kept_secret(render) -> None:
    """Like the ConfigMap: Helm creates the Secret but never owns or copies the document."""
    rendered = render(SCENARIOS["secret"])
    assert rendered.of_kind("ConfigMap") == []
    secret = rendered.get("Secret", SECRET)
    assert secret["type"] == "Opaque"
    assert not {"data", "stringData", "immutable"} & set(secret), secret
    assert secret["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert secret["metadata"]["labels"]["app.kubernetes.io/component"] == "kubeconfig"
    not_kept = render({"storage": "secret", "secret": {"keepOnUninstall": False}}).get("Secret", SECRET)
    assert "helm.sh/resource-policy" not in not_kept["metadata"].get("annotations", {})


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_only_the_chosen_document_object_is_created(render, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    values = rendered.values
    resource, name, _ = document(values)
    kind, other = ("Secret", "ConfigMap") if resource == "secrets" else ("ConfigMap", "Secret")
    assert document_objects(rendered, other) == []
    section = values["secret" if resource == "secrets" else "configMap"]
    assert [o["metadata"]["name"] for o in document_objects(rendered, kind)] == \
        ([name] if section["create"] else [])
    # Besides it, only the credentials Secret, when enabled.
    credentials = site_credentials(values)
    assert [o["metadata"]["name"] for o in rendered.of_kind("Secret") if o not in document_objects(rendered, "Secret")] \
        == ([credentials] if credentials else [])


def test_secret_owned_elsewhere_is_not_created_but_still_granted(render) -> None:
    rendered = render(SCENARIOS["secret-elsewhere"])
    assert rendered.of_kind("ConfigMap") == []
    assert [o["metadata"]["name"] for o in rendered.of_kind("Secret")] == [SITE_CREDENTIALS]
    assert service_role(rendered)["rules"][0] == document_rule("secrets", "edge-kubeconfig")
    args = parse_args(container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"])
    assert (args["--secret"], args["--key"]) == ("edge-kubeconfig", "config.yaml")
    assert "--configmap" not in args  # mutually exclusive with --secret


def test_secret_storage_moves_every_configmap_reference(render) -> None:
    """With storage: secret nothing in the chart (RBAC, hook, test, NOTES) names the ConfigMap."""
    rendered = render(SCENARIOS["secret"])
    for path, text in rendered.manifests.items():
        assert CONFIGMAP not in text, path
        assert "configmaps" not in text, path
        assert "--configmap" not in text, path
