"""Namespaces as objects: the system ones and the config's from the start (kube-system's uid the
cluster's id, the same after a reset), create, get, list by label, watch and delete (which empties
the namespace), RBAC on a namespace in its own namespace, and NamespaceLifecycle (a create in a
namespace that does not exist is a 404; default, kube-system and kube-public may not be deleted),
which this module's `api` turns on; then kubectl and the python client."""

import json
import re

import pytest
from apitests import NAMESPACES, RBAC, binding_body, role_body, rule, status
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, KubeAPIServer
from loopback import kubectl

CLUSTER_ID = "5b0f4c8e-1d2a-4e55-9a77-0c6f00d1c1a5"
SITE = "kubeconfig-service.onap.org/site"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    config = {"namespaceLifecycle": True, "clusterId": CLUSTER_ID,
              "namespaces": [{"name": "apps", "labels": {"team": "a"}}, "edge"],
              "configmaps": [{"namespace": "onap", "name": "seed", "data": {"seeded": "yes"}}],
              "serviceAccounts": [{"namespace": "apps", "name": "deployer"}]}
    with KubeAPIServer(tmp_path_factory.mktemp("kube-api"), config=config) as server:
        yield server


def names(api, path=NAMESPACES, **params):
    query = "&".join(f"{key}={value}" for key, value in params.items())
    answer = api.request("GET", f"{path}?{query}" if query else path, token=ADMIN_TOKEN)
    assert answer.status == 200, answer
    return [item["metadata"]["name"] for item in answer.json()["items"]]


def create_namespace(api, name, labels=None, token=ADMIN_TOKEN):
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, **({"labels": labels} if labels else {})}}
    return api.request("POST", NAMESPACES, body, token=token)


def not_found(name):
    return status(404, "NotFound", f'namespaces "{name}" not found', {"name": name, "kind": "namespaces"})


# MARK: - Namespaces as objects


def test_the_system_namespaces_and_the_configs_exist_from_the_start_with_the_same_uids_after_a_reset(api):
    assert names(api) == ["apps", "default", "edge", "kube-node-lease", "kube-public", "kube-system", "onap"]
    system = api.request("GET", NAMESPACES + "/kube-system", token=ADMIN_TOKEN).json()
    assert system["metadata"]["uid"] == CLUSTER_ID == api.cluster_id()
    apps = api.request("GET", NAMESPACES + "/apps", token=ADMIN_TOKEN).json()
    assert (apps["kind"], apps["apiVersion"], apps["spec"], apps["status"]) == (
        "Namespace", "v1", {"finalizers": ["kubernetes"]}, {"phase": "Active"})
    assert apps["metadata"]["labels"] == {"team": "a", "kubernetes.io/metadata.name": "apps"}
    assert "namespace" not in apps["metadata"]  # cluster-scoped
    uids = {name: api.get_namespace(name)["metadata"]["uid"] for name in ("apps", "onap", "default")}
    api.reset()
    assert {name: api.get_namespace(name)["metadata"]["uid"] for name in uids} == uids
    assert api.cluster_id() == CLUSTER_ID


def test_without_a_cluster_id_kube_system_keeps_one_uid_across_resets(tmp_path):
    with KubeAPIServer(tmp_path / "state") as plain:
        uid = plain.cluster_id()
        assert re.fullmatch(r"[0-9a-f-]{36}", uid)
        plain.reset()
        assert plain.cluster_id() == uid


def test_create_get_list_by_label_and_delete_a_namespace(api):
    created = create_namespace(api, "site-a", labels={SITE: "edge-1"})
    assert created.status == 201, created
    namespace = created.json()
    assert namespace["metadata"]["labels"] == {SITE: "edge-1", "kubernetes.io/metadata.name": "site-a"}
    assert namespace["metadata"]["resourceVersion"].isdigit() and namespace["status"] == {"phase": "Active"}
    again = create_namespace(api, "site-a")
    assert again.json() == status(409, "AlreadyExists", 'namespaces "site-a" already exists',
                                  {"name": "site-a", "kind": "namespaces"})
    assert names(api, labelSelector=f"{SITE}=edge-1") == ["site-a"]
    assert names(api, labelSelector=f"{SITE}") == ["site-a"]
    assert names(api, fieldSelector="metadata.name=edge") == ["edge"]
    assert "site-a" in names(api, fieldSelector="status.phase=Active")
    refused = api.request("GET", NAMESPACES + "?fieldSelector=metadata.namespace%3Dx", token=ADMIN_TOKEN)
    assert refused.json() == status(400, "BadRequest", "field label not supported: metadata.namespace")
    deleted = api.request("DELETE", NAMESPACES + "/site-a", token=ADMIN_TOKEN)
    assert deleted.status == 200
    assert deleted.json()["status"] == {"phase": "Terminating"} and deleted.json()["metadata"]["deletionTimestamp"]
    assert api.request("GET", NAMESPACES + "/site-a", token=ADMIN_TOKEN).json() == not_found("site-a")
    assert api.request("DELETE", NAMESPACES + "/site-a", token=ADMIN_TOKEN).json() == not_found("site-a")


def test_an_update_changes_only_the_metadata_and_the_name_label_stays(api):
    path = NAMESPACES + "/edge"
    patch = {"metadata": {"labels": {SITE: "edge-2", "kubernetes.io/metadata.name": "other"}},
             "spec": {"finalizers": []}, "status": {"phase": "Terminating"}}
    patched = api.request("PATCH", path, patch, token=ADMIN_TOKEN, content_type="application/merge-patch+json")
    assert patched.status == 200, patched
    assert patched.json()["metadata"]["labels"] == {SITE: "edge-2", "kubernetes.io/metadata.name": "edge"}
    assert (patched.json()["spec"], patched.json()["status"]) == ({"finalizers": ["kubernetes"]}, {"phase": "Active"})


def test_an_invalid_namespace_name_is_refused(api):
    answer = create_namespace(api, "Not_A_Label")
    message = ('Namespace "Not_A_Label" is invalid: metadata.name: Invalid value: "Not_A_Label": a lowercase RFC 1123 '
               "label must consist of lower case alphanumeric characters or '-', and must start and end with an "
               "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    assert answer.status == 422 and answer.json()["message"] == message
    assert create_namespace(api, "dotted.name").status == 422  # a subdomain is not a label
    assert create_namespace(api, "x", token=NOBODY_TOKEN).json()["message"] == (
        'namespaces is forbidden: User "nobody" cannot create resource "namespaces" in API group "" at the cluster scope')


# MARK: - NamespaceLifecycle


@pytest.mark.parametrize("path, body", [
    ("/api/v1/namespaces/ghost/configmaps", {"metadata": {"name": "x"}}),
    ("/api/v1/namespaces/ghost/secrets", {"metadata": {"name": "x"}}),
    ("/api/v1/namespaces/ghost/serviceaccounts", {"metadata": {"name": "x"}}),
    (RBAC + "/namespaces/ghost/roles", role_body("x", [rule(["get"], ["configmaps"])])),
    (RBAC + "/namespaces/ghost/rolebindings", binding_body("x", "view", [("User", "u")])),
], ids=["configmap", "secret", "serviceaccount", "role", "rolebinding"])
def test_a_create_in_a_namespace_that_does_not_exist_is_not_found(api, path, body):
    """NamespaceLifecycle's live lookup: the namespace's NotFound, after authorisation and
    decoding, before validation."""
    assert api.request("POST", path, body, token=ADMIN_TOKEN).json() == not_found("ghost")
    assert api.request("POST", path, body, token=NOBODY_TOKEN).status == 403
    assert api.request("POST", path, "{oops", token=ADMIN_TOKEN).status == 400
    assert api.request("POST", path, {"metadata": {"name": "Bad/Name"}}, token=ADMIN_TOKEN).json() == not_found("ghost")
    assert create_namespace(api, "ghost").status == 201
    assert api.request("POST", path, body, token=ADMIN_TOKEN).status == 201


def test_a_token_request_in_a_namespace_that_does_not_exist_is_not_found(api):
    path = "/api/v1/namespaces/ghost/serviceaccounts/deployer/token"
    assert api.request("POST", path, {"spec": {}}, token=ADMIN_TOKEN).json() == not_found("ghost")


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_the_immortal_namespaces_may_not_be_deleted(api, name):
    answer = api.request("DELETE", f"{NAMESPACES}/{name}", token=ADMIN_TOKEN)
    assert answer.json() == status(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be '
                                   "deleted", {"name": name, "kind": "namespaces"})
    assert api.get_namespace(name) is not None


def test_without_namespace_lifecycle_objects_may_be_created_in_namespaces_that_do_not_exist(tmp_path):
    """As with --disable-admission-plugins=NamespaceLifecycle (the default here, as before
    namespaces were objects)."""
    with KubeAPIServer(tmp_path / "state") as plain:
        created = plain.request("POST", "/api/v1/namespaces/nowhere/configmaps", {"metadata": {"name": "x"}},
                                token=ADMIN_TOKEN)
        assert created.status == 201
        assert plain.get_namespace("nowhere") is None
        assert plain.get_namespace("onap") is not None  # the service's own account is there


# MARK: - Deleting, RBAC, the control API


def test_deleting_a_namespace_removes_what_it_holds_and_watchers_see_it_go(api):
    assert create_namespace(api, "site-b", labels={SITE: "edge-3"}).status == 201
    api.put_configmap("site-b", "config", {"k": "v"})
    api.add_service_account("site-b", "deployer")
    token = api.create_token("site-b", "deployer")
    assert api.request("POST", RBAC + "/namespaces/site-b/roles", role_body("r", [rule(["get"], ["configmaps"])]),
                       token=ADMIN_TOKEN).status == 201
    assert api.request("GET", "/api", token=token).status == 200
    with api.watch(NAMESPACES, labelSelector=f"{SITE}=edge-3") as stream:
        assert stream.next()["type"] == "ADDED"
        assert api.request("DELETE", NAMESPACES + "/site-b", token=ADMIN_TOKEN).status == 200
        terminating, gone = stream.next(), stream.next()
    assert (terminating["type"], terminating["object"]["status"]["phase"]) == ("MODIFIED", "Terminating")
    assert (gone["type"], gone["object"]["metadata"]["name"]) == ("DELETED", "site-b")
    assert api.get_configmap("site-b", "config") is None
    assert names(api, RBAC + "/namespaces/site-b/roles") == []
    assert api.request("GET", "/api", token=token).status == 401  # its account went with it
    assert api.request("GET", "/api/v1/namespaces/site-b/configmaps/config", token=ADMIN_TOKEN).status == 404


def test_a_role_binding_in_a_namespace_may_allow_reading_that_namespace(api):
    """requestInfo puts /api/v1/namespaces/{name} in namespace {name}: view bound in apps allows
    getting apps, not edge, and not the list (the cluster scope)."""
    token = api.add_identity("dana")
    binding = binding_body("dana-view", "view", [("User", "dana")])
    assert api.request("POST", RBAC + "/namespaces/apps/rolebindings", binding, token=ADMIN_TOKEN).status == 201
    assert api.request("GET", NAMESPACES + "/apps", token=token).status == 200
    assert api.request("GET", NAMESPACES + "/edge", token=token).json()["message"] == (
        'namespaces "edge" is forbidden: User "dana" cannot get resource "namespaces" in API group "" in the '
        'namespace "edge"')
    assert api.request("GET", NAMESPACES, token=token).json()["message"] == (
        'namespaces is forbidden: User "dana" cannot list resource "namespaces" in API group "" at the cluster scope')
    by_name = api.request("GET", NAMESPACES + "?fieldSelector=metadata.name%3Dapps", token=token).json()
    assert by_name["message"] == ('namespaces "apps" is forbidden: User "dana" cannot list resource "namespaces" in '
                                  'API group "" at the cluster scope')


def test_the_control_api_creates_the_namespaces_of_its_objects(api):
    api.put_configmap("brand-new", "x", {"k": "v"})
    assert api.get_namespace("brand-new")["status"] == {"phase": "Active"}
    made = api.add_namespace("labelled", labels={SITE: "edge-4"})
    assert made["metadata"]["labels"] == {SITE: "edge-4", "kubernetes.io/metadata.name": "labelled"}
    assert api.add_namespace("labelled")["metadata"]["uid"] == made["metadata"]["uid"]
    api.delete_namespace("labelled")
    assert api.get_namespace("labelled") is None
    api.reset()
    assert api.get_namespace("brand-new") is None


# MARK: - Real clients


def test_kubectl_creates_gets_and_deletes_namespaces(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN)
    created = kubectl(kubeconfig, "create", "namespace", "site-c", home=tmp_path)
    assert created.returncode == 0 and created.stdout.strip() == "namespace/site-c created", created.stderr
    posts = [entry for entry in api.requests() if entry["method"] == "POST" and entry["path"] == NAMESPACES]
    assert [entry["contentType"] for entry in posts] == ["application/vnd.kubernetes.protobuf"]
    got = kubectl(kubeconfig, "get", "namespace", "site-c", "-o", "json", home=tmp_path)
    assert json.loads(got.stdout)["metadata"]["labels"] == {"kubernetes.io/metadata.name": "site-c"}
    listed = kubectl(kubeconfig, "get", "namespaces", "-o", "name", home=tmp_path)
    assert "namespace/site-c" in listed.stdout.split() and "namespace/kube-system" in listed.stdout.split()
    deleted = kubectl(kubeconfig, "delete", "namespace", "site-c", home=tmp_path)
    assert deleted.returncode == 0 and deleted.stdout.strip() == 'namespace "site-c" deleted', deleted.stderr
    missing = kubectl(kubeconfig, "get", "namespace", "site-c", home=tmp_path)
    assert missing.returncode != 0 and 'namespaces "site-c" not found' in missing.stderr
    refused = kubectl(kubeconfig, "delete", "namespace", "kube-system", home=tmp_path)
    assert refused.returncode != 0 and "this namespace may not be deleted" in refused.stderr


def test_python_client_reads_the_cluster_id_and_lists_namespaces_by_label(api, tmp_path):
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN, context="local")
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context="local"))
    assert core.read_namespace("kube-system").metadata.uid == CLUSTER_ID
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="site-d", labels={SITE: "edge-5"})))
    assert [ns.metadata.name for ns in core.list_namespace(label_selector=f"{SITE}=edge-5").items] == ["site-d"]
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_config_map("ghost", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    assert raised.value.status == 404 and json.loads(raised.value.body)["message"] == 'namespaces "ghost" not found'
