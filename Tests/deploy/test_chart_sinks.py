"""Sinks: one Secret per site for Argo CD (sinks.argocd) or for Flux's kubeConfig.secretRef
(sinks.kubeconfigSecrets), and the central site's labels (siteLabels). Off by default. Each enabled
sink becomes exactly its serve flags, and a Role and RoleBinding in its namespace whose one rule
is exactly the verbs the service needs on secrets there (get, list, watch, create, update,
delete); one pair per namespace, nothing cluster-wide, nothing in the release namespace. Every
bad input is refused with its message, by the schema and, without it, by the templates; NOTES.txt
and the docs say what the rights allow and which namespace each consumer needs. When the binary
takes the flags (`serve --help` lists --argocd-secrets), the rendered arguments run it with only
the chart's rights; until then that one test is skipped."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import helm_python as helm  # PyPI: helm-python-sdk (Helm v4's engine, no helm binary)
import pytest
import yaml
from rendering import (CHART_DIR, CONFIGMAP, DEPLOY_README, FULLNAME, KUBE_VERSIONS, NAMESPACE, RBAC_DOC, RELEASE,
                       REPO_ROOT, SCENARIOS, SINK_RULE, SINK_VERBS, VALUES_DOC, Rendered, expected_args,
                       notes_container, parse_args, render_chart, sink_namespaces, sink_objects, sinks_role_name,
                       validate_all_strictly)

SINKS_DOC = REPO_ROOT / "deploy" / "docs" / "SINKS.md"
ROLE = f"{FULLNAME}-{NAMESPACE}-sinks"


def sinks(argocd: dict[str, Any] | None = None, kubeconfig: dict[str, Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    """Values with these sinks (each a dict of enabled/namespace/selector)."""
    section = {}
    if argocd is not None:
        section["argocd"] = argocd
    if kubeconfig is not None:
        section["kubeconfigSecrets"] = kubeconfig
    return {"sinks": section, **extra}


def args_of(rendered: Rendered) -> list[str]:
    return rendered.one("Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]


def sink_args(args: list[str]) -> list[str]:
    """The sinks' and siteLabels' flags and values, in the order rendered."""
    flags = {"--argocd-secrets", "--argocd-secrets-selector", "--kubeconfig-secrets",
             "--kubeconfig-secrets-selector", "--site-label"}
    return [item for flag, value in zip(args, args[1:]) if flag in flags for item in (flag, value)]


# --------------------------------------------------------------------------- off by default


@pytest.mark.parametrize("scenario", [name for name, values in SCENARIOS.items() if "sinks" not in values])
def test_off_by_default(render, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    assert rendered.values["sinks"] == {"argocd": {"enabled": False, "namespace": "", "selector": ""},
                                        "kubeconfigSecrets": {"enabled": False, "namespace": "", "selector": ""}}
    assert rendered.values["siteLabels"] == {}
    assert sink_objects(rendered, "Role") == sink_objects(rendered, "RoleBinding") == []
    assert all(o["metadata"].get("namespace", NAMESPACE) == NAMESPACE for o in rendered.objects)
    if rendered.of_kind("Deployment"):
        assert sink_args(args_of(rendered)) == []
    assert "Sinks:" not in rendered.notes and "--site-label" not in rendered.notes


# --------------------------------------------------------------------------- what is rendered


def test_both_sinks_with_selectors_and_labels(render) -> None:
    """Argo CD's namespace and a dedicated one: exactly these flags, in this order (siteLabels
    sorted by key), and a Role and RoleBinding in each namespace, field by field."""
    rendered = render(SCENARIOS["sinks"])
    assert sink_args(args_of(rendered)) == [
        "--argocd-secrets", "argocd",
        "--argocd-secrets-selector", "tier in (central, edge),!example.org/legacy",
        "--kubeconfig-secrets", "fleet-sites",
        "--kubeconfig-secrets-selector", "tier=edge",
        "--site-label", "example.org/region=eu-west_1",
        "--site-label", "tier=central",
    ]
    assert parse_args(args_of(rendered)) == expected_args(rendered.values)
    assert sinks_role_name(rendered.values) == ROLE == "dcae-kubeconfig-service-onap-sinks"
    for namespace in ("argocd", "fleet-sites"):
        role, binding = rendered.get("Role", ROLE, namespace), rendered.get("RoleBinding", ROLE, namespace)
        for obj in (role, binding):
            assert obj["apiVersion"] == "rbac.authorization.k8s.io/v1"
            assert obj["metadata"]["namespace"] == namespace
            assert set(obj["metadata"]) == {"name", "namespace", "labels"}  # no hook annotations
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/component"] == "sinks"
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert set(role) == {"apiVersion", "kind", "metadata", "rules"}
        assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"],
                                  "verbs": ["get", "list", "watch", "create", "update", "delete"]}]
        assert set(binding) == {"apiVersion", "kind", "metadata", "roleRef", "subjects"}
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    # Nothing else leaves the release namespace, nothing cluster-wide is added.
    assert sorted((o["kind"], o["metadata"]["namespace"]) for o in rendered.objects if "namespace" in o["metadata"]) \
        == [("Role", "argocd"), ("Role", "fleet-sites"), ("RoleBinding", "argocd"), ("RoleBinding", "fleet-sites")]
    default = render()
    assert rendered.of_kind("ClusterRoleBinding") == default.of_kind("ClusterRoleBinding")
    assert rendered.of_kind("ClusterRole") == []


@pytest.mark.parametrize("scenario", ["sinks", "sinks-one-namespace", "sinks-sidecar"])
def test_the_rule_is_exactly_the_verbs_the_service_needs(render, scenario: str) -> None:
    """The service reads, lists and watches its Secrets by label, creates them, updates or
    replaces them when they change, deletes them with the site: these verbs on secrets, no more,
    no other resource, no other API group, and no resourceNames (RBAC could not honour them)."""
    rendered = render(SCENARIOS[scenario])
    roles = sink_objects(rendered, "Role")
    assert [r["metadata"]["namespace"] for r in roles] == sink_namespaces(rendered.values)
    for role in roles:
        [rule] = role["rules"]
        assert rule == SINK_RULE
        assert set(rule["verbs"]) == {"get", "list", "watch", "create", "update", "delete"}
        assert len(rule["verbs"]) == len(SINK_VERBS) == 6
        assert "*" not in rule["verbs"] and "deletecollection" not in rule["verbs"] and "resourceNames" not in rule
        assert role["metadata"]["namespace"] != NAMESPACE


@pytest.mark.parametrize("scenario", ["sinks", "sinks-one-namespace", "sinks-sidecar"])
@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_sink_objects_validate_strictly(render, scenario: str, version: str) -> None:
    rendered = render(SCENARIOS[scenario])
    objects = sink_objects(rendered, "Role") + sink_objects(rendered, "RoleBinding")
    assert objects
    validate_all_strictly(objects, version)


def test_one_role_when_both_sinks_share_a_namespace(render) -> None:
    rendered = render(SCENARIOS["sinks-one-namespace"])
    assert [(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
            for o in sink_objects(rendered, "Role") + sink_objects(rendered, "RoleBinding")] == \
        [("Role", "fleet", ROLE), ("RoleBinding", "fleet", ROLE)]
    assert sink_args(args_of(rendered)) == ["--argocd-secrets", "fleet", "--kubeconfig-secrets", "fleet"]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_two_objects_of_one_kind_namespace_and_name(render, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    keys = [(o["kind"], o["metadata"].get("namespace", NAMESPACE), o["metadata"]["name"]) for o in rendered.objects]
    assert len(set(keys)) == len(keys), keys


def test_one_sink_alone(render) -> None:
    rendered = render(sinks(kubeconfig={"enabled": True, "namespace": "fleet-sites"}))
    assert sink_args(args_of(rendered)) == ["--kubeconfig-secrets", "fleet-sites"]
    assert [r["metadata"]["namespace"] for r in sink_objects(rendered, "Role")] == ["fleet-sites"]
    # A disabled sink's namespace and selector are ignored.
    rendered = render(sinks(argocd={"enabled": False, "namespace": NAMESPACE, "selector": "not a selector"},
                            kubeconfig={"enabled": True, "namespace": "fleet-sites"}))
    assert sink_args(args_of(rendered)) == ["--kubeconfig-secrets", "fleet-sites"]


def test_site_labels_without_a_sink_are_passed_and_grant_nothing(render) -> None:
    rendered = render({"siteLabels": {"tier": "central", "empty": ""}})
    assert sink_args(args_of(rendered)) == ["--site-label", "empty=", "--site-label", "tier=central"]
    assert sink_objects(rendered, "Role") == []


def test_the_release_namespace_is_in_the_roles_name(chart) -> None:
    """Releases of one name in two namespaces, writing to one sink namespace, never claim the
    same object (Helm would refuse the second: another release's object)."""
    values = sinks(argocd={"enabled": True, "namespace": "argocd"})
    names = {namespace: [o["metadata"]["name"] for o in sink_objects(render_chart(chart, values, namespace=namespace),
                                                                      "Role")]
             for namespace in ("onap", "onap-test")}
    assert names == {"onap": ["dcae-kubeconfig-service-onap-sinks"],
                     "onap-test": ["dcae-kubeconfig-service-onap-test-sinks"]}


def test_sidecar_mode_prints_the_flags_and_binds_the_pods_account(render) -> None:
    rendered = render(SCENARIOS["sinks-sidecar"])
    container = notes_container(rendered.notes)
    assert sink_args(container["args"]) == ["--kubeconfig-secrets", "fleet-sites", "--site-label", "tier=central"]
    assert parse_args(container["args"]) == expected_args(rendered.values)
    binding = rendered.get("RoleBinding", ROLE, "fleet-sites")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "dcae-cloudify-manager", "namespace": NAMESPACE}]
    assert "every container of the\nCloudify Manager pod" in rendered.notes


# Every form of requirement Kubernetes' label selector parser takes (but Gt/Lt, which are for
# node affinity's numbers), alone and together.
GOOD_SELECTORS = [
    "tier", "!tier", "tier=edge", "tier==edge", "tier!=edge", "tier=", "tier in (edge)", "tier in (edge,core)",
    "tier notin (edge, core)", "tier in ()", "example.org/tier=edge", "!example.org/legacy",
    "a.b-c_d=E.f-G_h", " tier = edge , region in ( eu , us ) ", "tier=edge,!legacy,region notin (cn)",
    "t" * 63 + "=" + "v" * 63, "a" * 253 + "/tier=edge",
]


@pytest.mark.parametrize("selector", GOOD_SELECTORS)
def test_every_selector_form_is_taken(render, selector: str) -> None:
    rendered = render(sinks(argocd={"enabled": True, "namespace": "argocd", "selector": selector}))
    assert sink_args(args_of(rendered)) == ["--argocd-secrets", "argocd", "--argocd-secrets-selector", selector]


def test_a_release_upgraded_with_reuse_values_from_before_sinks(tmp_path) -> None:
    """`helm upgrade --reuse-values` takes the old chart's defaults, without `sinks` or
    `siteLabels`: the chart renders as before, and with only the keys set on the command line."""
    copy = tmp_path / CHART_DIR.name
    shutil.copytree(CHART_DIR, copy)
    defaults = yaml.safe_load((copy / "values.yaml").read_text())
    del defaults["sinks"], defaults["siteLabels"]
    (copy / "values.yaml").write_text(yaml.safe_dump(defaults))
    old = helm.Chart.load(copy)
    try:
        assert sink_objects(render_chart(old), "Role") == []
        rendered = render_chart(old, sinks(argocd={"enabled": True, "namespace": "argocd"}))
        assert sink_args(args_of(rendered)) == ["--argocd-secrets", "argocd"]
        assert [r["metadata"]["namespace"] for r in sink_objects(rendered, "Role")] == ["argocd"]
    finally:
        old.close()


# --------------------------------------------------------------------------- refusals

ENABLED_IN_ARGOCD = {"enabled": True, "namespace": "argocd"}

# Refused by the schema (shapes, types, unknown keys).
SCHEMA_REFUSALS = {
    "unknown-sink": ({"sinks": {"flux": {"enabled": True}}}, "at '/sinks': additional properties 'flux' not allowed"),
    "unknown-key": (sinks(argocd={**ENABLED_IN_ARGOCD, "namespaces": ["argocd"]}),
                    "at '/sinks/argocd': additional properties 'namespaces' not allowed"),
    "enabled-string": (sinks(argocd={**ENABLED_IN_ARGOCD, "enabled": "yes"}), "at '/sinks/argocd/enabled'"),
    "namespace-capitals": (sinks(argocd={"enabled": True, "namespace": "ArgoCD"}),
                           "at '/sinks/argocd/namespace': 'ArgoCD' does not match pattern"),
    "namespace-too-long": (sinks(argocd={"enabled": True, "namespace": "a" * 64}), "at '/sinks/argocd/namespace'"),
    "namespace-list": (sinks(argocd={"enabled": True, "namespace": ["argocd"]}), "at '/sinks/argocd/namespace'"),
    "selector-map": (sinks(argocd={**ENABLED_IN_ARGOCD, "selector": {"tier": "edge"}}),
                     "at '/sinks/argocd/selector'"),
    "label-number": ({"siteLabels": {"tier": 1}}, "at '/siteLabels/tier': got number, want string"),
    "label-list": ({"siteLabels": ["tier=central"]}, "at '/siteLabels'"),
    "label-value-too-long": ({"siteLabels": {"tier": "v" * 64}}, "at '/siteLabels/tier'"),
}


@pytest.mark.parametrize("values, message", SCHEMA_REFUSALS.values(), ids=list(SCHEMA_REFUSALS))
def test_schema_refuses_bad_shapes(chart, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert message in str(caught.value)


TEMPLATE_REFUSALS = {
    "enabled-string": (sinks(argocd={**ENABLED_IN_ARGOCD, "enabled": "yes"}),
                       "sinks.argocd.enabled must be true or false, not yes"),
    "namespace-capitals": (sinks(argocd={"enabled": True, "namespace": "ArgoCD"}),
                           "sinks.argocd.namespace must be a namespace name (a DNS-1123 label: at most 63 lowercase "
                           "letters, digits and '-', starting and ending with a letter or digit), not \"ArgoCD\""),
    "namespace-too-long": (sinks(kubeconfig={"enabled": True, "namespace": "a" * 64}),
                           "sinks.kubeconfigSecrets.namespace must be a namespace name"),
    "namespace-number": (sinks(argocd={"enabled": True, "namespace": 7}),
                         "sinks.argocd.namespace must be a namespace name as a string, not 7"),
    "selector-map": (sinks(argocd={**ENABLED_IN_ARGOCD, "selector": {"tier": "edge"}}),
                     "sinks.argocd.selector must be a label selector as a string (e.g. \"tier=edge\"), or empty for "
                     "every site, not map[tier:edge]"),
    "sinks-string": ({"sinks": "argocd"}, "sinks must be a map (argocd, kubeconfigSecrets), not string"),
    "sink-bool": ({"sinks": {"argocd": True}}, "sinks.argocd must be a map (enabled, namespace, selector), not bool"),
    "labels-list": ({"siteLabels": ["tier=central"]},
                    "siteLabels must be a map of label keys to values (the central site's labels, e.g. "
                    "{tier: central}), not slice"),
    "label-number": ({"siteLabels": {"tier": 1}},
                     "siteLabels.tier must be a label value as a string, not 1: quote it in YAML, or pass it with "
                     "--set-string"),
    "label-value-too-long": ({"siteLabels": {"tier": "v" * 64}}, f"siteLabels.tier \"{'v' * 64}\" is not a label value"),
}


@pytest.mark.parametrize("values, message", TEMPLATE_REFUSALS.values(), ids=list(TEMPLATE_REFUSALS))
def test_templates_refuse_bad_shapes_without_the_schema(schemaless_chart, values: dict[str, Any],
                                                       message: str) -> None:
    """`helm install --skip-schema-validation`: the templates refuse the same values, saying why."""
    with pytest.raises(helm.HelmRenderError) as caught:
        schemaless_chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert message in str(caught.value)


ARGOCD_NAMESPACE_MISSING = (
    "sinks.argocd.enabled needs sinks.argocd.namespace: the namespace Argo CD is installed in (usually argocd): "
    "Argo CD reads cluster Secrets only in its own namespace")
KUBECONFIG_NAMESPACE_MISSING = (
    "sinks.kubeconfigSecrets.enabled needs sinks.kubeconfigSecrets.namespace: the namespace of the Flux "
    "Kustomizations or HelmReleases that deploy to the sites: their kubeConfig.secretRef must name a Secret in "
    "their own namespace")
RELEASE_NAMESPACE = (
    "sinks.kubeconfigSecrets.namespace must not be the release namespace (onap): the service would be granted get, "
    "list, watch, create, update and delete on every Secret there, which RBAC cannot restrict to its own "
    "(the managed sites' credentials Secret and every other application's Secrets included); use the consumer's "
    "namespace, or a dedicated one where the consumer allows it (deploy/docs/SINKS.md)")


def selector_refusal(selector: str) -> str:
    return (f"sinks.argocd.selector \"{selector}\" is not a label selector: comma-separated requirements over the "
            "sites' labels, each key=value, key!=value, key in (v1,v2), key notin (v1,v2), key or !key, with label "
            "keys and values (at most 63 letters, digits, '-', '_' and '.'); leave it empty for every site")


def argocd_selector(selector: str) -> dict[str, Any]:
    return sinks(argocd={**ENABLED_IN_ARGOCD, "selector": selector})


# What the schema cannot say: refused by the templates, with the schema on and without it.
BOTH_REFUSALS = {
    "argocd-without-namespace": (sinks(argocd={"enabled": True}), ARGOCD_NAMESPACE_MISSING),
    "argocd-empty-namespace": (sinks(argocd={"enabled": True, "namespace": ""}), ARGOCD_NAMESPACE_MISSING),
    "kubeconfig-without-namespace": (sinks(kubeconfig={"enabled": True, "selector": "tier=edge"}),
                                     KUBECONFIG_NAMESPACE_MISSING),
    "release-namespace": (sinks(kubeconfig={"enabled": True, "namespace": NAMESPACE}), RELEASE_NAMESPACE),
    "release-namespace-argocd": (sinks(argocd={"enabled": True, "namespace": NAMESPACE}),
                                 "sinks.argocd.namespace must not be the release namespace (onap)"),
    "kube-system": (sinks(argocd={"enabled": True, "namespace": "kube-system"}),
                    "sinks.argocd.namespace must not be kube-system: namespaces starting with kube- belong to "
                    "Kubernetes itself (kube-system holds bootstrap tokens and controllers' credentials), and the "
                    "service would be granted get, list, watch, create, update and delete on every Secret there"),
    "kube-public": (sinks(kubeconfig={"enabled": True, "namespace": "kube-public"}),
                    "sinks.kubeconfigSecrets.namespace must not be kube-public"),
    "selector-in-without-parentheses": (argocd_selector("tier in edge"), selector_refusal("tier in edge")),
    "selector-matchlabels-yaml": (argocd_selector("tier: edge"), selector_refusal("tier: edge")),
    "selector-gt": (argocd_selector("rank>1"), selector_refusal("rank>1")),
    "selector-trailing-comma": (argocd_selector("tier=edge,"), selector_refusal("tier=edge,")),
    "selector-blank": (argocd_selector(" "), selector_refusal(" ")),
    "selector-value-space": (argocd_selector("tier=edge site"), selector_refusal("tier=edge site")),
    "selector-value-too-long": (argocd_selector("tier=" + "v" * 64), selector_refusal("tier=" + "v" * 64)),
    "selector-key-two-slashes": (argocd_selector("a/b/c=d"), selector_refusal("a/b/c=d")),
    "selector-prefix-capitals": (argocd_selector("Example.org/tier=edge"), selector_refusal("Example.org/tier=edge")),
    "selector-prefix-too-long": (argocd_selector("a" * 254 + "/tier=edge"),
                                 "sinks.argocd.selector has a label key prefix of more than 253 characters"),
    "selector-unclosed": (argocd_selector("tier in (edge"), selector_refusal("tier in (edge")),
    "label-key-space": ({"siteLabels": {"my tier": "edge"}},
                        "siteLabels key \"my tier\" is not a label key: an optional prefix (a DNS-1123 subdomain of "
                        "at most 253 characters) and '/', then at most 63 letters, digits, '-', '_' and '.', "
                        "starting and ending with a letter or digit"),
    "label-key-too-long": ({"siteLabels": {"t" * 64: "edge"}}, f"siteLabels key \"{'t' * 64}\" is not a label key"),
    "label-prefix-too-long": ({"siteLabels": {"a" * 254 + "/tier": "edge"}}, "is not a label key"),
    "label-key-leading-dash": ({"siteLabels": {"-tier": "edge"}}, "siteLabels key \"-tier\" is not a label key"),
    "label-value-space": ({"siteLabels": {"tier": "edge site"}},
                          "siteLabels.tier \"edge site\" is not a label value: at most 63 letters, digits, '-', '_' "
                          "and '.', starting and ending with a letter or digit, or empty"),
    "label-managed-by": ({"siteLabels": {"app.kubernetes.io/managed-by": "helm"}},
                         "siteLabels key \"app.kubernetes.io/managed-by\" is one the service sets on the sinks' "
                         "Secrets itself (app.kubernetes.io/managed-by, argocd.argoproj.io/secret-type, "
                         "reconcile.fluxcd.io/watch, and keys under kubeconfig-service.onap.org/): choose another key"),
    "label-argocd-secret-type": ({"siteLabels": {"argocd.argoproj.io/secret-type": "repository"}},
                                 "siteLabels key \"argocd.argoproj.io/secret-type\" is one the service sets"),
    "label-flux-watch": ({"siteLabels": {"reconcile.fluxcd.io/watch": "Disabled"}},
                         "siteLabels key \"reconcile.fluxcd.io/watch\" is one the service sets"),
    "label-service-prefix": ({"siteLabels": {"kubeconfig-service.onap.org/site": "edge-1"}},
                             "siteLabels key \"kubeconfig-service.onap.org/site\" is one the service sets"),
}


@pytest.mark.parametrize("values, message", BOTH_REFUSALS.values(), ids=list(BOTH_REFUSALS))
def test_templates_refuse_what_the_schema_cannot_say(chart, schemaless_chart, values: dict[str, Any],
                                                     message: str) -> None:
    for loaded in (chart, schemaless_chart):
        with pytest.raises(helm.HelmRenderError) as caught:
            loaded.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        assert message in str(caught.value)


def test_the_release_namespace_is_refused_whatever_it_is(chart) -> None:
    values = sinks(argocd={"enabled": True, "namespace": "argocd"})
    with pytest.raises(helm.HelmRenderError) as caught:
        render_chart(chart, values, namespace="argocd")
    assert "sinks.argocd.namespace must not be the release namespace (argocd)" in str(caught.value)


def test_schemaless_copy_renders_good_sinks(schemaless_chart) -> None:
    # So that the refusals above come from the checks, not from the copy.
    for scenario in ("sinks", "sinks-one-namespace", "sinks-sidecar"):
        rendered = render_chart(schemaless_chart, SCENARIOS[scenario])
        assert [r["metadata"]["namespace"] for r in sink_objects(rendered, "Role")] == \
            sink_namespaces(rendered.values)


# --------------------------------------------------------------------------- NOTES and docs


def test_notes_say_what_the_rights_allow_and_where_each_consumer_reads(render) -> None:
    notes = render(SCENARIOS["sinks"]).notes
    assert ("Sinks: besides the document, the service keeps one Secret per site, with the site's labels\n"
            "(the central site's, --site-label: example.org/region=eu-west_1, tier=central):") in notes
    assert ("  - Argo CD cluster Secrets (cluster-<site>) in namespace argocd,\n"
            "    for the sites matching \"tier in (central, edge),!example.org/legacy\".\n"
            "    Argo CD reads cluster Secrets only in its own namespace: argocd must be the one\n"
            "    Argo CD is installed in.") in notes
    assert ("  - kubeconfig Secrets (<site>-kubeconfig, key \"value\") in namespace fleet-sites,\n"
            "    for the sites matching \"tier=edge\".\n"
            "    A Flux Kustomization's or HelmRelease's spec.kubeConfig.secretRef names a Secret in\n"
            "    its own namespace: those that deploy to the sites must be in fleet-sites.") in notes
    assert (f"Role and RoleBinding {ROLE} in namespace argocd and in namespace fleet-sites\n"
            f"let ServiceAccount {NAMESPACE}/{FULLNAME} get, list, watch, create, update and delete\n"
            "EVERY Secret there, not only the service's own: RBAC cannot restrict create, list or watch\n"
            "to names.") in notes
    assert "a namespace of their own" in notes and "argocd-secret, repository" in notes
    assert "`helm uninstall` leaves the" in notes and "deploy/docs/SINKS.md" in notes
    shared = render(SCENARIOS["sinks-one-namespace"]).notes
    assert f"Role and RoleBinding {ROLE} in namespace fleet\n" in shared
    assert shared.count("    for every site.") == 2


def test_docs_say_what_the_rights_allow_and_where_each_consumer_reads() -> None:
    sinks_doc, readme, values_doc, rbac_doc = (page.read_text() for page in
                                               (SINKS_DOC, DEPLOY_README, VALUES_DOC, RBAC_DOC))
    # Every Secret of the namespace, and why resourceNames cannot help.
    assert "**the service's account may read, create, change and delete every Secret in each sink\nnamespace**" \
        in sinks_doc
    assert "Kubernetes\nRBAC cannot restrict `create` by resource name" in sinks_doc
    assert "**every Secret in that namespace**" in readme and "**every Secret in that namespace**" in values_doc
    assert "**without `resourceNames`**" in rbac_doc
    # The consumers' namespaces, as their own documentation says.
    assert '"within Secrets in the Argo CD namespace"' in sinks_doc
    assert '"must be in the same namespace as the Kustomization"' in sinks_doc
    [row] = [line for line in readme.splitlines() if line.startswith("| `sinks.argocd.*`")]
    assert "Argo CD, in its own namespace (it reads cluster Secrets nowhere else)" in row
    assert "`kubeConfig.secretRef` must be in the Kustomization's or HelmRelease's namespace" in row
    assert "not the release namespace" in row and "the Secrets outlive the release" in row
    # A row per value, naming its flag.
    for key, flag in (("sinks.argocd.enabled", "--argocd-secrets NAMESPACE"),
                      ("sinks.kubeconfigSecrets.enabled", "--kubeconfig-secrets NAMESPACE"),
                      ("siteLabels", "--site-label KEY=VALUE")):
        [row] = [line for line in values_doc.splitlines() if line.startswith(f"| `{key}`")]
        assert flag in row, row
    # The example values in SINKS.md render to what the page says.
    example = yaml.safe_load(sinks_doc.split("```yaml\n", 1)[1].split("```", 1)[0])
    assert set(example) == {"sinks", "siteLabels"}
    rendered = render_chart(helm.Chart.load(CHART_DIR), example)
    assert sink_args(args_of(rendered)) == ["--argocd-secrets", "argocd", "--kubeconfig-secrets", "fleet-sites",
                                            "--kubeconfig-secrets-selector", "tier in (edge)",
                                            "--site-label", "tier=central"]


# --------------------------------------------------------------------------- the real binary


def binary_takes_sinks() -> bool:
    """`kubeconfig-service serve --help` lists --argocd-secrets: the binary implements the sinks."""
    from loopback import BINARY
    try:
        answer = subprocess.run([str(BINARY), "serve", "--help"], capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return "--argocd-secrets" in answer.stdout + answer.stderr


@pytest.mark.skipif(not binary_takes_sinks(),
                    reason="the binary's `serve --help` does not list --argocd-secrets (sinks not built yet)")
def test_the_rendered_sinks_run_the_real_binary_with_only_the_charts_rights(chart, tmp_path) -> None:
    """The rendered arguments, with both sinks and the central site's labels, run the real binary
    against the API test server, where the sinks' Roles and RoleBindings are RBAC objects in their
    namespaces: the central site's Secrets appear in both, named and labelled as the sinks say, and
    nothing the service asks for is refused."""
    from kubeapi import ADMIN_TOKEN
    from loopback import wait_until
    from test_chart_runs import RenderedService

    values = sinks(argocd={"enabled": True, "namespace": "argocd"},
                   kubeconfig={"enabled": True, "namespace": "fleet-sites"}, siteLabels={"tier": "central"})
    objects = render_chart(chart, values).objects
    with RenderedService(objects, tmp_path, ("configmaps", CONFIGMAP)) as run:
        def secret(namespace: str, name: str) -> dict[str, Any] | None:
            answer = run.api.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", token=ADMIN_TOKEN)
            return answer.json() if answer.status == 200 else None

        expected = (("argocd", "cluster-central"), ("fleet-sites", "central-kubeconfig"))
        assert wait_until(lambda: all(secret(*where) for where in expected), timeout=20) is not None
        for where in expected:
            labels = secret(*where)["metadata"]["labels"]
            assert labels["tier"] == "central", labels
            assert labels["app.kubernetes.io/managed-by"] == "kubeconfig-service", labels
        refused = [entry for entry in run.api.requests() if entry["user"] == run.service_user and entry["code"] == 403]
        assert refused == [], refused
