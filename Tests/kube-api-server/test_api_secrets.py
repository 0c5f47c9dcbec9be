"""Secrets as kube-apiserver stores them: base64 `data`, `stringData` merged and never returned,
the 1 MiB limit on decoded bytes, key validation, preconditions, the patch types the service
sends, rules with resourceNames, and the control helpers that decode them."""

import pytest
from apitests import b64, get_seed, patch, status
from kubeapi import ADMIN_TOKEN, READER_TOKEN


# MARK: - Secrets


SECRETS = "/api/v1/namespaces/onap/secrets"
SEALED = SECRETS + "/sealed"
MERGE = "application/merge-patch+json"


def test_secret_data_is_base64_and_string_data_is_merged_and_never_returned(api):
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "annotations": {"k": "v"}},
            "data": {"a": b64("1"), "b": b64("2")}, "stringData": {"b": "two", "c": "3"}}
    created = api.request("POST", SECRETS, body, token=ADMIN_TOKEN)
    assert created.status == 201
    secret = created.json()
    assert secret["data"] == {"a": b64("1"), "b": b64("two"), "c": b64("3")} and "stringData" not in secret
    assert secret["type"] == "Opaque" and secret["metadata"]["annotations"] == {"k": "v"}
    listed = api.request("GET", SECRETS, token=ADMIN_TOKEN).json()
    assert listed["kind"] == "SecretList" and [i["metadata"]["name"] for i in listed["items"]] == ["creds", "sealed"]
    again = api.request("POST", SECRETS, body, token=ADMIN_TOKEN)
    assert again.json() == status(409, "AlreadyExists", 'secrets "creds" already exists',
                                  {"name": "creds", "kind": "secrets"})


def test_secret_data_that_is_not_base64_is_a_bad_request(api):
    body = {"metadata": {"name": "bad"}, "data": {"username": "billy"}}
    answer = api.request("POST", SECRETS, body, token=ADMIN_TOKEN)
    message = 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4'
    assert answer.json() == status(400, "BadRequest", message)


def test_a_patched_secret_that_is_not_base64_is_invalid(api):
    answer = patch(api, {"data": {"x": "<foo>"}}, MERGE, path=SEALED, token=ADMIN_TOKEN)
    assert answer.status == 422 and answer.json()["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    assert answer.json()["message"].endswith('": illegal base64 data at input byte 0')


def test_secret_data_beyond_one_mebibyte_is_invalid(api):
    body = {"metadata": {"name": "big"}, "data": {"a": b64(b"x" * (1024 * 1024 + 1))}}
    answer = api.request("POST", SECRETS, body, token=ADMIN_TOKEN)
    message = "Too long: may not be more than 1048576 bytes"
    cause = {"reason": "FieldValueTooLong", "message": message, "field": "data"}
    assert answer.json() == status(422, "Invalid", f'Secret "big" is invalid: data: {message}',
                                   {"name": "big", "kind": "Secret", "causes": [cause]})
    exact = {"metadata": {"name": "exact"}, "data": {"a": b64(b"x" * (1024 * 1024))}}
    assert api.request("POST", SECRETS, exact, token=ADMIN_TOKEN).status == 201  # decoded bytes count


def test_secret_keys_are_validated_like_configmap_keys(api):
    answer = api.request("POST", SECRETS, {"metadata": {"name": "k"}, "stringData": {"bad key": "x"}}, token=ADMIN_TOKEN)
    assert answer.status == 422
    assert answer.json()["message"].startswith('Secret "k" is invalid: data[bad key]: Invalid value: "bad key": '
                                               "a valid config key must consist of alphanumeric characters")


def test_secret_put_honours_resource_version_and_keeps_type(api):
    sealed = api.request("GET", SEALED, token=ADMIN_TOKEN).json()
    assert sealed["data"] == {"seeded": b64("yes")}
    api.put_secret("onap", "sealed", {"changed": "elsewhere"})
    stale = api.request("PUT", SEALED, {**sealed, "data": {"mine": b64("1")}}, token=ADMIN_TOKEN)
    message = ('Operation cannot be fulfilled on secrets "sealed": the object has been modified; '
               "please apply your changes to the latest version and try again")
    assert stale.json() == status(409, "Conflict", message, {"name": "sealed", "kind": "secrets"})
    current = api.request("GET", SEALED, token=ADMIN_TOKEN).json()
    retyped = api.request("PUT", SEALED, {**current, "type": "kubernetes.io/tls"}, token=ADMIN_TOKEN)
    assert retyped.status == 422 and retyped.json()["message"] == ('Secret "sealed" is invalid: type: Invalid value: '
                                                                 '"kubernetes.io/tls": field is immutable')
    unchanged = api.request("PUT", SEALED, current, token=ADMIN_TOKEN)
    assert unchanged.json()["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
    assert api.request("PUT", SECRETS + "/nope", {"metadata": {"name": "nope"}}, token=ADMIN_TOKEN).status == 404


def test_secret_merge_patch_as_the_service_sends_it(api):
    version = api.request("GET", SEALED, token=ADMIN_TOKEN).json()["metadata"]["resourceVersion"]
    kubeconfig = b64("apiVersion: v1\nkind: Config\n")
    body = {"metadata": {"resourceVersion": version, "annotations": {"example.com/token": '{"exp": 1}'}},
            "data": {"kubeconfig": kubeconfig}}
    answer = patch(api, body, MERGE, path=SEALED, token=ADMIN_TOKEN)
    assert answer.status == 200
    assert answer.json()["metadata"]["annotations"] == {"example.com/token": '{"exp": 1}'}
    assert answer.json()["data"] == {"seeded": b64("yes"), "kubeconfig": kubeconfig}
    again = patch(api, body, MERGE, path=SEALED, token=ADMIN_TOKEN)  # the same resourceVersion is stale now
    assert again.status == 409 and again.json()["message"].startswith('Operation cannot be fulfilled on secrets "sealed"')
    removed = patch(api, {"metadata": {"annotations": {"example.com/token": None}}}, MERGE, path=SEALED, token=ADMIN_TOKEN)
    assert "annotations" not in removed.json()["metadata"]


@pytest.mark.parametrize("content_type, body, query", [
    ("application/strategic-merge-patch+json", {"stringData": {"added": "1"}}, ""),
    ("application/json-patch+json", [{"op": "test", "path": "/data/seeded", "value": b64("yes")},
                                     {"op": "add", "path": "/data/added", "value": b64("1")}], ""),
    ("application/apply-patch+yaml", f"data:\n  added: {b64('1')}\n", "?fieldManager=t"),
])
def test_secret_patch_types(api, content_type, body, query):
    answer = patch(api, body, content_type, path=SEALED, token=ADMIN_TOKEN, query=query)
    assert answer.status == 200, answer
    assert answer.json()["data"] == {"seeded": b64("yes"), "added": b64("1")} and "stringData" not in answer.json()


def test_secret_delete_honours_preconditions(api):
    answer = api.request("DELETE", SEALED, {"preconditions": {"uid": "other"}}, token=ADMIN_TOKEN)
    assert answer.status == 409 and "Precondition failed: UID in precondition: other" in answer.json()["message"]
    deleted = api.request("DELETE", SEALED, token=ADMIN_TOKEN)
    assert deleted.json()["status"] == "Success" and deleted.json()["details"]["kind"] == "secrets"
    assert api.request("GET", SEALED, token=ADMIN_TOKEN).json()["message"] == 'secrets "sealed" not found'


def test_secret_rules_and_resource_names(api):
    api.put_secret("onap", "other", {"k": "v"})
    token = api.add_identity("keeper", rules=[{"verbs": ["get", "patch"], "resources": ["secrets"],
                                               "namespaces": ["onap"], "resourceNames": ["sealed"]}])
    assert api.request("GET", SEALED, token=token).status == 200
    assert patch(api, {"data": {"a": b64("1")}}, MERGE, path=SEALED, token=token).status == 200
    assert api.request("GET", SECRETS + "/other", token=token).status == 403
    denied = api.request("GET", SEALED, token=READER_TOKEN)  # the reader reads ConfigMaps only
    assert denied.json()["message"] == ('secrets "sealed" is forbidden: User "reader" cannot get resource "secrets" '
                                        'in API group "" in the namespace "onap"')
    assert api.request("GET", SEALED, token=api.token).status == 403  # the service account, by default rules


def test_secret_control_helpers_decode_data(api):
    stored = api.put_secret("onap", "bin", {"text": "hello", "raw": b"\xff\x00"}, annotations={"a": "b"})
    assert stored["data"] == {"text": b64("hello"), "raw": b64(b"\xff\x00")}
    secret = api.get_secret("onap", "bin")
    assert secret["data"] == {"text": "hello", "raw": b"\xff\x00"} and secret["metadata"]["annotations"] == {"a": "b"}
    assert api.get_secret("onap", "sealed")["data"] == {"seeded": "yes"}  # from the config's stringData
    api.delete_secret("onap", "bin")
    assert api.get_secret("onap", "bin") is None


def test_configmap_merge_patch_sets_and_deletes_annotations(api):
    version = get_seed(api)["metadata"]["resourceVersion"]
    body = {"metadata": {"resourceVersion": version, "annotations": {"k": "v", "j": "w"}}}
    assert patch(api, body, MERGE).json()["metadata"]["annotations"] == {"k": "v", "j": "w"}
    removed = patch(api, {"metadata": {"annotations": {"k": None}}}, MERGE)
    assert removed.json()["metadata"]["annotations"] == {"j": "w"}
