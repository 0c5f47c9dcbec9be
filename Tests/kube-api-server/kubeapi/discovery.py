"""Discovery: the minimal, well-formed answers kubectl's probes need (/version, /api, /apis and
the group versions), and a minimal OpenAPI v3 (/openapi/v3). A new resource or group is listed
here too; a resource switched off in the config (SelfSubjectReview) is left out, as
kube-apiserver leaves out what it does not serve.

The OpenAPI v3 documents hold, for each kind kept here, only its PATCH operation with the
`x-kubernetes-group-version-kind` extension and the `fieldValidation` query parameter: what
kubectl looks for to learn that the server validates fields itself (kubectl's
QueryParamVerifierV3). kubectl `apply`, `create -f` and `replace` then send
`fieldValidation=Strict` instead of validating against schemas, which these documents do not
have; without any OpenAPI they stop at "failed to download openapi" unless `--validate=false`.
kubectl's apply computes its strategic merge patches from its built-in types then.
"""

from __future__ import annotations

from .authn import AUTHENTICATED
from .status import APIError, forbidden_path

VERSION = "v1.32.0"
READ_WRITE = ["create", "delete", "get", "list", "patch", "update", "watch"]
RBAC_GROUP = "rbac.authorization.k8s.io"

# (group, resource, singularName, kind, namespaced, verbs, shortNames)
RESOURCES = [
    ("", "configmaps", "configmap", "ConfigMap", True, ["create", "delete", "get", "list", "patch", "update"], ["cm"]),
    ("", "namespaces", "namespace", "Namespace", False, READ_WRITE, ["ns"]),
    ("", "secrets", "secret", "Secret", True, ["create", "delete", "get", "list", "patch", "update"], []),
    ("", "serviceaccounts", "serviceaccount", "ServiceAccount", True, READ_WRITE, ["sa"]),
    (RBAC_GROUP, "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", False, READ_WRITE, []),
    (RBAC_GROUP, "clusterroles", "clusterrole", "ClusterRole", False, READ_WRITE, []),
    (RBAC_GROUP, "rolebindings", "rolebinding", "RoleBinding", True, READ_WRITE, []),
    (RBAC_GROUP, "roles", "role", "Role", True, READ_WRITE, []),
]


class Discovery:
    """The discovery routes. /version is public (system:public-info-viewer); the rest is for
    authenticated users only (system:discovery is bound to system:authenticated), so
    system:anonymous gets a 403 there."""

    def __init__(self, self_subject_reviews: bool = True):
        self.self_subject_reviews = self_subject_reviews

    def get(self, req, kind):
        if kind != "version" and AUTHENTICATED not in req.user["groups"]:
            raise forbidden_path(req.user, "get", req.path)
        return 200, discovery_document(kind, req.host, self.self_subject_reviews)

    def openapi(self, req, group_version=None):
        """GET /openapi/v3 (the index of group versions) and /openapi/v3/{api/v1,apis/G/v1}."""
        if AUTHENTICATED not in req.user["groups"]:
            raise forbidden_path(req.user, "get", req.path)
        if group_version is None:
            return 200, {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={VERSION}"}
                                   for path in openapi_group_versions()}}
        document = openapi_document(group_version)
        if document is None:
            raise APIError(404, "NotFound", "the server could not find the requested resource", {})
        return 200, document


def group_path(group):
    return f"apis/{group}/v1" if group else "api/v1"


def openapi_group_versions():
    return ["api/v1", "apis/authentication.k8s.io/v1", "apis/authorization.k8s.io/v1", f"apis/{RBAC_GROUP}/v1"]


def openapi_document(group_version):
    """One group version's document: a PATCH operation per kind, with its GVK and fieldValidation."""
    if group_version not in openapi_group_versions():
        return None
    paths = {}
    for group, resource, _, kind, namespaced, verbs, _ in RESOURCES:
        if group_path(group) != group_version or "patch" not in verbs:
            continue
        scope = "namespaces/{namespace}/" if namespaced else ""
        parameters = [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                      for name in ("dryRun", "fieldManager", "fieldValidation", "force")]
        paths[f"/{group_version}/{scope}{resource}/{{name}}"] = {"patch": {
            "operationId": f"patch{kind}", "parameters": parameters,
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": group, "version": "v1", "kind": kind}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION}, "paths": paths,
            "components": {}}


def discovery_document(kind, host, self_subject_reviews=True):
    """The discovery answers kubectl probes before a request; minimal but well-formed."""
    def resources(group_version, *entries):
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                "resources": [entry for entry in entries if entry]}

    def group(name):
        version = {"groupVersion": f"{name}/v1", "version": "v1"}
        return {"name": name, "versions": [version], "preferredVersion": version}

    def review(resource, kind):
        return {"name": resource, "singularName": kind.lower(), "namespaced": False, "kind": kind,
                "verbs": ["create"]}

    def stored(group_name):
        return [{"name": resource, "singularName": singular, "namespaced": namespaced, "kind": kind_name,
                 "verbs": verbs, **({"shortNames": short} if short else {})}
                for group_of, resource, singular, kind_name, namespaced, verbs, short in RESOURCES
                if group_of == group_name]

    return {
        "version": {"major": "1", "minor": "32", "gitVersion": VERSION, "gitCommit": "kube-api-test-server",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.4",
                    "compiler": "gc", "platform": "linux/amd64"},
        "api": {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]},
        "apis": {"kind": "APIGroupList", "apiVersion": "v1",
                 "groups": [group("authentication.k8s.io"), group("authorization.k8s.io"), group(RBAC_GROUP)]},
        "v1": resources("v1", *stored(""),
                        {"name": "serviceaccounts/token", "singularName": "", "namespaced": True,
                         "kind": "TokenRequest", "group": "authentication.k8s.io", "version": "v1",
                         "verbs": ["create"]}),
        "authentication.k8s.io": resources("authentication.k8s.io/v1",
                                           self_subject_reviews and review("selfsubjectreviews", "SelfSubjectReview"),
                                           review("tokenreviews", "TokenReview")),
        "authorization.k8s.io": resources("authorization.k8s.io/v1",
                                          review("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                                          review("selfsubjectrulesreviews", "SelfSubjectRulesReview"),
                                          review("subjectaccessreviews", "SubjectAccessReview")),
        RBAC_GROUP: resources(f"{RBAC_GROUP}/v1", *stored(RBAC_GROUP)),
    }[kind]
