"""RBAC: every rule names its objects; the service's Role grants exactly the document's object,
the published account's token and the credentials Secret; no unnamed list or watch; bindings,
auth-delegator, the hook's patch-only Role and the dedicated account's rights. (siteTokens.grants'
Roles: test_chart_site_tokens.py.) The one exception to "every rule names its objects": the sinks'
Role in each sink namespace (test_chart_sinks.py), checked here to be exactly that and no more."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rendering import (CONFIGMAP, DEPLOYER_NAME, FULLNAME, HOOK_NAME, NAMESPACE, Rendered, SCENARIOS, SECRET,
                       SINK_RULE, credentials_rule, document, document_rule, fullname, service_role, site_credentials,
                       sink_namespaces, sink_objects, site_token_objects, site_token_rule, token_account, token_rule)


# --------------------------------------------------------------------------- RBAC


# Spelled out per scenario, so that the chart and the helpers (rendering.py) cannot drift together.
@pytest.mark.parametrize("scenario, rules", [
    ("default", [document_rule("configmaps", CONFIGMAP), token_rule(DEPLOYER_NAME), credentials_rule()]),
    ("renamed", [document_rule("configmaps", "edge-kubeconfig"), token_rule("kcs-deployer"),
                 credentials_rule("kcs-site-credentials")]),
    ("sidecar", [document_rule("configmaps", CONFIGMAP), credentials_rule()]),
    ("secret", [document_rule("secrets", SECRET), token_rule(DEPLOYER_NAME), credentials_rule()]),
    ("secret-elsewhere", [document_rule("secrets", "edge-kubeconfig"), token_rule(DEPLOYER_NAME),
                          credentials_rule()]),
    ("consumer-account", [document_rule("configmaps", CONFIGMAP), token_rule("dcae-cloudify-manager"),
                          credentials_rule()]),
    ("sidecar-issued-token-secret", [document_rule("secrets", SECRET),
                                     token_rule("dcae-cloudify-deployer"), credentials_rule()]),
    ("site-credentials-off", [document_rule("configmaps", CONFIGMAP), token_rule(DEPLOYER_NAME)]),
    ("site-credentials-named", [document_rule("secrets", SECRET), token_rule(DEPLOYER_NAME),
                                credentials_rule("edge.bootstrap-credentials")]),
    ("watch-off", [document_rule("configmaps", CONFIGMAP, watch=False), token_rule(DEPLOYER_NAME),
                   credentials_rule()]),
    ("secret-watch-off", [document_rule("secrets", SECRET, watch=False), token_rule(DEPLOYER_NAME),
                          credentials_rule()]),
])
def test_service_role_rules(render, scenario: str, rules: list[dict[str, Any]]) -> None:
    """get/patch (and list/watch with watch.enabled) on the document's one object; with an
    issued token, create on that one account's token subresource; with siteCredentials.enabled,
    get/patch on the credentials Secret by name (never list/watch)."""
    rendered = render(SCENARIOS[scenario])
    assert service_role(rendered)["rules"] == rules
    assert rendered.of_kind("ClusterRole") == []


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_roles_grant_nothing_beyond_the_named_objects(render, scenario: str) -> None:
    """Property of every render: no wildcard anywhere, every rule names its objects, the
    service's Role grants exactly the document's object and the published account's tokens, and
    only siteTokens.grants' Roles (one per grant, none by default) name the service's own API
    group, for nothing but `create` on named sites' tokens."""
    rendered = render(SCENARIOS[scenario])
    values = rendered.values
    grants = site_token_objects(rendered, "Role")
    assert len(grants) == len(values["siteTokens"]["grants"]), rendered.names()  # none by default
    # The sinks' Roles (none by default): one in each sink namespace, never the release's, each with
    # exactly the one rule on secrets that names no objects (RBAC cannot name them for create, list
    # and watch); checked apart, and left out of the checks below.
    sinks = sink_objects(rendered, "Role")
    assert [r["metadata"]["namespace"] for r in sinks] == sink_namespaces(values), rendered.names()
    for role in sinks:
        assert role["metadata"]["namespace"] != NAMESPACE and role["rules"] == [SINK_RULE], role
    for role in rendered.of_kind("Role"):
        if role in sinks:
            continue
        for rule in role["rules"]:
            where = (role["metadata"]["name"], rule)
            assert set(rule) == {"apiGroups", "resources", "resourceNames", "verbs"}, where
            if role in grants:
                # siteTokens.grants: the service's own resource, only `create` on named sites' tokens.
                assert rule == site_token_rule(*rule["resourceNames"]), where
            else:
                assert rule["apiGroups"] == [""], where
            assert rule["resourceNames"], where
            for field_ in ("apiGroups", "resources", "resourceNames", "verbs"):
                assert all("*" not in item for item in rule[field_]), where
            assert set(rule["verbs"]) <= {"get", "patch", "create", "list", "watch"}, where
            assert "create" not in rule["verbs"] or rule["resources"] in (["serviceaccounts/token"],
                                                                          ["sites/token"]), where
    resource, name, _ = document(values)
    granted = {(r, n, v) for rule in service_role(rendered)["rules"]
               for r in rule["resources"] for n in rule["resourceNames"] for v in rule["verbs"]}
    verbs = ("get", "patch", "list", "watch") if values["watch"]["enabled"] else ("get", "patch")
    expected = {(resource, name, verb) for verb in verbs}
    account = token_account(values)
    if account:
        expected.add(("serviceaccounts/token", account, "create"))
    credentials = site_credentials(values)
    if credentials:
        expected |= {("secrets", credentials, verb) for verb in ("get", "patch")}
    assert granted == expected
    # Only the service lists or watches, and only the document's object (above).
    for role in rendered.of_kind("Role"):
        if role is not service_role(rendered) and role not in sinks:
            assert all(not {"list", "watch"} & set(rule["verbs"]) for rule in role["rules"]), role
    # The chart defines no ClusterRole; cluster-wide it binds only system:auth-delegator.
    assert rendered.of_kind("ClusterRole") == []
    assert {b["roleRef"]["name"] for b in rendered.of_kind("ClusterRoleBinding")} <= {"system:auth-delegator"}
    # A RoleBinding binds a Role of the chart to its account, or credentials.clusterRole to the
    # dedicated account only.
    for binding in rendered.of_kind("RoleBinding"):
        if binding["roleRef"]["kind"] == "Role":
            assert rendered.get("Role", binding["roleRef"]["name"], binding["metadata"].get("namespace"))
        else:
            assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                          "name": values["credentials"]["clusterRole"]}
            assert binding["subjects"] == [{"kind": "ServiceAccount", "namespace": NAMESPACE,
                                            "name": f"{fullname(values)}-deployer"}]


def unnamed_lists_and_watches(objects: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """The rules of Roles and ClusterRoles that grant list or watch (or every verb) without
    naming their objects: such a rule reads every object of its resources, not one."""
    return [(o["kind"], o["metadata"]["name"], rule)
            for o in objects if o["kind"] in ("Role", "ClusterRole")
            for rule in o.get("rules") or []
            if {"list", "watch", "*"} & set(rule["verbs"]) and not rule.get("resourceNames")]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_rule_lists_or_watches_without_resource_names(render, scenario: str) -> None:
    """Every render: a list or watch is granted only with resourceNames (the watch on the
    document's object is by name), and where watching is on, such a rule exists; but in the sink
    namespaces, whose Secrets the service lists and watches by label."""
    rendered = render(SCENARIOS[scenario])
    # But the sinks' Roles, one per sink namespace (none by default), each exactly the sink rule.
    sinks = sink_objects(rendered, "Role")
    assert unnamed_lists_and_watches(rendered.objects) == [("Role", r["metadata"]["name"], SINK_RULE) for r in sinks]
    assert all(r["metadata"]["namespace"] != NAMESPACE for r in sinks)
    watching = [rule for role in rendered.of_kind("Role") + rendered.of_kind("ClusterRole") if role not in sinks
                for rule in role["rules"] if {"list", "watch"} & set(rule["verbs"])]
    if rendered.values["watch"]["enabled"]:
        resource, name, _ = document(rendered.values)
        assert [(r["resources"], r["resourceNames"]) for r in watching] == [([resource], [name])]
    else:
        assert watching == []


def test_unnamed_list_or_watch_is_reported(default: Rendered) -> None:
    # So that the property above can fail: the document's rule without its name, and a
    # ClusterRole listing Secrets, are both reported.
    role = json.loads(json.dumps(service_role(default)))
    del role["rules"][0]["resourceNames"]
    cluster_role = {"kind": "ClusterRole", "metadata": {"name": "reader"},
                    "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]}
    reported = unnamed_lists_and_watches([role, cluster_role, *default.objects])
    assert [(kind, name) for kind, name, _ in reported] == [("Role", FULLNAME), ("ClusterRole", "reader")]


@pytest.mark.parametrize("scenario, account", [
    ("default", FULLNAME), ("renamed", "kcs"), ("sidecar", "dcae-cloudify-manager"),
])
def test_service_rolebinding_binds_the_service_account(render, scenario: str, account: str) -> None:
    rendered = render(SCENARIOS[scenario])
    role = next(r for r in rendered.of_kind("Role")
                if r["metadata"]["labels"].get("app.kubernetes.io/component") != "publish-hook")
    binding = rendered.get("RoleBinding", role["metadata"]["name"])
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    if scenario == "sidecar":
        # serviceAccount.create=false: the Cloudify pod's own account, not created here.
        assert all(sa["metadata"]["name"] != account for sa in rendered.of_kind("ServiceAccount"))
    else:
        deployment = rendered.one("Deployment")
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account
        assert rendered.get("ServiceAccount", account)["automountServiceAccountToken"] is True


@pytest.mark.parametrize("scenario, present", [
    ("default", True), ("auth-none", False), ("sidecar", True), ("renamed", True),
])
def test_auth_delegator_only_with_kubernetes_auth(render, scenario: str, present: bool) -> None:
    rendered = render(SCENARIOS[scenario])
    bindings = rendered.of_kind("ClusterRoleBinding")
    if not present:
        assert bindings == []
        return
    assert len(bindings) == 1
    binding = bindings[0]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "system:auth-delegator"}
    service_binding = next(b for b in rendered.of_kind("RoleBinding")
                           if b["roleRef"]["name"] == b["metadata"]["name"]
                           and b["metadata"]["labels"].get("app.kubernetes.io/component")
                           not in ("publish-hook", "site-tokens"))
    assert binding["subjects"] == service_binding["subjects"]
    assert NAMESPACE in binding["metadata"]["name"]  # cluster-wide name, one per namespace


@pytest.mark.parametrize("scenario, resource, name", [
    ("default", "configmaps", CONFIGMAP), ("renamed", "configmaps", "edge-kubeconfig"),
    ("secret", "secrets", SECRET), ("sidecar-issued-token-secret", "secrets", SECRET),
])
def test_hook_role_is_patch_only(render, scenario: str, resource: str, name: str) -> None:
    rendered = render(SCENARIOS[scenario])
    job = rendered.one("Job")
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    binding = next(b for b in rendered.of_kind("RoleBinding")
                   if b["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}])
    role = rendered.get("Role", binding["roleRef"]["name"])
    assert role["rules"] == [{"apiGroups": [""], "resources": [resource],
                              "resourceNames": [name], "verbs": ["patch"]}]
    # Only the Job's pod mounts the token (it opts in), not every pod using the account.
    assert rendered.get("ServiceAccount", account)["automountServiceAccountToken"] is False
    # Ordinary release resources, so Helm creates them before post-install hooks run.
    for obj in (role, binding, rendered.get("ServiceAccount", account)):
        assert "helm.sh/hook" not in obj["metadata"].get("annotations", {})
    # Not bound to anything else (no ClusterRoleBinding for the hook).
    for crb in rendered.of_kind("ClusterRoleBinding"):
        assert all(s["name"] != account for s in crb["subjects"])


@pytest.mark.parametrize("scenario", ["default", "secret", "renamed"])
def test_dedicated_account_has_no_rights_by_default(render, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    deployer = f"{fullname(rendered.values)}-deployer"
    account = rendered.get("ServiceAccount", deployer)
    assert account["automountServiceAccountToken"] is False  # no pod runs as it
    assert account["metadata"]["labels"]["app.kubernetes.io/component"] == "deployer"
    for binding in rendered.of_kind("RoleBinding") + rendered.of_kind("ClusterRoleBinding"):
        assert all(subject["name"] != deployer for subject in binding["subjects"]), binding
    assert "WITHOUT ANY RIGHTS" in rendered.notes
    assert (f"kubectl --namespace {NAMESPACE} create rolebinding {deployer} --clusterrole=edit "
            f"--serviceaccount={NAMESPACE}:{deployer}") in rendered.notes


def test_dedicated_account_bound_to_the_named_cluster_role_in_the_namespace(render) -> None:
    rendered = render(SCENARIOS["deployer-bound"])
    binding = rendered.get("RoleBinding", DEPLOYER_NAME)
    assert binding["metadata"].get("namespace") in (None, NAMESPACE)  # namespaced, not cluster-wide
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": "edit"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": DEPLOYER_NAME,
                                    "namespace": NAMESPACE}]
    for crb in rendered.of_kind("ClusterRoleBinding"):
        assert all(subject["name"] != DEPLOYER_NAME for subject in crb["subjects"])
    assert "WITHOUT ANY RIGHTS" not in rendered.notes
    assert f'bound ClusterRole "edit" to it in\nnamespace {NAMESPACE} only' in rendered.notes


def test_named_consumer_account_is_neither_created_nor_bound(render) -> None:
    rendered = render(SCENARIOS["consumer-account"])
    assert sorted(sa["metadata"]["name"] for sa in rendered.of_kind("ServiceAccount")) == \
        [FULLNAME, HOOK_NAME]
    for binding in rendered.of_kind("RoleBinding") + rendered.of_kind("ClusterRoleBinding"):
        assert all(subject["name"] != "dcae-cloudify-manager" for subject in binding["subjects"])
    assert "not managed by this chart" in rendered.notes
