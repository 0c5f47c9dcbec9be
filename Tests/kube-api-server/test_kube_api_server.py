"""The Kubernetes API test server must answer like kube-apiserver: these tests pin its status
bodies, optimistic locking, patch types, reviews (SelfSubjectReview too), authentication by token
and by client certificate, faults and listener control, and check that real clients (kubectl, the
python kubernetes client) work against it, and that instances side by side trust nothing of each other."""

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time

import pytest
import yaml
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, READER_TOKEN, KubeAPIServer
from kubeapi.authn import ISSUER
from kubeapi.certificates import client_certificate, ensure_certificates

CONFIGMAPS = "/api/v1/namespaces/onap/configmaps"
SEED = CONFIGMAPS + "/seed"
SA_USER = "system:serviceaccount:onap:kubeconfig-service"
CLOUDIFY_TOKEN_RULE = {"user": SA_USER, "verbs": ["create"], "resources": ["serviceaccounts/token"],
                       "namespaces": ["onap"], "resourceNames": ["cloudify"]}
# Rules for users that authenticate with client certificates: by CN (user) and by O (group).
CERT_RULES = [{"user": "carol", "verbs": ["get"], "resources": ["configmaps"], "namespaces": ["onap"]},
              {"group": "cert-listers", "verbs": ["list"], "resources": ["configmaps"], "namespaces": ["onap"]}]


def conflict_message(name):
    return (f'Operation cannot be fulfilled on configmaps "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again")


def status(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    config = {"configmaps": [{"namespace": "onap", "name": "seed", "data": {"seeded": "yes"}}],
              "secrets": [{"namespace": "onap", "name": "sealed", "stringData": {"seeded": "yes"}}],
              "serviceAccounts": [{"namespace": "onap", "name": "robot"}, {"namespace": "onap", "name": "cloudify"}],
              "rules": [CLOUDIFY_TOKEN_RULE, *CERT_RULES]}
    with KubeAPIServer(tmp_path_factory.mktemp("kube-api"), config=config) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_state(api):
    api.reset()


def get_seed(api):
    answer = api.request("GET", SEED, token=ADMIN_TOKEN)
    assert answer.status == 200, answer
    return answer.json()


# MARK: - Start-up, TLS and the service-account folder


def test_port_file_matches_the_ready_line(api):
    assert (api.state_dir / "port").read_text().strip() == str(api.port)


@pytest.mark.parametrize("name", ["localhost", "kubernetes.default.svc", "127.0.0.1"])
def test_certificate_verifies_strictly_for_its_names(api, name):
    context = ssl.create_default_context(cafile=str(api.ca_file))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # RFC 5280 conformance, as Python 3.13 and BoringSSL expect
    with socket.create_connection(("127.0.0.1", api.port)) as raw:
        with context.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_certificate_does_not_verify_for_other_names(api):
    context = ssl.create_default_context(cafile=str(api.ca_file))
    with socket.create_connection(("127.0.0.1", api.port)) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            context.wrap_socket(raw, server_hostname="example.com")


def test_service_account_folder_is_laid_out_like_kubelet(api):
    data_link = api.sa_dir / "..data"
    assert re.fullmatch(r"\.\.20\d\d_\d\d_\d\d_\d\d_\d\d_\d\d\..+", os.readlink(data_link))
    for name in ("token", "ca.crt", "namespace"):
        assert os.readlink(api.sa_dir / name) == f"..data/{name}"
    assert (api.sa_dir / "namespace").read_text() == "onap"
    assert (api.sa_dir / "ca.crt").read_bytes() == api.ca_file.read_bytes()
    assert api.request("GET", SEED, token=api.token).status == 200


def test_helper_reports_a_server_that_fails_to_start(tmp_path):
    broken = KubeAPIServer(tmp_path, config={"configmaps": [{"data": {}}]})  # no name: the server crashes
    with pytest.raises(RuntimeError, match=r"(?s)not ready.*KeyError"):
        broken.start()


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


# MARK: - Authentication and authorisation


def test_unknown_token_is_unauthorized(api):
    answer = api.request("GET", SEED, token="not-a-token")
    assert answer.status == 401
    assert answer.json() == status(401, "Unauthorized", "Unauthorized")


def test_forbidden_names_the_user_the_verb_and_the_namespace(api):
    answer = api.request("GET", SEED, token=NOBODY_TOKEN)
    message = ('configmaps "seed" is forbidden: User "nobody" cannot get resource "configmaps" '
               'in API group "" in the namespace "onap"')
    assert answer.json() == status(403, "Forbidden", message, {"name": "seed", "kind": "configmaps"})


def test_requests_without_a_token_are_anonymous(api):
    answer = api.request("GET", SEED)
    assert answer.status == 403
    assert 'User "system:anonymous" cannot get' in answer.json()["message"]


def test_rules_are_checked_per_verb_and_namespace(api):
    seed = get_seed(api)
    assert api.request("GET", SEED, token=READER_TOKEN).status == 200
    answer = api.request("PUT", SEED, seed, token=READER_TOKEN)
    assert answer.status == 403 and 'cannot update resource "configmaps"' in answer.json()["message"]
    api.put_configmap("kube-system", "seed", {})
    answer = api.request("GET", "/api/v1/namespaces/kube-system/configmaps/seed", token=api.token)
    assert answer.status == 403 and 'in the namespace "kube-system"' in answer.json()["message"]
    assert api.request("GET", CONFIGMAPS, token=api.token).status == 200  # the service account may list in onap
    answer = api.request("GET", "/api/v1/namespaces/kube-system/configmaps", token=api.token)  # not elsewhere
    assert answer.status == 403 and answer.json()["message"].startswith("configmaps is forbidden:")
    answer = api.request("GET", CONFIGMAPS, token=READER_TOKEN)  # the reader may get, not list
    assert answer.status == 403 and answer.json()["message"].startswith("configmaps is forbidden:")


def test_resource_names_restrict_a_rule(api):
    api.put_configmap("onap", "other", {})
    token = api.add_identity("limited", rules=[{"verbs": ["get", "list"], "resources": ["configmaps"],
                                                "namespaces": ["onap"], "resourceNames": ["seed"]}])
    assert api.request("GET", SEED, token=token).status == 200
    assert api.request("GET", CONFIGMAPS + "/other", token=token).status == 403
    assert api.request("GET", CONFIGMAPS, token=token).status == 403  # a list has no name


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


def patch(api, body, content_type, path=SEED, token=None, query=""):
    return api.request("PATCH", path + query, body, token=token or api.token, content_type=content_type)


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


# MARK: - TokenReview, SubjectAccessReview, TokenRequest

TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def token_review(token, audiences=None):
    spec = {"token": token, **({"audiences": audiences} if audiences is not None else {})}
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


def reviewed(api, token, audiences=None):
    """The status of a TokenReview of `token` for `audiences`, asked by the service's account."""
    answer = api.request("POST", TOKEN_REVIEWS, token_review(token, audiences), token=api.token)
    assert answer.status == 201, answer
    return answer.json()["status"]


def access_review(user="", groups=None, **attributes):
    spec = {"user": user, "groups": groups or [], "resourceAttributes": attributes}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


def test_token_review_authenticates_known_tokens(api):
    answer = api.request("POST", TOKEN_REVIEWS, token_review(READER_TOKEN), token=api.token)
    assert answer.status == 201
    assert answer.json()["status"]["authenticated"] is True
    reader = {"username": "reader", "uid": "reader-uid", "groups": ["system:authenticated"]}
    assert answer.json()["status"]["user"] == reader
    own = api.request("POST", TOKEN_REVIEWS, token_review(api.token), token=api.token).json()["status"]["user"]
    assert own["username"] == SA_USER and "system:serviceaccounts:onap" in own["groups"]


def test_token_review_of_an_unknown_token_is_not_authenticated(api):
    review = api.request("POST", TOKEN_REVIEWS, token_review("forged"), token=api.token).json()
    # as kube-apiserver encodes it: `authenticated` is omitempty, `user` an always-present struct
    assert review["status"] == {"user": {}, "error": "invalid bearer token"}


def test_token_review_needs_permission(api):
    answer = api.request("POST", TOKEN_REVIEWS, token_review(READER_TOKEN), token=NOBODY_TOKEN)
    message = ('tokenreviews.authentication.k8s.io is forbidden: User "nobody" cannot create resource "tokenreviews" '
               'in API group "authentication.k8s.io" at the cluster scope')
    details = {"group": "authentication.k8s.io", "kind": "tokenreviews"}
    assert answer.json() == status(403, "Forbidden", message, details)


def test_a_service_account_token_is_reviewed_against_the_audiences_it_was_issued_for(api):
    """serviceaccount/jwt.go: the token's `aud` meets the target audiences (spec.audiences, or the
    API server's own when none are given), in the token's order; none in common is the JWT
    authenticator's error, with both lists as Go's %q prints them."""
    token = api.create_token("onap", "robot", audiences=["kubeconfig-service", "vault"])
    robot = "system:serviceaccount:onap:robot"
    mine = reviewed(api, token, ["kubeconfig-service"])
    assert mine["authenticated"] is True and mine["user"]["username"] == robot
    assert mine["audiences"] == ["kubeconfig-service"]
    assert reviewed(api, token, ["other", "vault", "kubeconfig-service"])["audiences"] == ["kubeconfig-service", "vault"]
    assert reviewed(api, token, ["other"]) == {
        "user": {}, "error": 'token audiences ["kubeconfig-service" "vault"] is invalid for the target audiences ["other"]'}
    assert reviewed(api, token) == {
        "user": {}, "error": f'token audiences ["kubeconfig-service" "vault"] is invalid for the target audiences ["{ISSUER}"]'}
    assert reviewed(api, token, []) == reviewed(api, token)  # an empty list asks for the API server's own
    # A token issued without audiences is the API server's: valid for it, not for another service.
    plain = api.create_token("onap", "robot")
    assert claims(plain)["aud"] == [ISSUER]
    assert reviewed(api, plain)["audiences"] == [ISSUER]
    assert reviewed(api, plain, ["kubeconfig-service"])["error"] == (
        f'token audiences ["{ISSUER}"] is invalid for the target audiences ["kubeconfig-service"]')
    assert reviewed(api, api.token)["audiences"] == [ISSUER]  # the mounted token is the API server's too


def test_the_audience_check_comes_before_the_token_is_validated(api):
    """jwt.go checks audiences before its validator (expiry, the account's uid): a token for
    another audience whose account is gone is refused for its audience."""
    token = api.create_token("onap", "robot", audiences=["kubeconfig-service"])
    api.delete_service_account("onap", "robot")
    assert reviewed(api, token, ["kubeconfig-service"])["error"] == 'serviceaccounts "robot" not found'
    assert reviewed(api, token)["error"].startswith('token audiences ["kubeconfig-service"] is invalid')


def test_a_fixed_token_is_audience_agnostic_and_valid_only_for_the_api_servers_audiences(api):
    """Static tokens carry no audiences: WrapAudienceAgnosticToken accepts them where the target
    audiences meet --api-audiences, which become status.audiences; elsewhere no authenticator
    knew the token, so bearertoken's "invalid bearer token"."""
    assert reviewed(api, ADMIN_TOKEN)["audiences"] == [ISSUER]
    assert reviewed(api, ADMIN_TOKEN, ["kubeconfig-service"]) == {"user": {}, "error": "invalid bearer token"}
    both = reviewed(api, READER_TOKEN, ["kubeconfig-service", ISSUER])
    assert both["authenticated"] is True and both["user"]["username"] == "reader" and both["audiences"] == [ISSUER]


def test_the_request_log_records_the_audiences_a_token_review_asked_about_never_the_token(api):
    token = api.create_token("onap", "robot", audiences=["kubeconfig-service"])
    api.requests(clear=True)
    reviewed(api, token, ["kubeconfig-service"])
    reviewed(api, ADMIN_TOKEN)
    entries = [entry for entry in api.requests() if entry["path"] == TOKEN_REVIEWS]
    assert [(entry["audiences"], entry["code"]) for entry in entries] == [(["kubeconfig-service"], 201), ([], 201)]
    assert token not in json.dumps(api.requests()) and ADMIN_TOKEN not in json.dumps(api.requests())
    # Other requests carry no such field.
    assert all("audiences" not in entry for entry in api.requests() if entry["path"] != TOKEN_REVIEWS)


def test_the_api_refuses_a_token_issued_for_another_audience(api):
    """A request is authenticated for --api-audiences (filters.WithAuthentication): a token minted
    for another service is no credential at the API server itself."""
    elsewhere = api.create_token("onap", "robot", audiences=["kubeconfig-service"])
    assert api.request("GET", "/api", token=elsewhere).json() == status(401, "Unauthorized", "Unauthorized")
    also_here = api.create_token("onap", "robot", audiences=["kubeconfig-service", ISSUER])
    assert api.request("GET", "/api", token=also_here).status == 200


def test_api_audiences_are_configurable(tmp_path):
    """`apiAudiences` is --api-audiences: what tokens issued without audiences (the mounted one
    too) are for, and where fixed tokens are valid."""
    audiences = ["https://kubernetes.default.svc", "k3s"]
    config = {"apiAudiences": audiences, "serviceAccounts": [{"namespace": "onap", "name": "robot"}]}
    with KubeAPIServer(tmp_path / "api", config=config) as server:
        assert claims(server.token)["aud"] == audiences and claims(server.token)["iss"] == ISSUER
        assert claims(server.create_token("onap", "robot"))["aud"] == audiences
        assert reviewed(server, ADMIN_TOKEN)["audiences"] == audiences
        assert reviewed(server, ADMIN_TOKEN, ["k3s", "other"])["audiences"] == ["k3s"]
        assert reviewed(server, ADMIN_TOKEN, [ISSUER])["error"] == "invalid bearer token"


def test_python_client_token_reviews_with_audiences(api, tmp_path):
    """What a real client reads from these answers: authenticated, user, audiences and error."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(api.write_kubeconfig(tmp_path / "kubeconfig")),
                                               context="test")
    reviews = client.AuthenticationV1Api(api_client)

    def review(token, audiences=None):
        spec = client.V1TokenReviewSpec(token=token, audiences=audiences)
        return reviews.create_token_review(client.V1TokenReview(spec=spec)).status

    token = api.create_token("onap", "robot", audiences=["kubeconfig-service"])
    accepted = review(token, ["kubeconfig-service"])
    assert (accepted.authenticated, accepted.user.username, accepted.audiences, accepted.error) == (
        True, "system:serviceaccount:onap:robot", ["kubeconfig-service"], None)
    refused = review(token, ["other"])
    assert not refused.authenticated and refused.audiences is None
    assert refused.error == 'token audiences ["kubeconfig-service"] is invalid for the target audiences ["other"]'
    admin = review(ADMIN_TOKEN, ["kubeconfig-service"])
    assert (admin.authenticated, admin.error, admin.audiences) == (None, "invalid bearer token", None)
    assert review(ADMIN_TOKEN).audiences == [ISSUER]


def test_subject_access_review_evaluates_the_rules(api):
    def allowed(**kw):
        answer = api.request("POST", ACCESS_REVIEWS, access_review(**kw), token=api.token)
        assert answer.status == 201, answer
        return answer.json()["status"]["allowed"]

    assert allowed(user=SA_USER, verb="patch", resource="configmaps", namespace="onap", name="x")
    assert not allowed(user=SA_USER, verb="delete", resource="configmaps", namespace="onap", name="x")
    assert not allowed(user=SA_USER, verb="get", resource="configmaps", namespace="default", name="x")
    assert not allowed(user="nobody", verb="get", resource="configmaps", namespace="onap")
    assert allowed(user="someone", groups=["system:masters"], verb="delete", resource="secrets", namespace="x")


def test_subject_access_review_without_a_subject_is_invalid(api):
    answer = api.request("POST", ACCESS_REVIEWS, access_review(verb="get", resource="configmaps"), token=api.token)
    assert answer.status == 422
    assert answer.json()["message"] == ('SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: '
                                        'Invalid value: "": at least one of user or group must be specified')


def test_subject_access_review_needs_permission(api):
    answer = api.request("POST", ACCESS_REVIEWS, access_review(user="x", verb="get"), token=READER_TOKEN)
    assert answer.status == 403 and 'cannot create resource "subjectaccessreviews"' in answer.json()["message"]


def test_token_request_issues_a_token_for_the_service_account(api):
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}
    answer = api.request("POST", "/api/v1/namespaces/onap/serviceaccounts/robot/token", request, token=ADMIN_TOKEN)
    assert answer.status == 201
    token = answer.json()["status"]["token"]
    review = api.request("POST", TOKEN_REVIEWS, token_review(token), token=api.token).json()
    assert review["status"]["user"]["username"] == "system:serviceaccount:onap:robot"


def test_token_request_checks_permission_and_duration(api):
    path = "/api/v1/namespaces/onap/serviceaccounts/robot/token"
    denied = api.request("POST", path, {"spec": {}}, token=api.token).json()
    assert denied["message"] == (f'serviceaccounts "robot" is forbidden: User "{SA_USER}" cannot create resource '
                                 '"serviceaccounts/token" in API group "" in the namespace "onap"')
    short = api.request("POST", path, {"spec": {"expirationSeconds": 60}}, token=ADMIN_TOKEN)
    assert short.status == 422 and "may not specify a duration less than 10 minutes" in short.json()["message"]


# MARK: - Faults


def test_status_fault_answers_count_times(api):
    api.add_fault(method="GET", path=SEED, action="status", code=503, count=2)
    codes = [api.request("GET", SEED, token=api.token).status for _ in range(3)]
    assert codes == [503, 503, 200]


def test_status_fault_body_is_a_status_with_the_reason(api):
    api.add_fault(path=SEED, action="status", code=504)
    answer = api.request("GET", SEED, token=api.token)
    assert answer.json() == status(504, "Timeout", "Timeout: request did not complete within the allotted timeout")


def test_too_many_requests_carries_retry_after(api):
    api.add_fault(path=SEED, action="status", code=429, retryAfter=2)
    answer = api.request("GET", SEED, token=api.token)
    assert answer.status == 429 and answer.headers["Retry-After"] == "2"
    assert answer.json() == status(429, "TooManyRequests", "Too many requests, please try again later.",
                                   {"retryAfterSeconds": 2})


def test_plain_text_fault_is_like_the_max_in_flight_filter(api):
    api.add_fault(path=SEED, action="status", code=429, retryAfter=1, plainText=True)
    answer = api.request("GET", SEED, token=api.token)
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.body == b"Too many requests, please try again later.\n"


def test_faults_match_on_method_and_regex(api):
    api.add_fault(method="PUT", pathRegex=r"/configmaps/se+d$", action="status", code=500, count=-1)
    assert api.request("GET", SEED, token=api.token).status == 200
    seed = get_seed(api)
    assert api.request("PUT", SEED, seed, token=api.token).status == 500
    assert api.request("PUT", SEED, seed, token=api.token).status == 500  # count -1: forever
    api.clear_faults()
    assert api.request("PUT", SEED, seed, token=api.token).status == 200


def test_delay_fault_delays_then_answers(api):
    api.add_fault(path=SEED, action="delay", seconds=0.4)
    started = time.monotonic()
    assert api.request("GET", SEED, token=api.token).status == 200
    assert time.monotonic() - started >= 0.4


def test_drop_fault_closes_the_connection_without_an_answer(api):
    api.add_fault(path=SEED, action="drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        api.request("GET", SEED, token=api.token)
    assert api.request("GET", SEED, token=api.token).status == 200
    assert [(entry["fault"], entry["code"]) for entry in api.requests()] == [("drop", None), (None, 200)]


def test_conflict_fault_makes_a_conditional_write_stale(api):
    seed = get_seed(api)
    api.add_fault(method="PUT", path=SEED, action="conflict")
    answer = api.request("PUT", SEED, {**seed, "data": {"mine": "1"}}, token=api.token)
    assert answer.status == 409 and answer.json()["message"] == conflict_message("seed")
    fresh = get_seed(api)
    assert "concurrent-writer" in fresh["data"]
    retried = api.request("PUT", SEED, {**fresh, "data": {**fresh["data"], "mine": "1"}}, token=api.token)
    assert retried.status == 200


def test_conflict_fault_can_add_kubeconfig_entries(api):
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "a", "cluster": {"server": "https://a"}}]}
    seed = api.put_configmap("onap", "seed", {"config": yaml.safe_dump(kubeconfig)})
    entry = {"name": "b", "cluster": {"server": "https://b"}}
    api.add_fault(method="PATCH", path=SEED, action="conflict", kubeconfig={"key": "config", "clusters": [entry]})
    precondition = {"metadata": {"resourceVersion": seed["metadata"]["resourceVersion"]}, "data": {"x": "1"}}
    assert patch(api, precondition, "application/merge-patch+json").status == 409
    written = yaml.safe_load(get_seed(api)["data"]["config"])
    assert [cluster["name"] for cluster in written["clusters"]] == ["a", "b"]


def test_unknown_fault_action_is_refused(api):
    with pytest.raises(RuntimeError, match="400"):
        api.add_fault(action="explode")


# MARK: - Down and up


def test_down_refuses_connections_then_reopens_on_the_same_port(api):
    api.down(0.5)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", api.port), timeout=1)
    api.wait_listening(timeout=3)
    assert api.request("GET", SEED, token=api.token).status == 200


def test_down_closes_kept_alive_connections_and_up_reopens(api):
    connection = http.client.HTTPSConnection("127.0.0.1", api.port, context=api.ssl_context(), timeout=5)
    headers = {"Authorization": f"Bearer {api.token}"}
    connection.request("GET", SEED, headers=headers)
    assert connection.getresponse().read() and connection.sock is not None
    api.down()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, ssl.SSLError)):
        connection.request("GET", SEED, headers=headers)
        connection.getresponse()
    connection.close()
    time.sleep(0.3)  # nothing to poll for: it must stay down, as no timer reopens it
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", api.port), timeout=1)
    api.up()
    assert api.request("GET", SEED, token=api.token).status == 200


# MARK: - Request log, token rotation, identities


def test_request_log_records_calls_but_no_tokens(api):
    api.request("GET", SEED, token=api.token)
    api.request("GET", SEED, token="secret-but-wrong")
    log = api.requests(clear=True)
    assert [(e["method"], e["path"], e["user"], e["code"]) for e in log] == [
        ("GET", SEED, SA_USER, 200), ("GET", SEED, None, 401)]
    assert api.token not in json.dumps(log) and "secret-but-wrong" not in json.dumps(log)
    assert api.requests() == []


def test_rotate_token_swaps_the_data_link_and_keeps_the_old_token_valid(api):
    old_token, old_dir = api.token, os.readlink(api.sa_dir / "..data")
    new_token = api.rotate_token()
    assert api.token == new_token != old_token
    assert os.readlink(api.sa_dir / "..data") != old_dir and not (api.sa_dir / old_dir).exists()
    assert api.request("GET", SEED, token=new_token).status == 200
    assert api.request("GET", SEED, token=old_token).status == 200


def test_rotate_token_can_invalidate_the_old_token(api):
    old_token = api.token
    api.rotate_token(invalidate_old=True)
    assert api.request("GET", SEED, token=old_token).status == 401
    assert api.request("GET", SEED, token=api.token).status == 200


def test_reset_drops_run_time_identities(api):
    token = api.add_identity("temporary", rules=[{"verbs": ["get"], "resources": ["configmaps"]}])
    assert api.request("GET", SEED, token=token).status == 200
    api.reset()
    assert api.request("GET", SEED, token=token).status == 401


# MARK: - HTTP details


def test_keep_alive_serves_several_requests_on_one_connection(api):
    connection = http.client.HTTPSConnection("127.0.0.1", api.port, context=api.ssl_context(), timeout=5)
    sockets = set()
    for _ in range(3):
        connection.request("GET", SEED, headers={"Authorization": f"Bearer {api.token}"})
        answer = connection.getresponse()
        assert int(answer.headers["Content-Length"]) == len(answer.read())
        sockets.add(id(connection.sock))
    connection.close()
    assert len(sockets) == 1


def test_chunked_request_body_is_read(api):
    seed = get_seed(api)
    chunks = [json.dumps({**seed, "data": {"chunked": "yes"}}).encode()[i:i + 10] for i in range(0, 400, 10)]
    connection = http.client.HTTPSConnection("127.0.0.1", api.port, context=api.ssl_context(), timeout=5)
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    connection.request("PUT", SEED, body=iter(chunks), headers=headers, encode_chunked=True)
    assert connection.getresponse().status == 200
    connection.close()
    assert api.get_configmap("onap", "seed")["data"] == {"chunked": "yes"}


# MARK: - Real clients


def kubectl(kubeconfig, *args, home):
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          timeout=30, env={**os.environ, "HOME": str(home)})


def test_kubectl_reads_a_configmap(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
    assert "certificate-authority-data" in kubeconfig.read_text()
    result = kubectl(kubeconfig, "get", "--raw", SEED, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["data"] == {"seeded": "yes"}


def test_kubectl_shows_the_forbidden_message(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=NOBODY_TOKEN)
    result = kubectl(kubeconfig, "get", "--raw", SEED, home=tmp_path)
    assert result.returncode != 0 and 'configmaps "seed" is forbidden: User "nobody"' in result.stderr


def test_python_client_reads_and_gets_conflicts(api, tmp_path):
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="local")
    core = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig), context="local"))
    seed = core.read_namespaced_config_map("seed", "onap")
    assert seed.data == {"seeded": "yes"}
    api.put_configmap("onap", "seed", {"changed": "elsewhere"})
    seed.data = {"mine": "1"}
    with pytest.raises(ApiException) as raised:
        core.replace_namespaced_config_map("seed", "onap", seed)
    assert raised.value.status == 409 and json.loads(raised.value.body)["reason"] == "Conflict"


def test_ipv6_loopback(tmp_path):
    with KubeAPIServer(tmp_path / "state", host="::1") as api:
        api.put_configmap("onap", "v6", {"family": "inet6"})
        assert api.url == f"https://[::1]:{api.port}"
        assert api.env() == {"KUBERNETES_SERVICE_HOST": "::1", "KUBERNETES_SERVICE_PORT": str(api.port)}
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", api.port), timeout=1)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        result = kubectl(kubeconfig, "get", "--raw", CONFIGMAPS + "/v6", home=tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["data"] == {"family": "inet6"}


# MARK: - ServiceAccount objects

SERVICE_ACCOUNTS = "/api/v1/namespaces/onap/serviceaccounts"


def token_path(name, namespace="onap"):
    return f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"


def request_token(api, name, seconds=None, token=ADMIN_TOKEN):
    spec = {} if seconds is None else {"expirationSeconds": seconds}
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    return api.request("POST", token_path(name), body, token=token)


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_service_accounts_exist_from_the_start_with_server_metadata(api):
    answer = api.request("GET", SERVICE_ACCOUNTS + "/kubeconfig-service", token=ADMIN_TOKEN)
    assert answer.status == 200
    account = answer.json()
    assert (account["kind"], account["apiVersion"], account["metadata"]["namespace"]) == ("ServiceAccount", "v1", "onap")
    assert re.fullmatch(r"[0-9a-f-]{36}", account["metadata"]["uid"]) and account["metadata"]["resourceVersion"].isdigit()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", account["metadata"]["creationTimestamp"])
    listed = api.request("GET", SERVICE_ACCOUNTS, token=ADMIN_TOKEN).json()
    assert listed["kind"] == "ServiceAccountList"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["cloudify", "kubeconfig-service", "robot"]


def test_service_account_delete_is_authorised_and_answers_the_object(api):
    denied = api.request("DELETE", SERVICE_ACCOUNTS + "/robot", token=NOBODY_TOKEN)
    assert denied.json()["message"] == ('serviceaccounts "robot" is forbidden: User "nobody" cannot delete resource '
                                        '"serviceaccounts" in API group "" in the namespace "onap"')
    deleted = api.request("DELETE", SERVICE_ACCOUNTS + "/robot", token=ADMIN_TOKEN)
    assert deleted.status == 200 and deleted.json()["kind"] == "ServiceAccount"  # ReturnDeletedObject
    assert api.request("GET", SERVICE_ACCOUNTS + "/robot", token=ADMIN_TOKEN).status == 404


def test_token_request_for_a_missing_account_is_not_found_after_authorisation(api):
    answer = request_token(api, "ghost")
    assert answer.json() == status(404, "NotFound", 'serviceaccounts "ghost" not found',
                                   {"name": "ghost", "kind": "serviceaccounts"})
    assert request_token(api, "ghost", token=api.token).status == 403  # 403 before 404
    assert request_token(api, "ghost", seconds=60).status == 404  # the account is looked up before validation


def test_tokens_die_with_their_account_and_stay_dead_when_it_comes_back(api):
    uid = api.request("GET", SERVICE_ACCOUNTS + "/robot", token=ADMIN_TOKEN).json()["metadata"]["uid"]
    token = request_token(api, "robot").json()["status"]["token"]
    assert claims(token)["kubernetes.io"]["serviceaccount"] == {"name": "robot", "uid": uid}
    review = api.request("POST", TOKEN_REVIEWS, token_review(token), token=api.token).json()
    assert review["status"]["user"]["uid"] == uid
    api.delete_service_account("onap", "robot")
    assert api.request("GET", "/api", token=token).status == 401
    review = api.request("POST", TOKEN_REVIEWS, token_review(token), token=api.token).json()
    assert review["status"] == {"user": {}, "error": 'serviceaccounts "robot" not found'}
    new_uid = api.add_service_account("onap", "robot")["metadata"]["uid"]
    assert new_uid != uid
    review = api.request("POST", TOKEN_REVIEWS, token_review(token), token=api.token).json()
    assert review["status"]["error"] == f"service account UID ({new_uid}) does not match claim ({uid})"
    assert api.request("GET", "/api", token=token).status == 401
    fresh = request_token(api, "robot").json()["status"]["token"]
    assert api.request("GET", "/api", token=fresh).status == 200


def test_reset_brings_back_the_initial_accounts_with_their_uids(api):
    before = api.request("GET", SERVICE_ACCOUNTS + "/kubeconfig-service", token=ADMIN_TOKEN).json()["metadata"]["uid"]
    api.delete_service_account("onap", "kubeconfig-service")
    assert api.request("GET", SEED, token=api.token).status == 401  # the mounted token dies with its account
    api.reset()
    after = api.request("GET", SERVICE_ACCOUNTS + "/kubeconfig-service", token=ADMIN_TOKEN).json()["metadata"]["uid"]
    assert after == before and api.request("GET", SEED, token=api.token).status == 200


def test_add_service_account_keeps_an_existing_one(api):
    first = api.add_service_account("elsewhere", "bot")
    assert api.add_service_account("elsewhere", "bot")["metadata"]["uid"] == first["metadata"]["uid"]
    api.delete_service_account("elsewhere", "bot")
    with pytest.raises(RuntimeError, match="404"):
        api.delete_service_account("elsewhere", "bot")


# MARK: - TokenRequest: the lifetime cap, expiry, counting, revocation, resourceNames


def test_the_cap_shortens_the_granted_lifetime_everywhere(api):
    api.set_max_token_expiration(1200)
    before = int(time.time())
    answer = request_token(api, "robot", seconds=3600)
    after = int(time.time())
    assert answer.status == 201
    assert answer.headers["Warning"] == '299 - "requested expiration of 3600 seconds shortened to 1200 seconds"'
    body = answer.json()
    assert body["spec"]["expirationSeconds"] == 1200
    stamp = body["status"]["expirationTimestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    exp = claims(body["status"]["token"])["exp"]
    assert before + 1200 <= exp <= after + 1200
    assert stamp == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))
    under = request_token(api, "robot", seconds=900)
    assert under.json()["spec"]["expirationSeconds"] == 900 and "Warning" not in under.headers


def test_validation_comes_before_the_cap(api):
    api.set_max_token_expiration(10)
    answer = request_token(api, "robot", seconds=60)
    message = ('TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 60: '
               "may not specify a duration less than 10 minutes")
    assert answer.status == 422 and answer.json()["message"] == message


def test_a_capped_token_is_refused_once_exp_has_passed(api):
    # A 3 s cap: exp is whole seconds, so the token has over 2 s left when issued; the request
    # made while it is valid must not race its expiry on a loaded machine (a 1 s cap did).
    api.set_max_token_expiration(3)
    token = request_token(api, "robot", seconds=600).json()["status"]["token"]
    exp = claims(token)["exp"]
    assert exp - time.time() > 1.0
    assert api.request("GET", "/api", token=token).status == 200
    time.sleep(max(0.0, exp + 0.2 - time.time()))
    assert api.request("GET", "/api", token=token).status == 401
    review = api.request("POST", TOKEN_REVIEWS, token_review(token), token=api.token).json()
    assert review["status"] == {"user": {}, "error": "service account token has expired"}


def test_expiry_leeway_lets_a_token_outlive_exp(api):
    api.token_settings(maxExpirationSeconds=1, expiryLeewaySeconds=60)
    token = request_token(api, "robot").json()["status"]["token"]
    time.sleep(max(0.0, claims(token)["exp"] + 0.2 - time.time()))
    assert api.request("GET", "/api", token=token).status == 200


def test_reset_restores_the_token_settings_of_the_config(api):
    assert api.set_max_token_expiration(30) == {"maxExpirationSeconds": 30, "expiryLeewaySeconds": 0}
    api.reset()
    assert api.token_settings() == {"maxExpirationSeconds": None, "expiryLeewaySeconds": 0}
    with pytest.raises(RuntimeError, match="400"):
        api.set_max_token_expiration(0)


def test_config_sets_the_cap_and_extra_accounts(tmp_path):
    config = {"maxTokenExpirationSeconds": 900, "serviceAccounts": [{"namespace": "apps", "name": "deployer"}]}
    with KubeAPIServer(tmp_path, config=config) as api:
        api.set_max_token_expiration(20)
        api.reset()
        assert api.token_settings()["maxExpirationSeconds"] == 900
        path = "/api/v1/namespaces/apps/serviceaccounts/deployer/token"
        answer = api.request("POST", path, {"spec": {"expirationSeconds": 3600}}, token=ADMIN_TOKEN)
        assert answer.status == 201 and answer.json()["spec"]["expirationSeconds"] == 900


def test_token_requests_are_counted_from_the_request_log(api):
    request_token(api, "robot")
    request_token(api, "cloudify", token=api.token)
    request_token(api, "robot", token=NOBODY_TOKEN)
    api.request("GET", SERVICE_ACCOUNTS + "/robot", token=ADMIN_TOKEN)
    assert [(e["path"].split("/")[-2], e["user"], e["code"]) for e in api.token_requests()] == [
        ("robot", "admin", 201), ("cloudify", SA_USER, 201), ("robot", "nobody", 403)]
    assert len(api.token_requests(name="cloudify")) == 1 and api.token_requests(namespace="other") == []


def test_revoke_token_makes_it_unauthorized(api):
    token = request_token(api, "robot").json()["status"]["token"]
    assert api.revoke_token(token) is True
    assert api.request("GET", "/api", token=token).status == 401
    assert api.revoke_token(token) is False


def test_a_resource_name_rule_grants_token_requests_for_one_account(api):
    granted = request_token(api, "cloudify", seconds=3600, token=api.token)
    assert granted.status == 201
    token = granted.json()["status"]["token"]
    review = api.request("POST", TOKEN_REVIEWS, token_review(token), token=api.token).json()
    assert review["status"]["user"]["username"] == "system:serviceaccount:onap:cloudify"
    denied = request_token(api, "robot", token=api.token)
    message = (f'serviceaccounts "robot" is forbidden: User "{SA_USER}" cannot create resource '
               '"serviceaccounts/token" in API group "" in the namespace "onap"')
    assert denied.json() == status(403, "Forbidden", message, {"name": "robot", "kind": "serviceaccounts"})


# MARK: - Secrets

SECRETS = "/api/v1/namespaces/onap/secrets"
SEALED = SECRETS + "/sealed"
MERGE = "application/merge-patch+json"


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


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


# MARK: - kubectl with TokenRequest, Secrets and ServiceAccounts (it sends protobuf bodies)


def test_kubectl_create_token_gets_a_capped_token(api, tmp_path):
    api.set_max_token_expiration(1200)
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN)
    result = kubectl(kubeconfig, "create", "token", "cloudify", "-n", "onap", "--duration=2h", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "requested expiration of 7200 seconds shortened to 1200 seconds" in result.stderr
    token = result.stdout.strip()
    assert claims(token)["exp"] - claims(token)["iat"] == 1200
    assert [entry["contentType"] for entry in api.token_requests()] == ["application/vnd.kubernetes.protobuf"]
    missing = kubectl(kubeconfig, "create", "token", "ghost", "-n", "onap", home=tmp_path)
    assert missing.returncode != 0 and 'serviceaccounts "ghost" not found' in missing.stderr


def test_kubectl_creates_and_reads_secrets_and_lists_service_accounts(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=ADMIN_TOKEN)
    created = kubectl(kubeconfig, "create", "secret", "generic", "made", "-n", "onap", "--from-literal=user=alice",
                      home=tmp_path)
    assert created.returncode == 0, created.stderr
    assert api.get_secret("onap", "made")["data"] == {"user": "alice"}
    got = kubectl(kubeconfig, "get", "secret", "made", "-n", "onap", "-o", "json", home=tmp_path)
    assert got.returncode == 0 and json.loads(got.stdout)["data"] == {"user": b64("alice")}
    names = kubectl(kubeconfig, "get", "secrets", "-n", "onap", "-o", "name", home=tmp_path)
    assert names.stdout.split() == ["secret/made", "secret/sealed"]
    accounts = kubectl(kubeconfig, "get", "serviceaccount", "-n", "onap", home=tmp_path)
    assert accounts.returncode == 0 and "kubeconfig-service" in accounts.stdout and "cloudify" in accounts.stdout


# MARK: - SelfSubjectReview (authentication.k8s.io/v1, GA in 1.28)

SELF_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SELF_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def who_am_i(api, **credentials):
    """The status.userInfo of a SelfSubjectReview made with these credentials (token=, client_certificate=)."""
    answer = api.request("POST", SELF_REVIEWS, SELF_REVIEW, **credentials)
    assert answer.status == 201, answer
    return answer.json()["status"]["userInfo"]


def test_self_subject_review_answers_the_caller_as_the_registry_shapes_it(api):
    answer = api.request("POST", SELF_REVIEWS, SELF_REVIEW, token=ADMIN_TOKEN)
    assert answer.status == 201 and answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    # The registry sets creationTimestamp (metav1.NewTime(time.Now())); there is no spec; every
    # UserInfo field is omitempty, so the admin's empty extra is left out.
    assert re.fullmatch(TIMESTAMP, body["metadata"]["creationTimestamp"])
    assert body == {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                    "metadata": {"creationTimestamp": body["metadata"]["creationTimestamp"]},
                    "status": {"userInfo": {"username": "admin", "uid": "admin-uid",
                                            "groups": ["system:masters", "system:authenticated"]}}}
    assert who_am_i(api, token=READER_TOKEN) == {"username": "reader", "uid": "reader-uid",
                                                 "groups": ["system:authenticated"]}


def test_self_subject_review_of_a_service_account_token_carries_its_credential_id(api):
    own = who_am_i(api, token=api.token)
    account = api.request("GET", SERVICE_ACCOUNTS + "/kubeconfig-service", token=ADMIN_TOKEN).json()
    assert own == {"username": SA_USER, "uid": account["metadata"]["uid"],
                   "groups": ["system:serviceaccounts", "system:serviceaccounts:onap", "system:authenticated"],
                   "extra": {CREDENTIAL_ID: [f"JTI={claims(api.token)['jti']}"]}}
    review = api.request("POST", TOKEN_REVIEWS, token_review(api.token), token=api.token).json()
    assert review["status"]["user"] == own  # TokenReview reports the same user


def test_self_subject_review_adds_system_authenticated_and_shows_extra(api):
    token = api.add_identity("erin", groups=["team-e"], extra={"example.com/site": ["central"]})
    erin = who_am_i(api, token=token)
    assert erin["groups"] == ["team-e", "system:authenticated"]  # group.AuthenticatedGroupAdder
    assert erin["extra"] == {"example.com/site": ["central"]}
    review = api.request("POST", TOKEN_REVIEWS, token_review(token), token=api.token).json()
    assert review["status"]["user"]["groups"] == ["team-e", "system:authenticated"]


def test_self_subject_review_is_for_authenticated_users_only(api):
    anonymous = api.request("POST", SELF_REVIEWS, SELF_REVIEW)
    # RBAC binds system:basic-user to system:authenticated only; an anonymous caller is authorised
    # like any other, so it is a 403 (a 401 is for credentials that fail).
    message = ('selfsubjectreviews.authentication.k8s.io is forbidden: User "system:anonymous" cannot create '
               'resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope')
    assert anonymous.json() == status(403, "Forbidden", message,
                                      {"group": "authentication.k8s.io", "kind": "selfsubjectreviews"})
    assert api.request("POST", SELF_REVIEWS, SELF_REVIEW, token="forged").json() == status(
        401, "Unauthorized", "Unauthorized")
    assert who_am_i(api, token=NOBODY_TOKEN)["username"] == "nobody"  # no rule of its own needed
    access = access_review(user="nobody", groups=["system:authenticated"], verb="create",
                           group="authentication.k8s.io", resource="selfsubjectreviews")
    answer = api.request("POST", ACCESS_REVIEWS, access, token=api.token).json()
    assert answer["status"] == {"allowed": True, "reason": 'RBAC: allowed by ClusterRoleBinding "system:basic-user" '
                                                           'of ClusterRole "system:basic-user" to Group '
                                                           '"system:authenticated"'}


def test_self_subject_review_body_is_decoded_like_any_create(api):
    assert api.request("POST", SELF_REVIEWS, "{oops", token=ADMIN_TOKEN).status == 400
    assert api.request("POST", SELF_REVIEWS, b"", token=ADMIN_TOKEN, content_type="application/json").status == 400
    assert api.request("POST", SELF_REVIEWS, "apiVersion: authentication.k8s.io/v1\nkind: SelfSubjectReview\n",
                       token=ADMIN_TOKEN, content_type="application/yaml").status == 201
    assert api.request("GET", SELF_REVIEWS, token=ADMIN_TOKEN).status == 405


def test_discovery_lists_self_subject_reviews(api):
    listed = api.request("GET", "/apis/authentication.k8s.io/v1", token=NOBODY_TOKEN).json()
    assert listed["resources"] == [
        {"name": "selfsubjectreviews", "singularName": "selfsubjectreview", "namespaced": False,
         "kind": "SelfSubjectReview", "verbs": ["create"]},
        {"name": "tokenreviews", "singularName": "tokenreview", "namespaced": False, "kind": "TokenReview",
         "verbs": ["create"]}]
    groups = api.request("GET", "/apis", token=NOBODY_TOKEN).json()["groups"]
    assert "authentication.k8s.io" in [group["name"] for group in groups]


def test_kubectl_auth_whoami(api, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", token=READER_TOKEN)
    result = kubectl(kubeconfig, "auth", "whoami", "-o", "json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    review = json.loads(result.stdout)
    assert review["kind"] == "SelfSubjectReview" and review["apiVersion"] == "authentication.k8s.io/v1"
    assert review["status"]["userInfo"] == {"username": "reader", "uid": "reader-uid",
                                            "groups": ["system:authenticated"]}
    table = kubectl(kubeconfig, "auth", "whoami", home=tmp_path)
    assert re.search(r"Username\s+reader", table.stdout), table.stdout
    posts = [entry for entry in api.requests() if entry["path"] == SELF_REVIEWS]
    assert [(e["contentType"], e["user"], e["code"]) for e in posts] == [
        ("application/vnd.kubernetes.protobuf", "reader", 201)] * 2  # kubectl sends protobuf


def test_a_server_without_self_subject_review_is_like_one_before_1_28(tmp_path):
    with KubeAPIServer(tmp_path / "state", config={"selfSubjectReview": False}) as old:
        answer = old.request("POST", SELF_REVIEWS, SELF_REVIEW, token=ADMIN_TOKEN)
        assert answer.json() == status(404, "NotFound", "the server could not find the requested resource", {})
        listed = old.request("GET", "/apis/authentication.k8s.io/v1", token=ADMIN_TOKEN).json()
        assert [resource["name"] for resource in listed["resources"]] == ["tokenreviews"]
        # What a client falls back on: /api still answers every authenticated user, 401 for an
        # unknown token, and 403 for anonymous (system:discovery is bound to system:authenticated).
        assert old.request("GET", "/api", token=NOBODY_TOKEN).json()["versions"] == ["v1"]
        assert old.request("GET", "/api", token="forged").status == 401
        assert old.request("GET", "/api").status == 403
        kubeconfig = old.write_kubeconfig(tmp_path / "kubeconfig", token=READER_TOKEN)
        result = kubectl(kubeconfig, "auth", "whoami", home=tmp_path)
        assert result.returncode != 0 and "the selfsubjectreviews API is not enabled in the cluster" in result.stderr


def test_a_non_bearer_authorization_header_is_anonymous(api):
    # bearertoken.Authenticator passes on another scheme (no error), so the chain falls to anonymous.
    answer = api.request("GET", SEED, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert answer.status == 403 and 'User "system:anonymous"' in answer.json()["message"]


# MARK: - Client certificates (kube-apiserver's --client-ca-file: the instance's own CA)


def fingerprint(cert_pem):
    return "X509SHA256=" + hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem.decode())).hexdigest()


@pytest.fixture(scope="module")
def carol(api):
    return api.client_certificate("carol", ["cert-listers", "team-b"])


@pytest.fixture(scope="module")
def foreign_ca(tmp_path_factory):
    """A CA that no server here trusts, as a state dir (ca.crt, ca.key)."""
    path = tmp_path_factory.mktemp("foreign-ca")
    ensure_certificates(path)
    return path


def test_a_client_certificate_authenticates_as_its_cn_and_os(api, carol):
    assert who_am_i(api, client_certificate=carol) == {
        "username": "carol", "groups": ["cert-listers", "team-b", "system:authenticated"],
        "extra": {CREDENTIAL_ID: [fingerprint(carol[0])]}}  # no uid: x509 gives none in 1.32
    assert api.request("GET", "/api", client_certificate=carol).status == 200
    assert [entry["user"] for entry in api.requests()] == ["carol", "carol"]
    # The handshake did not verify it: the server took kube-apiserver's way, not the fallback.
    assert "kubeapi:" not in (api.state_dir / "server.stderr").read_text()


def test_rules_apply_to_certificate_users_by_name_and_group(api, carol):
    assert api.request("GET", SEED, client_certificate=carol).status == 200  # the rule for user carol
    assert api.request("GET", CONFIGMAPS, client_certificate=carol).status == 200  # the rule for group cert-listers
    denied = api.request("PUT", SEED, get_seed(api), client_certificate=carol)
    assert denied.json()["message"] == ('configmaps "seed" is forbidden: User "carol" cannot update resource '
                                        '"configmaps" in API group "" in the namespace "onap"')
    dave = api.client_certificate("dave", ["cert-listers"])
    assert api.request("GET", CONFIGMAPS, client_certificate=dave).status == 200
    assert api.request("GET", SEED, client_certificate=dave).status == 403


def test_a_verified_certificate_wins_over_a_bearer_token(api, carol):
    # union.New tries the x509 authenticator before the bearer token: the token is not even looked at.
    assert who_am_i(api, client_certificate=carol, token=ADMIN_TOKEN)["username"] == "carol"
    assert who_am_i(api, client_certificate=carol, token="forged")["username"] == "carol"


def test_a_certificate_that_does_not_verify_is_a_401_not_a_handshake_failure(api, foreign_ca):
    foreign = client_certificate(foreign_ca, "mallory", ["system:masters"])
    server_pair = ((api.state_dir / "server.crt").read_bytes(), (api.state_dir / "server.key").read_bytes())
    for pair in (foreign, server_pair):  # another CA; this CA but the serverAuth EKU only
        answer = api.request("GET", "/version", client_certificate=pair)
        assert answer.json() == status(401, "Unauthorized", "Unauthorized")
        # The x509 error is collected and the bearer token tried next: a valid one is the caller.
        assert who_am_i(api, client_certificate=pair, token=READER_TOKEN)["username"] == "reader"
    assert [entry["code"] for entry in api.requests()] == [401, 201, 401, 201]


def test_a_certificate_without_a_common_name_is_passed_over(api):
    nameless = api.client_certificate("", ["cert-listers"])
    # CommonNameUserConversion returns no user and no error: the request goes on to the token, then anonymous.
    assert api.request("GET", CONFIGMAPS, client_certificate=nameless).status == 403
    assert who_am_i(api, client_certificate=nameless, token=READER_TOKEN)["username"] == "reader"


def test_kubectl_with_a_client_certificate(api, carol, tmp_path):
    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", client_certificate=carol)
    config = yaml.safe_load(kubeconfig.read_text())
    assert set(config["users"][0]["user"]) == {"client-certificate-data", "client-key-data"}
    whoami = kubectl(kubeconfig, "auth", "whoami", "-o", "json", home=tmp_path)
    assert whoami.returncode == 0, whoami.stderr
    info = json.loads(whoami.stdout)["status"]["userInfo"]
    assert info["username"] == "carol" and info["groups"] == ["cert-listers", "team-b", "system:authenticated"]
    got = kubectl(kubeconfig, "get", "configmap", "seed", "-n", "onap", "-o", "json", home=tmp_path)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["data"] == {"seeded": "yes"}
    api.put_configmap("kube-system", "other", {})
    denied = kubectl(kubeconfig, "get", "configmap", "other", "-n", "kube-system", home=tmp_path)
    assert denied.returncode != 0 and 'User "carol" cannot get resource "configmaps"' in denied.stderr


def test_python_client_with_a_client_certificate(api, carol, tmp_path):
    from kubernetes import client, config

    kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", client_certificate=carol, context="cert")
    api_client = config.new_client_from_config(config_file=str(kubeconfig), context="cert")
    review = client.AuthenticationV1Api(api_client).create_self_subject_review(client.V1SelfSubjectReview())
    assert review.status.user_info.username == "carol"
    assert review.status.user_info.extra == {CREDENTIAL_ID: [fingerprint(carol[0])]}
    assert client.CoreV1Api(api_client).read_namespaced_config_map("seed", "onap").data == {"seeded": "yes"}


# MARK: - Instances side by side; tokens through TokenRequest


def test_create_token_goes_through_token_request(api):
    token = api.create_token("onap", "robot", expiration_seconds=900, audiences=["https://example.com", ISSUER])
    assert claims(token)["exp"] - claims(token)["iat"] == 900 and claims(token)["aud"] == ["https://example.com", ISSUER]
    assert [(e["user"], e["code"]) for e in api.token_requests(name="robot")] == [("admin", 201)]
    assert api.request("GET", "/api", token=token).status == 200
    with pytest.raises(RuntimeError, match="403"):
        api.create_token("onap", "robot", token=NOBODY_TOKEN)
    assert api.revoke_token(token) is True
    assert api.request("GET", "/api", token=token).status == 401


def test_two_instances_side_by_side_trust_nothing_of_each_other(tmp_path):
    with KubeAPIServer(tmp_path / "a") as a, \
            KubeAPIServer(tmp_path / "b", host="::1", config={"defaultRules": False}) as b:
        assert (a.url, b.url) == (f"https://127.0.0.1:{a.port}", f"https://[::1]:{b.port}")
        assert a.ca_file.read_bytes() != b.ca_file.read_bytes()
        # Tokens: one instance's are unknown to the other.
        token = a.create_token("onap", "kubeconfig-service")
        assert a.request("GET", "/api", token=token).status == 200
        assert b.request("GET", "/api", token=token).json() == status(401, "Unauthorized", "Unauthorized")
        assert b.request("GET", "/api", token=a.token).status == 401  # the mounted tokens too
        assert a.request("GET", "/api", token=b.token).status == 401
        # Server certificates: each CA rejects the other's.
        for server, other in ((a, b), (b, a)):
            context = ssl.create_default_context(cafile=str(other.ca_file))
            with socket.create_connection((server.host, server.port), timeout=5) as raw:
                with pytest.raises(ssl.SSLCertVerificationError):
                    context.wrap_socket(raw, server_hostname=server.host)
        # Client certificates: the other instance did not sign them, so they are a 401 there.
        alice_a, alice_b = a.client_certificate("alice"), b.client_certificate("alice")
        assert who_am_i(a, client_certificate=alice_a)["username"] == "alice"
        assert a.request("GET", "/api", client_certificate=alice_b).status == 401
        assert b.request("GET", "/api", client_certificate=alice_a).status == 401
        # system:basic-user is bootstrap policy: it holds without the default rules, over IPv6 too.
        kubeconfig = b.write_kubeconfig(tmp_path / "kubeconfig", client_certificate=alice_b)
        result = kubectl(kubeconfig, "auth", "whoami", "-o", "json", home=tmp_path)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["status"]["userInfo"]["username"] == "alice"
        assert a.revoke_token(token) and a.request("GET", "/api", token=token).status == 401
