"""Who a caller is and what it may do: bearer tokens, anonymous requests, the RBAC-like rules;
SelfSubjectReview (authentication.k8s.io/v1, GA in 1.28); and client certificates signed by the
instance's own CA (kube-apiserver's --client-ca-file), from kubectl and the python client too."""

import hashlib
import json
import re
import ssl

import pytest
import yaml
from apitests import (ACCESS_REVIEWS, CONFIGMAPS, SA_USER, SEED, SELF_REVIEW, SELF_REVIEWS, SERVICE_ACCOUNTS,
                      TOKEN_REVIEWS, access_review, claims, get_seed, status, token_review, who_am_i)
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, READER_TOKEN, KubeAPIServer
from kubeapi.certificates import client_certificate, ensure_certificates
from loopback import kubectl


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


# MARK: - SelfSubjectReview (authentication.k8s.io/v1, GA in 1.28)


TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


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
