"""ConfigMaps read, written and patched as kube-apiserver does: the Status bodies, optimistic
locking (resourceVersion preconditions and 409s), the 1 MiB object limit and the request-size
limit, and the four patch types (merge, strategic merge, JSON patch, apply)."""

import re

import pytest
from apitests import CONFIGMAPS, SEED, conflict_message, get_seed, patch, status
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN


# MARK: - Reads


def test_get_returns_the_configmap_with_server_metadata(api):
    answer = api.request("GET", SEED, token=api.token)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json"
    obj = answer.json()
    assert (obj["apiVersion"], obj["kind"], obj["data"]) == ("v1", "ConfigMap", {"seeded": "yes"})
    meta = obj["metadata"]
    assert (meta["name"], meta["namespace"]) == ("seed", "onap")
    assert isinstance(meta["resourceVersion"], str) and meta["resourceVersion"].isdigit()
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])


def test_missing_configmap_is_a_not_found_status(api):
    answer = api.request("GET", CONFIGMAPS + "/nope", token=api.token)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/json"
    details = {"name": "nope", "kind": "configmaps"}
    assert answer.json() == status(404, "NotFound", 'configmaps "nope" not found', details)


def test_list_has_typeless_items_and_a_resource_version(api):
    api.put_configmap("onap", "other", {"k": "v"})
    api.put_configmap("elsewhere", "third", {"k": "v"})
    body = api.request("GET", CONFIGMAPS, token=ADMIN_TOKEN).json()
    assert body["kind"] == "ConfigMapList"
    assert [item["metadata"]["name"] for item in body["items"]] == ["other", "seed"]
    assert "kind" not in body["items"][0]
    assert int(body["metadata"]["resourceVersion"]) >= int(body["items"][0]["metadata"]["resourceVersion"])
    everywhere = api.request("GET", "/api/v1/configmaps", token=ADMIN_TOKEN).json()
    assert len(everywhere["items"]) == 3


def test_version_is_public_but_discovery_needs_authentication(api):
    assert api.request("GET", "/version").json()["major"] == "1"
    assert api.request("GET", "/api", token=NOBODY_TOKEN).json()["versions"] == ["v1"]
    answer = api.request("GET", "/api")
    assert answer.json() == status(403, "Forbidden", 'forbidden: User "system:anonymous" cannot get path "/api"', {})


def test_unknown_path_is_a_not_found_status(api):
    answer = api.request("GET", "/api/v1/namespaces/onap/pods/x", token=ADMIN_TOKEN)
    assert answer.json() == status(404, "NotFound", "the server could not find the requested resource", {})


# MARK: - Writes


def test_put_without_resource_version_is_unconditional(api):
    seed = get_seed(api)
    api.put_configmap("onap", "seed", {"changed": "elsewhere"})
    body = {"metadata": {"name": "seed"}, "data": {"mine": "1"}}
    answer = api.request("PUT", SEED, body, token=api.token)
    assert answer.status == 200
    assert answer.json()["data"] == {"mine": "1"}
    assert int(answer.json()["metadata"]["resourceVersion"]) > int(seed["metadata"]["resourceVersion"]) + 1


def test_put_with_a_stale_resource_version_conflicts(api):
    seed = get_seed(api)
    api.put_configmap("onap", "seed", {"changed": "elsewhere"})
    answer = api.request("PUT", SEED, {**seed, "data": {"mine": "1"}}, token=api.token)
    assert answer.status == 409
    assert answer.json() == status(409, "Conflict", conflict_message("seed"), {"name": "seed", "kind": "configmaps"})
    assert api.get_configmap("onap", "seed")["data"] == {"changed": "elsewhere"}


def test_put_with_the_current_resource_version_succeeds(api):
    seed = get_seed(api)
    answer = api.request("PUT", SEED, {**seed, "data": {"mine": "1"}}, token=api.token)
    assert answer.status == 200
    assert answer.json()["metadata"]["uid"] == seed["metadata"]["uid"]
    assert api.get_configmap("onap", "seed")["data"] == {"mine": "1"}


def test_put_that_changes_nothing_keeps_the_resource_version(api):
    seed = get_seed(api)
    answer = api.request("PUT", SEED, seed, token=api.token)
    assert answer.json()["metadata"]["resourceVersion"] == seed["metadata"]["resourceVersion"]


def test_put_with_another_name_is_a_bad_request(api):
    answer = api.request("PUT", SEED, {"metadata": {"name": "other"}, "data": {}}, token=api.token)
    assert answer.json() == status(400, "BadRequest",
                                   "the name of the object (other) does not match the name on the URL (seed)")


def test_put_on_a_missing_configmap_is_not_found(api):
    answer = api.request("PUT", CONFIGMAPS + "/nope", {"metadata": {"name": "nope"}}, token=api.token)
    assert answer.status == 404 and answer.json()["reason"] == "NotFound"


def test_malformed_json_is_a_bad_request(api):
    answer = api.request("PUT", SEED, "{not json", token=api.token)
    assert answer.status == 400 and answer.json()["reason"] == "BadRequest"


def test_resource_versions_only_increase(api):
    first = int(api.put_configmap("onap", "a", {})["metadata"]["resourceVersion"])
    second = int(api.put_configmap("onap", "b", {})["metadata"]["resourceVersion"])
    api.reset()
    third = int(get_seed(api)["metadata"]["resourceVersion"])
    assert first < second < third


@pytest.mark.parametrize("resource, kind", [("configmaps", "ConfigMap"), ("serviceaccounts", "ServiceAccount")])
def test_create_then_create_again_already_exists(api, resource, kind):
    path = f"/api/v1/namespaces/onap/{resource}"
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "fresh"}}
    created = api.request("POST", path, body, token=ADMIN_TOKEN)
    assert created.status == 201 and created.json()["metadata"]["namespace"] == "onap"
    assert created.json()["kind"] == kind and api.request("GET", path + "/fresh", token=ADMIN_TOKEN).status == 200
    again = api.request("POST", path, body, token=ADMIN_TOKEN)
    assert again.json() == status(409, "AlreadyExists", f'{resource} "fresh" already exists',
                                  {"name": "fresh", "kind": resource})


def test_an_invalid_key_is_rejected(api):
    answer = api.request("PUT", SEED, {"metadata": {"name": "seed"}, "data": {"bad key": "x"}}, token=api.token)
    assert answer.status == 422
    assert answer.json()["message"].startswith('ConfigMap "seed" is invalid: data[bad key]: Invalid value: "bad key": '
                                               "a valid config key must consist of alphanumeric characters")


def test_delete_removes_and_honours_preconditions(api):
    stale = {"preconditions": {"resourceVersion": "1"}}
    answer = api.request("DELETE", SEED, stale, token=ADMIN_TOKEN)
    assert answer.status == 409 and "Precondition failed: ResourceVersion in precondition: 1" in answer.json()["message"]
    answer = api.request("DELETE", SEED, token=ADMIN_TOKEN)
    assert answer.status == 200 and answer.json()["status"] == "Success"
    assert api.request("GET", SEED, token=ADMIN_TOKEN).status == 404


# MARK: - The 1 MiB limit and the request-size limit


def test_data_beyond_one_mebibyte_is_invalid(api):
    body = {"metadata": {"name": "seed"}, "data": {"big": "x" * (1024 * 1024 + 1)}}
    answer = api.request("PUT", SEED, body, token=api.token)
    assert answer.status == 422
    message = "Too long: may not be more than 1048576 bytes"
    cause = {"reason": "FieldValueTooLong", "message": message, "field": "[]"}
    assert answer.json() == status(422, "Invalid", f'ConfigMap "seed" is invalid: []: {message}',
                                   {"name": "seed", "kind": "ConfigMap", "causes": [cause]})


def test_exactly_one_mebibyte_of_values_is_accepted(api):
    body = {"metadata": {"name": "seed"}, "data": {"a": "x" * (512 * 1024), "b": "y" * (512 * 1024)}}
    assert api.request("PUT", SEED, body, token=api.token).status == 200


def test_a_patch_beyond_one_mebibyte_is_invalid(api):
    patch = {"data": {"big": "x" * (1024 * 1024)}}  # plus the seeded value
    answer = api.request("PATCH", SEED, patch, token=api.token, content_type="application/merge-patch+json")
    assert answer.status == 422 and answer.json()["reason"] == "Invalid"


def test_a_body_beyond_three_mebibytes_is_too_large(api):
    answer = api.request("PUT", SEED, "x" * (3 * 1024 * 1024 + 1), token=api.token)
    assert answer.status == 413 and answer.json()["reason"] == "RequestEntityTooLarge"


# MARK: - Patches


def test_merge_patch_sets_and_removes_keys(api):
    answer = patch(api, {"data": {"added": "1", "seeded": None}}, "application/merge-patch+json")
    assert answer.status == 200 and answer.json()["data"] == {"added": "1"}


def test_merge_patch_with_a_stale_resource_version_conflicts(api):
    stale = get_seed(api)["metadata"]["resourceVersion"]
    api.put_configmap("onap", "seed", {"changed": "elsewhere"})
    answer = patch(api, {"metadata": {"resourceVersion": stale}, "data": {"a": "1"}}, "application/merge-patch+json")
    assert answer.json() == status(409, "Conflict", conflict_message("seed"), {"name": "seed", "kind": "configmaps"})


def test_merge_patch_with_the_current_resource_version_succeeds(api):
    current = get_seed(api)["metadata"]["resourceVersion"]
    answer = patch(api, {"metadata": {"resourceVersion": current}, "data": {"a": "1"}}, "application/merge-patch+json")
    assert answer.status == 200 and answer.json()["data"] == {"seeded": "yes", "a": "1"}


def test_strategic_merge_patch_merges_data_and_honours_directives(api):
    answer = patch(api, {"data": {"added": "1"}}, "application/strategic-merge-patch+json")
    assert answer.json()["data"] == {"seeded": "yes", "added": "1"}
    answer = patch(api, {"data": {"$patch": "replace", "only": "this"}}, "application/strategic-merge-patch+json")
    assert answer.json()["data"] == {"only": "this"}


def test_strategic_merge_patch_with_a_stale_resource_version_conflicts(api):
    answer = patch(api, {"metadata": {"resourceVersion": "1"}, "data": {}}, "application/strategic-merge-patch+json")
    assert answer.status == 409 and answer.json()["message"] == conflict_message("seed")


def test_json_patch_applies_operations_guarded_by_test(api):
    operations = [{"op": "test", "path": "/data/seeded", "value": "yes"},
                  {"op": "add", "path": "/data/added", "value": "1"},
                  {"op": "replace", "path": "/data/seeded", "value": "no"},
                  {"op": "add", "path": "/metadata/annotations", "value": {}},
                  {"op": "add", "path": "/metadata/annotations/example.com~1note", "value": "n"}]
    answer = patch(api, operations, "application/json-patch+json")
    assert answer.status == 200 and answer.json()["data"] == {"seeded": "no", "added": "1"}
    assert answer.json()["metadata"]["annotations"] == {"example.com/note": "n"}


def test_json_patch_with_a_failing_test_is_unprocessable(api):
    operations = [{"op": "test", "path": "/data/seeded", "value": "no"}, {"op": "remove", "path": "/data/seeded"}]
    answer = patch(api, operations, "application/json-patch+json")
    # apiserver's patch.go: NewGenericServerResponse(422, ...) without the jsonpatch error text
    assert answer.json() == status(422, "Invalid", "the server rejected our request due to an error in our request", {})
    assert api.get_configmap("onap", "seed")["data"] == {"seeded": "yes"}


def test_json_patch_that_is_not_an_array_is_a_bad_request(api):
    answer = patch(api, {"op": "add"}, "application/json-patch+json")
    assert answer.status == 400 and answer.json()["reason"] == "BadRequest"


def test_apply_patch_needs_a_field_manager(api):
    answer = patch(api, "data:\n  a: '1'\n", "application/apply-patch+yaml")
    message = 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    assert answer.status == 422 and answer.json()["message"] == message


def test_apply_patch_creates_then_merges(api):
    document = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: '1'\n"
    path, apply = CONFIGMAPS + "/applied", "application/apply-patch+yaml"
    created = patch(api, document, apply, path=path, token=ADMIN_TOKEN, query="?fieldManager=t")
    assert created.status == 201 and created.json()["data"] == {"a": "1"}
    merged = patch(api, "data:\n  b: '2'\n", apply, path=path, token=ADMIN_TOKEN, query="?fieldManager=t")
    assert merged.status == 200 and merged.json()["data"] == {"a": "1", "b": "2"}


def test_unsupported_patch_type_is_415(api):
    answer = patch(api, {"data": {}}, "application/json")
    accepted = ("application/json-patch+json, application/merge-patch+json, "
                "application/strategic-merge-patch+json, application/apply-patch+yaml")
    message = f"the body of the request was in an unknown format - accepted media types include: {accepted}"
    assert answer.json() == status(415, "UnsupportedMediaType", message)


def test_malformed_merge_patch_is_a_bad_request(api):
    answer = patch(api, "{oops", "application/merge-patch+json")
    assert answer.status == 400 and answer.json()["reason"] == "BadRequest"


def test_patch_on_a_missing_configmap_is_not_found(api):
    answer = patch(api, {"data": {}}, "application/merge-patch+json", path=CONFIGMAPS + "/nope")
    assert answer.status == 404 and answer.json()["message"] == 'configmaps "nope" not found'
