"""The reviews that delegate authentication and authorisation to the API server (as
kube-rbac-proxy uses them): TokenReview and SubjectAccessReview. SelfSubjectReview belongs here."""

from __future__ import annotations

from .authn import Authenticator
from .authz import Authorizer
from .request import parse_object
from .status import bad_request, invalid
from .tokens import API_AUDIENCE


class Reviews:
    def __init__(self, authn: Authenticator, authz: Authorizer):
        self.authn, self.authz = authn, authz

    def review_token(self, req):
        self.authz.authorize(req.user, "create", "tokenreviews", "", "", group="authentication.k8s.io")
        spec = parse_object(req).get("spec") or {}
        if not spec.get("token"):
            raise bad_request("token is required for TokenReview in authentication")
        (identity, error), wanted = self.authn.check(spec["token"]), spec.get("audiences") or []
        granted = identity and identity.get("audiences")
        if identity and wanted and granted and not set(wanted) & set(granted):
            identity, error = None, "invalid bearer token"
        if identity:
            user = {key: identity[key] for key in ("username", "uid", "groups")}
            status = {"authenticated": True, "user": user, "audiences": wanted or granted or [API_AUDIENCE]}
        else:  # Go's omitempty drops `authenticated: false`; `user` is a struct, so `{}` stays
            status = {"user": {}, "error": error}
        return 201, {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

    def review_access(self, req):
        self.authz.authorize(req.user, "create", "subjectaccessreviews", "", "", group="authorization.k8s.io")
        spec = parse_object(req).get("spec") or {}
        attributes, other = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        causes = []
        if attributes and other:
            causes.append(("FieldValueInvalid", "spec.nonResourceAttributes",
                           "Invalid value: cannot be specified in combination with resourceAttributes"))
        if not attributes and not other:
            causes.append(("FieldValueInvalid", "spec.resourceAttributes", 'Invalid value: "null": '
                           "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
        if not spec.get("user") and not spec.get("groups"):
            causes.append(("FieldValueInvalid", "spec.user",
                           'Invalid value: "": at least one of user or group must be specified'))
        if causes:
            raise invalid("SubjectAccessReview", "authorization.k8s.io", "", causes)
        subject = {"username": spec.get("user", ""), "groups": spec.get("groups") or []}
        if attributes:
            resource = attributes.get("resource", "")
            if attributes.get("subresource"):
                resource += "/" + attributes["subresource"]
            allowed, reason = self.authz.evaluate(subject, attributes.get("verb", ""), resource,
                                                  attributes.get("namespace", ""), attributes.get("name", ""))
        else:
            allowed, reason = self.authz.evaluate(subject, other.get("verb", ""), None, "", "")
        status = {"allowed": allowed, **({"reason": reason} if reason else {})}
        return 201, {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
