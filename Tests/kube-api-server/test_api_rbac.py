"""RBAC objects and their enforcement: Roles, RoleBindings, ClusterRoles and ClusterRoleBindings
(create, get, list by label, update, patch, delete, with kube-apiserver's validation and errors),
the bootstrap ClusterRoles, what bindings allow in requests and in SubjectAccessReview,
SelfSubjectAccessReview and SelfSubjectRulesReview (subjects, namespaces, resourceNames,
subresources, at once on every change), the escalation check, ServiceAccounts through the API;
then kubectl (`create`, `apply`, `auth can-i` with service-account tokens) and the python client.
This module's `api` has NamespaceLifecycle on and the namespace `apps`."""

import json

import pytest
from apitests import (ACCESS_REVIEWS, RBAC, RBAC_GROUP, SELF_ACCESS_REVIEWS, SELF_RULES_REVIEWS, TOKEN_REVIEWS,
                      access_review, binding_body, can, role_body, rule, status, token_review)
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, KubeAPIServer
from loopback import kubectl

SITE = "kubeconfig-service.onap.org/site"
MANAGED = {"app.kubernetes.io/managed-by": "kubeconfig-service", SITE: "edge-1"}
ROLES, BINDINGS = RBAC + "/namespaces/apps/roles", RBAC + "/namespaces/apps/rolebindings"
CLUSTER_ROLES, CLUSTER_BINDINGS = RBAC + "/clusterroles", RBAC + "/clusterrolebindings"
ACCOUNTS = "/api/v1/namespaces/apps/serviceaccounts"
TOKEN_RULE = rule(["create"], ["serviceaccounts/token"], names=["deployer", "kubeconfig-bootstrap"])


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    config = {"namespaceLifecycle": True, "namespaces": ["apps", "other"],
              "serviceAccounts": [{"namespace": "apps", "name": "deployer"},
                                  {"namespace": "apps", "name": "kubeconfig-bootstrap"},
                                  {"namespace": "other", "name": "deployer"}],
              "objects": [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                           "metadata": {"name": "seeded", "labels": MANAGED},
                           "rules": [rule(["get"], ["sites"], groups=["kubeconfig-service.onap.org"])]}]}
    with KubeAPIServer(tmp_path_factory.mktemp("kube-api"), config=config) as server:
        yield server


def post(api, path, body, token=ADMIN_TOKEN):
    return api.request("POST", path, body, token=token)


def created(api, path, body, token=ADMIN_TOKEN):
    answer = post(api, path, body, token)
    assert answer.status == 201, answer
    return answer.json()


def names(api, path, token=ADMIN_TOKEN, query=""):
    answer = api.request("GET", path + query, token=token)
    assert answer.status == 200, answer
    return [item["metadata"]["name"] for item in answer.json()["items"]]


def account_token(api, name, namespace="apps"):
    return api.create_token(namespace, name)


def sar(api, **spec):
    """The status of a SubjectAccessReview asked by the admin."""
    answer = api.request("POST", ACCESS_REVIEWS, access_review(**spec), token=ADMIN_TOKEN)
    assert answer.status == 201, answer
    return answer.json()["status"]


# MARK: - The objects


def test_the_bootstrap_cluster_roles_and_bindings_exist_from_the_start(api):
    assert {"admin", "cluster-admin", "edit", "view", "system:auth-delegator", "system:basic-user",
            "system:discovery", "system:public-info-viewer", "seeded"} == set(names(api, CLUSTER_ROLES))
    assert names(api, CLUSTER_BINDINGS) == ["cluster-admin", "system:basic-user", "system:discovery",
                                            "system:public-info-viewer"]
    edit = api.request("GET", CLUSTER_ROLES + "/edit", token=ADMIN_TOKEN).json()
    assert (edit["kind"], edit["apiVersion"]) == ("ClusterRole", "rbac.authorization.k8s.io/v1")
    assert edit["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
    assert names(api, CLUSTER_ROLES, query=f"?labelSelector={SITE}%3Dedge-1") == ["seeded"]


def test_role_create_get_list_update_patch_and_delete(api):
    role = created(api, ROLES, role_body("bootstrap", [TOKEN_RULE], labels=MANAGED))
    assert role["rules"] == [{"verbs": ["create"], "apiGroups": [""], "resources": ["serviceaccounts/token"],
                              "resourceNames": ["deployer", "kubeconfig-bootstrap"]}]
    assert role["metadata"]["namespace"] == "apps" and role["metadata"]["labels"] == MANAGED
    assert post(api, ROLES, role_body("bootstrap", [])).json() == status(
        409, "AlreadyExists", 'roles.rbac.authorization.k8s.io "bootstrap" already exists',
        {"name": "bootstrap", "group": RBAC_GROUP, "kind": "roles"})
    assert api.request("GET", ROLES + "/bootstrap", token=ADMIN_TOKEN).json() == role
    assert names(api, ROLES, query=f"?labelSelector={SITE}%3Dedge-1") == ["bootstrap"]
    assert names(api, ROLES, query=f"?labelSelector={SITE}%3Dedge-2") == []
    assert names(api, RBAC + "/roles") == ["bootstrap"]  # every namespace

    replaced = api.request("PUT", ROLES + "/bootstrap", {**role, "rules": [rule(["get"], ["configmaps"])]},
                           token=ADMIN_TOKEN)
    assert replaced.status == 200 and replaced.json()["rules"] == [rule(["get"], ["configmaps"])]
    stale = api.request("PUT", ROLES + "/bootstrap", role, token=ADMIN_TOKEN)  # the old resourceVersion
    assert stale.json()["message"] == ('Operation cannot be fulfilled on roles.rbac.authorization.k8s.io "bootstrap": '
                                       "the object has been modified; please apply your changes to the latest version "
                                       "and try again")
    merged = api.request("PATCH", ROLES + "/bootstrap", {"metadata": {"labels": {"extra": "1"}}}, token=ADMIN_TOKEN,
                         content_type="application/merge-patch+json").json()
    assert merged["metadata"]["labels"] == {**MANAGED, "extra": "1"}
    strategic = api.request("PATCH", ROLES + "/bootstrap", {"rules": [TOKEN_RULE]}, token=ADMIN_TOKEN,
                            content_type="application/strategic-merge-patch+json").json()
    assert strategic["rules"] == [{"verbs": ["create"], "apiGroups": [""], "resources": ["serviceaccounts/token"],
                                   "resourceNames": ["deployer", "kubeconfig-bootstrap"]}]  # a list is replaced
    deleted = api.request("DELETE", ROLES + "/bootstrap", token=ADMIN_TOKEN).json()
    assert (deleted["status"], deleted["details"]) == ("Success", {"name": "bootstrap", "group": RBAC_GROUP,
                                                                    "kind": "roles", "uid": role["metadata"]["uid"]})
    assert api.request("GET", ROLES + "/bootstrap", token=ADMIN_TOKEN).json() == status(
        404, "NotFound", 'roles.rbac.authorization.k8s.io "bootstrap" not found',
        {"name": "bootstrap", "group": RBAC_GROUP, "kind": "roles"})


def test_cluster_scoped_kinds_have_no_namespace(api):
    role = created(api, CLUSTER_ROLES, {**role_body("reader", [rule(["get"], ["configmaps"])]), "kind": "ClusterRole",
                                        "metadata": {"name": "reader", "namespace": "ignored"}})
    assert "namespace" not in role["metadata"]
    binding = created(api, CLUSTER_BINDINGS, binding_body("reader", "reader", [("ServiceAccount", "apps", "deployer")],
                                                          kind="ClusterRoleBinding"))
    assert "namespace" not in binding["metadata"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "deployer", "namespace": "apps"}]
    assert api.request("DELETE", CLUSTER_BINDINGS + "/reader", token=ADMIN_TOKEN).status == 200


def test_binding_defaults_fill_in_api_groups(api):
    body = {"metadata": {"name": "defaulted"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "Group", "name": "g"},
                         {"kind": "ServiceAccount", "name": "deployer"}]}
    binding = created(api, BINDINGS, body)
    assert binding["roleRef"] == {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "view"}
    assert binding["subjects"] == [{"kind": "User", "apiGroup": RBAC_GROUP, "name": "u"},
                                   {"kind": "Group", "apiGroup": RBAC_GROUP, "name": "g"},
                                   {"kind": "ServiceAccount", "name": "deployer"}]


@pytest.mark.parametrize("path, body, message", [
    (ROLES, {"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["configmaps"]}]},
     'Role.rbac.authorization.k8s.io "r" is invalid: rules[0].verbs: Required value: verbs must contain at least one '
     "value"),
    (ROLES, {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"]}]},
     'Role.rbac.authorization.k8s.io "r" is invalid: [rules[0].apiGroups: Required value: resource rules must supply '
     "at least one api group, rules[0].resources: Required value: resource rules must supply at least one resource]"),
    (ROLES, {"metadata": {"name": "r"}, "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}]},
     'Role.rbac.authorization.k8s.io "r" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: '
     "namespaced rules cannot apply to non-resource URLs"),
    (ROLES, {"metadata": {"name": "a/b"}, "rules": []},
     'Role.rbac.authorization.k8s.io "a/b" is invalid: metadata.name: Invalid value: "a/b": may not contain \'/\''),
    (BINDINGS, {"metadata": {"name": "b"}, "subjects": [{"kind": "User", "name": "u"}]},
     'RoleBinding.rbac.authorization.k8s.io "b" is invalid: [roleRef.kind: Unsupported value: "": supported values: '
     '"Role", "ClusterRole", roleRef.name: Required value]'),
    (BINDINGS, {"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "Robot", "name": "r"}, {"kind": "ServiceAccount", "name": ""}]},
     'RoleBinding.rbac.authorization.k8s.io "b" is invalid: [subjects[0].kind: Unsupported value: "Robot": supported '
     'values: "ServiceAccount", "User", "Group", subjects[1].name: Required value]'),
    (CLUSTER_BINDINGS, {"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"},
                        "subjects": [{"kind": "ServiceAccount", "name": "deployer"}]},
     'ClusterRoleBinding.rbac.authorization.k8s.io "b" is invalid: [roleRef.kind: Unsupported value: "Role": '
     'supported values: "ClusterRole", subjects[0].namespace: Required value]'),
], ids=["no-verbs", "no-groups-or-resources", "namespaced-url", "name", "no-role-ref", "subjects", "cluster-binding"])
def test_validation_errors_are_kube_apiservers(api, path, body, message):
    answer = post(api, path, body)
    assert answer.status == 422 and answer.json()["reason"] == "Invalid"
    assert answer.json()["message"] == message


def test_the_role_ref_of_a_binding_cannot_change(api):
    binding = created(api, BINDINGS, binding_body("deployer", "view", [("ServiceAccount", "apps", "deployer")]))
    message = ('RoleBinding.rbac.authorization.k8s.io "deployer" is invalid: roleRef: Invalid value: '
               'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef')
    changed = {**binding, "roleRef": {**binding["roleRef"], "name": "edit"}}
    put = api.request("PUT", BINDINGS + "/deployer", changed, token=ADMIN_TOKEN)
    assert put.status == 422 and put.json()["message"] == message
    patched = api.request("PATCH", BINDINGS + "/deployer", {"roleRef": {"name": "edit"}}, token=ADMIN_TOKEN,
                          content_type="application/merge-patch+json")
    assert patched.status == 422 and patched.json()["message"] == message
    subjects = api.request("PATCH", BINDINGS + "/deployer", {"subjects": [{"kind": "User", "name": "u"}]},
                           token=ADMIN_TOKEN, content_type="application/strategic-merge-patch+json")
    assert subjects.status == 200 and subjects.json()["subjects"] == [{"kind": "User", "apiGroup": RBAC_GROUP,
                                                                       "name": "u"}]


# MARK: - Enforcement


def test_edit_and_view_grant_what_their_real_rules_grant(api):
    def allowed(role, verb, resource, group=""):
        return sar(api, user="u", groups=[f"{role}-holders"], verb=verb, resource=resource, group=group,
                   namespace="apps")["allowed"]

    created(api, BINDINGS, binding_body("edit", "edit", [("Group", "edit-holders")]))
    created(api, BINDINGS, binding_body("view", "view", [("Group", "view-holders")]))
    for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
        assert allowed("edit", verb, "configmaps") and allowed("edit", verb, "secrets")
        assert allowed("edit", verb, "deployments", "apps")
        assert allowed("view", verb, "configmaps") == (verb in ("get", "list", "watch"))
        assert allowed("view", verb, "deployments", "apps") == (verb in ("get", "list", "watch"))
        assert not allowed("view", verb, "secrets")
        assert not allowed("edit", verb, "roles", RBAC_GROUP)
    assert allowed("edit", "create", "serviceaccounts/token")
    assert not allowed("view", "create", "serviceaccounts/token")


def test_a_role_binding_to_a_cluster_role_applies_only_in_its_namespace(api):
    token = account_token(api, "deployer")
    path = "/api/v1/namespaces/{}/configmaps"
    assert post(api, path.format("apps"), {"metadata": {"name": "x"}}, token).status == 403
    created(api, BINDINGS, binding_body("deployer-edit", "edit", [("ServiceAccount", "apps", "deployer")]))
    made = post(api, path.format("apps"), {"metadata": {"name": "x"}}, token)
    assert made.status == 201, made
    other = post(api, path.format("other"), {"metadata": {"name": "x"}}, token)
    assert other.json()["message"] == ('configmaps is forbidden: User "system:serviceaccount:apps:deployer" cannot '
                                       'create resource "configmaps" in API group "" in the namespace "other"')
    assert not can(api, token, "create", "configmaps", namespace="other")
    review = sar(api, user="system:serviceaccount:apps:deployer", verb="create", resource="configmaps", namespace="apps")
    assert review == {"allowed": True, "reason": 'RBAC: allowed by RoleBinding "deployer-edit/apps" of ClusterRole '
                                                 '"edit" to ServiceAccount "deployer/apps"'}
    # the same-named account of another namespace gets nothing from it
    assert not can(api, account_token(api, "deployer", "other"), "create", "configmaps", namespace="apps")


def test_a_cluster_role_binding_applies_everywhere_and_to_the_cluster_scope(api):
    token = account_token(api, "deployer")
    created(api, CLUSTER_BINDINGS, binding_body("deployer-view", "view", [("ServiceAccount", "apps", "deployer")],
                                                kind="ClusterRoleBinding"))
    assert all(can(api, token, "list", "configmaps", namespace=ns) for ns in ("apps", "other", "anywhere"))
    assert can(api, token, "list", "namespaces")
    assert api.request("GET", "/api/v1/namespaces/other/configmaps", token=token).status == 200


@pytest.mark.parametrize("subject", [("Group", "system:serviceaccounts"), ("Group", "system:serviceaccounts:apps"),
                                     ("Group", "system:authenticated"),
                                     ("User", "system:serviceaccount:apps:deployer"), ("ServiceAccount", "", "deployer")],
                         ids=["all-accounts", "namespace-accounts", "authenticated", "user", "account-here"])
def test_subjects_match_a_service_accounts_user_and_groups(api, subject):
    """A ServiceAccount subject without a namespace is the binding's namespace's account."""
    token = account_token(api, "deployer")
    binding = binding_body("s", "view", [subject])
    if subject[0] == "ServiceAccount":
        binding["subjects"] = [{"kind": "ServiceAccount", "name": "deployer"}]
    created(api, BINDINGS, binding)
    assert can(api, token, "get", "configmaps", namespace="apps")
    other = can(api, account_token(api, "deployer", "other"), "get", "configmaps", namespace="apps")
    assert other == (subject[1] in ("system:serviceaccounts", "system:authenticated"))


def test_resource_names_limit_token_requests_to_the_named_accounts(api):
    """The bootstrap account's Role: exactly `create` on serviceaccounts/token for two names."""
    created(api, ROLES, role_body("kubeconfig-bootstrap", [TOKEN_RULE], labels=MANAGED))
    created(api, BINDINGS, binding_body("kubeconfig-bootstrap", "kubeconfig-bootstrap",
                                        [("ServiceAccount", "apps", "kubeconfig-bootstrap")], role_kind="Role",
                                        labels=MANAGED))
    bootstrap = account_token(api, "kubeconfig-bootstrap")
    assert api.create_token("apps", "deployer", token=bootstrap)
    assert api.create_token("apps", "kubeconfig-bootstrap", token=bootstrap)
    api.add_service_account("apps", "stranger")
    refused = api.request("POST", "/api/v1/namespaces/apps/serviceaccounts/stranger/token", {"spec": {}},
                          token=bootstrap)
    assert refused.json()["message"] == ('serviceaccounts "stranger" is forbidden: User '
                                         '"system:serviceaccount:apps:kubeconfig-bootstrap" cannot create resource '
                                         '"serviceaccounts/token" in API group "" in the namespace "apps"')
    assert can(api, bootstrap, "create", "serviceaccounts", "apps", "deployer", subresource="token")
    assert not can(api, bootstrap, "create", "serviceaccounts", "apps", subresource="token")  # no name
    assert not can(api, bootstrap, "create", "serviceaccounts", "apps", "deployer")  # not the account itself
    assert not can(api, bootstrap, "get", "serviceaccounts", "apps", "deployer", subresource="token")
    assert not can(api, bootstrap, "create", "serviceaccounts", "other", "deployer", subresource="token")


def test_a_change_to_a_binding_or_role_applies_at_once(api):
    token = account_token(api, "deployer")
    created(api, ROLES, role_body("reader", [rule(["get"], ["configmaps"])]))
    created(api, BINDINGS, binding_body("reader", "reader", [("ServiceAccount", "apps", "deployer")], role_kind="Role"))
    api.put_configmap("apps", "x", {"k": "v"})
    assert api.request("GET", "/api/v1/namespaces/apps/configmaps/x", token=token).status == 200
    api.request("PATCH", ROLES + "/reader", {"rules": [rule(["list"], ["configmaps"])]}, token=ADMIN_TOKEN,
                content_type="application/merge-patch+json")
    assert api.request("GET", "/api/v1/namespaces/apps/configmaps/x", token=token).status == 403
    assert api.request("GET", "/api/v1/namespaces/apps/configmaps", token=token).status == 200
    assert api.request("DELETE", BINDINGS + "/reader", token=ADMIN_TOKEN).status == 200
    assert api.request("GET", "/api/v1/namespaces/apps/configmaps", token=token).status == 403


def test_a_binding_to_a_missing_role_allows_nothing_and_says_why(api):
    token = account_token(api, "deployer")
    created(api, BINDINGS, binding_body("ghostly", "ghost", [("ServiceAccount", "apps", "deployer")]))
    reason = 'RBAC: clusterrole.rbac.authorization.k8s.io "ghost" not found'
    assert sar(api, user="system:serviceaccount:apps:deployer", verb="get", resource="configmaps",
               namespace="apps") == {"allowed": False, "reason": reason}
    refused = api.request("GET", "/api/v1/namespaces/apps/configmaps", token=token)
    assert refused.json()["message"] == ('configmaps is forbidden: User "system:serviceaccount:apps:deployer" cannot '
                                         f'list resource "configmaps" in API group "" in the namespace "apps": {reason}')


def test_non_resource_urls_of_cluster_roles(api):
    created(api, CLUSTER_ROLES, {"metadata": {"name": "metrics"}, "rules": [{"verbs": ["get"],
                                                                               "nonResourceURLs": ["/metrics*"]}]})
    created(api, CLUSTER_BINDINGS, binding_body("metrics", "metrics", [("User", "prom")], kind="ClusterRoleBinding"))

    def allowed(user, path):
        spec = {"user": user, "nonResourceAttributes": {"verb": "get", "path": path}}
        return post(api, ACCESS_REVIEWS, {"spec": spec}).json()["status"]["allowed"]

    assert allowed("prom", "/metrics") and allowed("prom", "/metrics/slis") and not allowed("prom", "/logs")
    assert not allowed("someone", "/metrics")


# MARK: - SelfSubjectAccessReview, SelfSubjectRulesReview


def test_self_subject_access_review_answers_for_the_caller(api):
    token = account_token(api, "deployer")
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": "get", "resource": "configmaps", "namespace": "apps"}}}
    answer = post(api, SELF_ACCESS_REVIEWS, body, token)
    assert answer.status == 201
    assert answer.json() == {**body, "metadata": {"creationTimestamp": None}, "status": {"allowed": False}}
    assert post(api, SELF_ACCESS_REVIEWS, {"spec": {}}, token).json()["message"] == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": '
        "exactly one of nonResourceAttributes or resourceAttributes must be specified")
    anonymous = post(api, SELF_ACCESS_REVIEWS, body, token=None)
    assert anonymous.status == 403  # system:basic-user is bound to system:authenticated
    assert can(api, ADMIN_TOKEN, "delete", "anything", namespace="anywhere", group="example.org")
    assert can(api, NOBODY_TOKEN, "create", "selfsubjectaccessreviews", group="authorization.k8s.io")


def test_self_subject_rules_review_lists_the_callers_rules_in_a_namespace(api):
    created(api, ROLES, role_body("kubeconfig-bootstrap", [TOKEN_RULE]))
    created(api, BINDINGS, binding_body("kubeconfig-bootstrap", "kubeconfig-bootstrap",
                                        [("ServiceAccount", "apps", "kubeconfig-bootstrap")], role_kind="Role"))
    token = account_token(api, "kubeconfig-bootstrap")

    def review(namespace):
        answer = post(api, SELF_RULES_REVIEWS, {"spec": {"namespace": namespace}}, token)
        assert answer.status == 201, answer
        return answer.json()

    here = review("apps")
    assert (here["kind"], here["spec"], here["status"]["incomplete"]) == ("SelfSubjectRulesReview", {}, False)
    assert {"verbs": ["create"], "apiGroups": [""], "resources": ["serviceaccounts/token"],
            "resourceNames": ["deployer", "kubeconfig-bootstrap"]} in here["status"]["resourceRules"]
    assert {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]} in \
        here["status"]["nonResourceRules"]
    assert not any("serviceaccounts/token" in r.get("resources", []) for r in review("other")["status"]["resourceRules"])
    assert post(api, SELF_RULES_REVIEWS, {"spec": {}}, token).json() == status(400, "BadRequest",
                                                                              "no namespace on request")


# MARK: - Escalation


def test_a_user_may_grant_only_what_it_holds(api):
    alice = api.add_identity("alice")
    created(api, BINDINGS, binding_body("alice-admin", "admin", [("User", "alice")]))
    subset = role_body("token-maker", [TOKEN_RULE, rule(["get", "list"], ["configmaps"])])
    assert post(api, ROLES, subset, alice).status == 201
    beyond = post(api, ROLES, role_body("nodes", [rule(["get", "list"], ["nodes", "secrets"])]), alice)
    assert beyond.json() == status(
        403, "Forbidden", 'roles.rbac.authorization.k8s.io "nodes" is forbidden: user "alice" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}',
        {"name": "nodes", "group": RBAC_GROUP, "kind": "roles"})
    assert post(api, ROLES.replace("apps", "other"), subset, alice).status == 403  # admin only in apps
    # bindings: to roles whose rules alice holds, not to cluster-admin, and a missing role is its 404
    assert post(api, BINDINGS, binding_body("bob-edit", "edit", [("User", "bob")]), alice).status == 201
    admin = post(api, BINDINGS, binding_body("bob-admin", "cluster-admin", [("User", "bob")]), alice).json()
    assert admin["code"] == 403 and admin["message"].endswith(
        ':\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}\n{NonResourceURLs:["*"], Verbs:["*"]}')
    missing = post(api, BINDINGS, binding_body("bob-ghost", "ghost", [("User", "bob")]), alice)
    assert missing.json() == status(404, "NotFound", 'clusterroles.rbac.authorization.k8s.io "ghost" not found',
                                    {"name": "ghost", "group": RBAC_GROUP, "kind": "clusterroles"})
    assert post(api, BINDINGS, binding_body("bob-ghost", "ghost", [("User", "bob")])).status == 201  # system:masters


def test_escalate_and_bind_let_a_user_grant_more(api):
    carl = api.add_identity("carl", rules=[
        {"verbs": ["create"], "apiGroups": [RBAC_GROUP], "resources": ["roles", "rolebindings"]},
        {"verbs": ["bind"], "apiGroups": [RBAC_GROUP], "resources": ["clusterroles"], "resourceNames": ["admin"]}])
    nodes = role_body("nodes", [rule(["get"], ["nodes"])])
    assert post(api, ROLES, nodes, carl).status == 403
    assert post(api, BINDINGS, binding_body("dan-admin", "admin", [("User", "dan")]), carl).status == 201
    assert post(api, BINDINGS, binding_body("dan-edit", "edit", [("User", "dan")]), carl).status == 403
    api.add_identity("carl", rules=[{"verbs": ["escalate"], "apiGroups": [RBAC_GROUP], "resources": ["roles"]}],
                     token="carl-2")
    assert post(api, ROLES, nodes, "carl-2").status == 201


# MARK: - ServiceAccounts through the API


def test_service_accounts_are_created_labelled_patched_and_deleted_through_the_api(api):
    account = created(api, ACCOUNTS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                      "metadata": {"name": "site-deployer", "labels": MANAGED}})
    assert account["metadata"]["labels"] == MANAGED
    assert names(api, ACCOUNTS, query=f"?labelSelector={SITE}%3Dedge-1") == ["site-deployer"]
    patched = api.request("PATCH", ACCOUNTS + "/site-deployer", {"metadata": {"labels": {"more": "1"}}},
                          token=ADMIN_TOKEN, content_type="application/strategic-merge-patch+json")
    assert patched.status == 200 and patched.json()["metadata"]["labels"] == {**MANAGED, "more": "1"}
    assert patched.json()["metadata"]["uid"] == account["metadata"]["uid"]
    token = api.create_token("apps", "site-deployer")
    assert post(api, TOKEN_REVIEWS, token_review(token)).json()["status"]["authenticated"] is True
    assert api.request("DELETE", ACCOUNTS + "/site-deployer", token=ADMIN_TOKEN).status == 200
    review = post(api, TOKEN_REVIEWS, token_review(token)).json()["status"]
    assert review == {"user": {}, "error": 'serviceaccounts "site-deployer" not found'}
    assert api.request("GET", "/api", token=token).status == 401


# MARK: - Impersonation


def test_impersonation_acts_as_another_user_once_allowed(api):
    created(api, BINDINGS, binding_body("deployer-edit", "edit", [("ServiceAccount", "apps", "deployer")]))
    deployer = {"Impersonate-User": "system:serviceaccount:apps:deployer"}
    as_deployer = api.request("POST", "/api/v1/namespaces/apps/configmaps", {"metadata": {"name": "x"}},
                              token=ADMIN_TOKEN, headers=deployer)
    assert as_deployer.status == 201
    assert api.request("POST", "/api/v1/namespaces/other/configmaps", {"metadata": {"name": "x"}}, token=ADMIN_TOKEN,
                       headers=deployer).status == 403
    who = api.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {}, token=ADMIN_TOKEN,
                      headers=deployer).json()["status"]["userInfo"]
    assert who == {"username": "system:serviceaccount:apps:deployer",
                   "groups": ["system:serviceaccounts", "system:serviceaccounts:apps", "system:authenticated"]}
    assert [entry.get("impersonatedUser") for entry in api.requests()][-1] == "system:serviceaccount:apps:deployer"
    refused = api.request("GET", "/api", token=NOBODY_TOKEN, headers=deployer)
    assert refused.json() == status(403, "Forbidden", 'serviceaccounts "deployer" is forbidden: User "nobody" cannot '
                                    'impersonate resource "serviceaccounts" in API group "" in the namespace "apps"',
                                    {"name": "deployer", "kind": "serviceaccounts"})
    # impersonating one account, by name, through RBAC
    carl = api.add_identity("carl")
    created(api, BINDINGS, binding_body("carl", "impersonator", [("User", "carl")], role_kind="Role"))
    created(api, ROLES, role_body("impersonator", [rule(["impersonate"], ["serviceaccounts"], names=["deployer"])]))
    assert api.request("GET", "/api/v1/namespaces/apps/configmaps", token=carl, headers=deployer).status == 200
    other = {"Impersonate-User": "system:serviceaccount:apps:kubeconfig-bootstrap"}
    assert api.request("GET", "/api/v1/namespaces/apps/configmaps", token=carl, headers=other).status == 403
    groups = api.request("GET", "/api", token=ADMIN_TOKEN, headers={"Impersonate-Group": "g"})
    assert groups.status == 500  # groups without a user


def test_kubectl_auth_can_i_as_a_service_account(api, tmp_path):
    created(api, BINDINGS, binding_body("deployer-edit", "edit", [("ServiceAccount", "apps", "deployer")]))
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN, namespace="apps")
    as_deployer = "--as=system:serviceaccount:apps:deployer"
    yes = kubectl(kubeconfig, "auth", "can-i", "create", "configmaps", as_deployer, home=tmp_path)
    assert (yes.returncode, yes.stdout.strip()) == (0, "yes"), yes.stderr
    no = kubectl(kubeconfig, "auth", "can-i", "create", "configmaps", "-n", "other", as_deployer, home=tmp_path)
    assert (no.returncode, no.stdout.strip()) == (1, "no"), no.stderr
    who = kubectl(kubeconfig, "auth", "whoami", "--as=bob", "--as-group=team", "-o", "json", home=tmp_path)
    assert json.loads(who.stdout)["status"]["userInfo"] == {"username": "bob",
                                                            "groups": ["team", "system:authenticated"]}


# MARK: - Real clients


def test_kubectl_creates_applies_and_deletes_rbac_objects(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN, namespace="apps")

    def run(*args):
        result = kubectl(kubeconfig, *args, home=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        return result.stdout.strip()

    assert run("create", "serviceaccount", "site-sa") == "serviceaccount/site-sa created"
    assert run("create", "role", "tokens", "--verb=create", "--resource=serviceaccounts/token",
               "--resource-name=deployer") == "role.rbac.authorization.k8s.io/tokens created"
    assert run("create", "rolebinding", "tokens", "--role=tokens", "--serviceaccount=apps:site-sa") == \
        "rolebinding.rbac.authorization.k8s.io/tokens created"
    assert run("create", "clusterrolebinding", "site-sa-view", "--clusterrole=view",
               "--serviceaccount=apps:site-sa") == "clusterrolebinding.rbac.authorization.k8s.io/site-sa-view created"
    role = json.loads(run("get", "role", "tokens", "-o", "json"))
    assert role["rules"] == [{"verbs": ["create"], "apiGroups": [""], "resources": ["serviceaccounts/token"],
                              "resourceNames": ["deployer"]}]
    manifest = tmp_path / "role.yaml"
    manifest.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: applied\n"
                        f"  labels:\n    {SITE}: edge-1\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n"
                        "  verbs: [get]\n")
    assert run("apply", "-f", str(manifest)) == "role.rbac.authorization.k8s.io/applied created"
    manifest.write_text(manifest.read_text().replace("verbs: [get]", "verbs: [get, list]"))
    assert run("apply", "-f", str(manifest)) == "role.rbac.authorization.k8s.io/applied configured"
    assert run("apply", "-f", str(manifest)) == "role.rbac.authorization.k8s.io/applied unchanged"
    applied = api.request("GET", ROLES + "/applied", token=ADMIN_TOKEN).json()
    assert applied["rules"] == [rule(["get", "list"], ["configmaps"])]
    patches = [entry["contentType"] for entry in api.requests() if entry["method"] == "PATCH"]
    assert patches == ["application/strategic-merge-patch+json"]
    assert run("get", "roles", "-l", f"{SITE}=edge-1", "-o", "name") == "role.rbac.authorization.k8s.io/applied"
    assert run("delete", "role", "applied") == 'role.rbac.authorization.k8s.io "applied" deleted'
    assert run("delete", "clusterrolebinding", "site-sa-view") == \
        'clusterrolebinding.rbac.authorization.k8s.io "site-sa-view" deleted'


def test_kubectl_auth_can_i_with_service_account_tokens(api, tmp_path):
    """What each account may do, as `kubectl auth can-i` asks it (SelfSubjectAccessReview): the
    bootstrap account's token rights by name, the deployer's edit only in its namespace, a
    binding's removal at once, and an account's deletion ending its token."""
    admin = api.write_kubeconfig(tmp_path / "admin", token=ADMIN_TOKEN, namespace="apps")
    for args in (("create", "role", "kubeconfig-bootstrap", "--verb=create", "--resource=serviceaccounts/token",
                  "--resource-name=deployer", "--resource-name=kubeconfig-bootstrap"),
                 ("create", "rolebinding", "kubeconfig-bootstrap", "--role=kubeconfig-bootstrap",
                  "--serviceaccount=apps:kubeconfig-bootstrap"),
                 ("create", "rolebinding", "deployer", "--clusterrole=edit", "--serviceaccount=apps:deployer")):
        assert kubectl(admin, *args, home=tmp_path).returncode == 0
    bootstrap = api.write_kubeconfig(tmp_path / "bootstrap", token=account_token(api, "kubeconfig-bootstrap"),
                                     namespace="apps")
    deployer = api.write_kubeconfig(tmp_path / "deployer", token=account_token(api, "deployer"), namespace="apps")

    def can_i(kubeconfig, *args):
        result = kubectl(kubeconfig, "auth", "can-i", *args, home=tmp_path)
        assert result.stdout.strip() in ("yes", "no"), result.stderr
        assert result.returncode == (0 if result.stdout.strip() == "yes" else 1)
        return result.stdout.strip()

    assert can_i(bootstrap, "create", "serviceaccounts/deployer", "--subresource=token") == "yes"
    assert can_i(bootstrap, "create", "serviceaccounts/kubeconfig-bootstrap", "--subresource=token") == "yes"
    assert can_i(bootstrap, "create", "serviceaccounts/other", "--subresource=token") == "no"
    assert can_i(bootstrap, "create", "serviceaccounts", "--subresource=token") == "no"
    assert can_i(bootstrap, "create", "serviceaccounts/deployer", "--subresource=token", "-n", "other") == "no"
    assert can_i(bootstrap, "get", "configmaps") == "no"
    assert can_i(deployer, "create", "configmaps") == "yes"
    assert can_i(deployer, "get", "secrets") == "yes"
    assert can_i(deployer, "create", "configmaps", "-n", "other") == "no"
    assert can_i(deployer, "create", "rolebindings") == "no"
    listed = kubectl(bootstrap, "auth", "can-i", "--list", home=tmp_path)
    rows = [line.split() for line in listed.stdout.splitlines()]  # kubectl prints a row per resource name
    assert ["serviceaccounts/token", "[]", "[deployer]", "[create]"] in rows
    assert ["serviceaccounts/token", "[]", "[kubeconfig-bootstrap]", "[create]"] in rows
    posts = {entry["contentType"] for entry in api.requests() if entry["path"] == SELF_ACCESS_REVIEWS}
    assert posts == {"application/vnd.kubernetes.protobuf"}

    assert kubectl(admin, "delete", "rolebinding", "deployer", home=tmp_path).returncode == 0
    assert can_i(deployer, "create", "configmaps") == "no"
    assert kubectl(admin, "delete", "serviceaccount", "kubeconfig-bootstrap", home=tmp_path).returncode == 0
    gone = kubectl(bootstrap, "auth", "can-i", "create", "serviceaccounts/deployer", "--subresource=token",
                   home=tmp_path)
    assert gone.returncode != 0 and "Unauthorized" in gone.stderr


def test_python_client_manages_rbac_objects_by_label(api, tmp_path):
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN, context="local")
    connection = config.new_client_from_config(config_file=str(kubeconfig), context="local")
    rbac = client.RbacAuthorizationV1Api(connection)
    meta = client.V1ObjectMeta(name="kubeconfig-bootstrap", labels=MANAGED)
    rbac.create_namespaced_role("apps", client.V1Role(metadata=meta, rules=[client.V1PolicyRule(
        verbs=["create"], api_groups=[""], resources=["serviceaccounts/token"], resource_names=["deployer"])]))
    rbac.create_namespaced_role_binding("apps", client.V1RoleBinding(
        metadata=meta, role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="Role", name="kubeconfig-bootstrap"),
        subjects=[client.RbacV1Subject(kind="ServiceAccount", name="kubeconfig-bootstrap", namespace="apps")]))
    selected = rbac.list_namespaced_role_binding("apps", label_selector=f"{SITE}=edge-1")
    assert [binding.metadata.name for binding in selected.items] == ["kubeconfig-bootstrap"]
    with pytest.raises(ApiException) as raised:
        rbac.create_namespaced_role_binding("apps", client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="kubeconfig-bootstrap"),
            role_ref=client.V1RoleRef(api_group=RBAC_GROUP, kind="Role", name="kubeconfig-bootstrap")))
    assert raised.value.status == 409
    review = client.AuthorizationV1Api(config.new_client_from_config(
        config_file=str(api.write_kubeconfig(tmp_path / "bootstrap", token=account_token(api, "kubeconfig-bootstrap"),
                                             context="local")), context="local")).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb="create", resource="serviceaccounts",
                                                            subresource="token", name="deployer", namespace="apps"))))
    assert review.status.allowed is True
    rbac.delete_namespaced_role_binding("kubeconfig-bootstrap", "apps")
    assert rbac.list_namespaced_role_binding("apps", label_selector=f"{SITE}=edge-1").items == []
