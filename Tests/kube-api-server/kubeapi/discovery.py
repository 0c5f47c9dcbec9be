"""Discovery: the minimal, well-formed answers kubectl's probes need (/version, /api, /apis and
the group versions). A new resource or group is listed here too; a resource switched off in the
config (SelfSubjectReview) is left out, as kube-apiserver leaves out what it does not serve."""

from __future__ import annotations

from .authn import AUTHENTICATED
from .status import forbidden_path


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

    return {
        "version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "kube-api-test-server",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.4",
                    "compiler": "gc", "platform": "linux/amd64"},
        "api": {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]},
        "apis": {"kind": "APIGroupList", "apiVersion": "v1",
                 "groups": [group("authentication.k8s.io"), group("authorization.k8s.io")]},
        "v1": resources("v1",
                        {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
                         "verbs": ["create", "delete", "get", "list", "patch", "update"], "shortNames": ["cm"]},
                        {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
                         "verbs": ["create", "delete", "get", "list", "patch", "update"]},
                        {"name": "serviceaccounts", "singularName": "serviceaccount", "namespaced": True,
                         "kind": "ServiceAccount", "verbs": ["create", "delete", "get", "list"], "shortNames": ["sa"]},
                        {"name": "serviceaccounts/token", "singularName": "", "namespaced": True,
                         "kind": "TokenRequest", "group": "authentication.k8s.io", "version": "v1",
                         "verbs": ["create"]}),
        "authentication.k8s.io": resources("authentication.k8s.io/v1",
                                           self_subject_reviews and review("selfsubjectreviews", "SelfSubjectReview"),
                                           review("tokenreviews", "TokenReview")),
        "authorization.k8s.io": resources("authorization.k8s.io/v1",
                                          review("subjectaccessreviews", "SubjectAccessReview")),
    }[kind]
