"""What the API test server's own tests share: the paths of the seeded objects and the rules
the `api` fixture (conftest.py) starts with, the Status bodies and messages kube-apiserver answers,
and requests more than one file makes (reviews, patches, SelfSubjectReview)."""

import base64
import json

from kubeapi import ADMIN_TOKEN


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


def get_seed(api):
    answer = api.request("GET", SEED, token=ADMIN_TOKEN)
    assert answer.status == 200, answer
    return answer.json()


def patch(api, body, content_type, path=SEED, token=None, query=""):
    return api.request("PATCH", path + query, body, token=token or api.token, content_type=content_type)


TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"


def token_review(token, audiences=None):
    spec = {"token": token, **({"audiences": audiences} if audiences is not None else {})}
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


def access_review(user="", groups=None, **attributes):
    spec = {"user": user, "groups": groups or [], "resourceAttributes": attributes}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


SERVICE_ACCOUNTS = "/api/v1/namespaces/onap/serviceaccounts"


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


SELF_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SELF_REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def who_am_i(api, **credentials):
    """The status.userInfo of a SelfSubjectReview made with these credentials (token=, client_certificate=)."""
    answer = api.request("POST", SELF_REVIEWS, SELF_REVIEW, **credentials)
    assert answer.status == 201, answer
    return answer.json()["status"]["userInfo"]


NAMESPACES = "/api/v1/namespaces"
RBAC = "/apis/rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
SELF_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SELF_RULES_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"


def rule(verbs, resources, groups=("",), names=None):
    """An RBAC PolicyRule."""
    policy = {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}
    return {**policy, "resourceNames": list(names)} if names else policy


def role_body(name, rules, labels=None):
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": "Role",
            "metadata": {"name": name, **({"labels": labels} if labels else {})}, "rules": rules}


def binding_body(name, role, subjects, kind="RoleBinding", role_kind="ClusterRole", labels=None):
    """A RoleBinding (or, with kind=ClusterRoleBinding, one of those) of `role` to `subjects`:
    ("User", name), ("Group", name) or ("ServiceAccount", namespace, name)."""
    def subject(entry):
        if entry[0] == "ServiceAccount":
            return {"kind": "ServiceAccount", "namespace": entry[1], "name": entry[2]}
        return {"kind": entry[0], "apiGroup": RBAC_GROUP, "name": entry[1]}
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": kind,
            "metadata": {"name": name, **({"labels": labels} if labels else {})},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role},
            "subjects": [subject(entry) for entry in subjects]}


def can(api, token, verb, resource, namespace="", name="", group="", subresource=""):
    """What a SelfSubjectAccessReview made with `token` answers: allowed or not."""
    attributes = {"verb": verb, "resource": resource, "namespace": namespace, "name": name, "group": group,
                  "subresource": subresource}
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {key: value for key, value in attributes.items() if value}}}
    answer = api.request("POST", SELF_ACCESS_REVIEWS, body, token=token)
    assert answer.status == 201, answer
    return answer.json()["status"]["allowed"]
