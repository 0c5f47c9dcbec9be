"""TokenReview (audiences included), SubjectAccessReview and TokenRequest; ServiceAccount objects,
whose deletion kills their tokens; and TokenRequest's lifetime cap, expiry leeway, counting,
revocation and resourceNames rules."""

import json
import re
import time

import pytest
from apitests import (ACCESS_REVIEWS, SA_USER, SEED, SERVICE_ACCOUNTS, TOKEN_REVIEWS, access_review, claims, status,
                      token_review)
from kubeapi import ADMIN_TOKEN, NOBODY_TOKEN, READER_TOKEN, KubeAPIServer
from kubeapi.authn import ISSUER


# MARK: - TokenReview, SubjectAccessReview, TokenRequest


def reviewed(api, token, audiences=None):
    """The status of a TokenReview of `token` for `audiences`, asked by the service's account."""
    answer = api.request("POST", TOKEN_REVIEWS, token_review(token, audiences), token=api.token)
    assert answer.status == 201, answer
    return answer.json()["status"]


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


# MARK: - ServiceAccount objects


def token_path(name, namespace="onap"):
    return f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"


def request_token(api, name, seconds=None, token=ADMIN_TOKEN):
    spec = {} if seconds is None else {"expirationSeconds": seconds}
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
    return api.request("POST", token_path(name), body, token=token)


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


def test_subject_access_review_matches_api_groups_subresources_and_names(api):
    """A rule with apiGroups matches only resources of those groups ("" is the core group), as RBAC's
    do; the subresource is part of the resource (`sites/token`); resourceNames pick one object."""
    api.request("POST", "/__control/identities", {"username": "edge-1-operator", "rules": [
        {"verbs": ["create"], "apiGroups": ["kubeconfig-service.onap.org"], "resources": ["sites/token"],
         "namespaces": ["onap"], "resourceNames": ["edge-1"]},
        {"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "namespaces": ["onap"]}]})

    def allowed(**kw):
        answer = api.request("POST", ACCESS_REVIEWS, access_review(user="edge-1-operator", **kw), token=api.token)
        assert answer.status == 201, answer
        return answer.json()["status"]["allowed"]

    site_token = {"verb": "create", "group": "kubeconfig-service.onap.org", "resource": "sites",
                  "subresource": "token", "namespace": "onap"}
    assert allowed(**site_token, name="edge-1")
    assert not allowed(**site_token, name="edge-2")
    assert not allowed(**{**site_token, "group": ""}, name="edge-1")
    assert not allowed(**{**site_token, "subresource": ""}, name="edge-1")
    assert allowed(verb="get", resource="configmaps", namespace="onap", name="x")
    assert not allowed(verb="get", group="apps", resource="configmaps", namespace="onap", name="x")
