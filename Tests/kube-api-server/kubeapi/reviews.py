"""The reviews that delegate authentication and authorisation to the API server (as
kube-rbac-proxy uses them): TokenReview and SubjectAccessReview; and SelfSubjectReview, which
tells a caller who the API server takes it for (`kubectl auth whoami`)."""

from __future__ import annotations

from .authn import Authenticator, user_info
from .authz import Authorizer
from .request import parse_object, rfc3339
from .status import bad_request, invalid


class Reviews:
    def __init__(self, authn: Authenticator, authz: Authorizer):
        self.authn, self.authz = authn, authz

    def review_token(self, req):
        """registry/authentication/tokenreview: the token checked for `spec.audiences`, or the API
        server's own when none are given (authn.py says how); `status.audiences` are those it was
        accepted for. The request log records the audiences asked about, never the token."""
        self.authz.authorize(req.user, "create", "tokenreviews", "", "", group="authentication.k8s.io")
        spec = parse_object(req).get("spec") or {}
        if not spec.get("token"):
            raise bad_request("token is required for TokenReview in authentication")
        req.log["audiences"] = list(spec.get("audiences") or [])
        identity, error = self.authn.check(spec["token"], spec.get("audiences") or None)
        if identity:
            status = {"authenticated": True, "user": user_info(identity), "audiences": identity["audiences"]}
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
                                                  attributes.get("namespace", ""), attributes.get("name", ""),
                                                  attributes.get("group", ""))
        else:
            allowed, reason = self.authz.evaluate(subject, other.get("verb", ""), None, "", "")
        status = {"allowed": allowed, **({"reason": reason} if reason else {})}
        return 201, {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

    def review_self(self, req):
        """pkg/registry/authentication/selfsubjectreview: the body is decoded like any create's
        (a malformed one is 400) and otherwise ignored; the answer is the caller's user, with a
        creationTimestamp (the registry sets it) and no spec. RBAC allows it to every
        authenticated user (system:basic-user); system:anonymous gets the 403."""
        self.authz.authorize(req.user, "create", "selfsubjectreviews", "", "", group="authentication.k8s.io")
        parse_object(req)
        return 201, {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"creationTimestamp": rfc3339()}, "status": {"userInfo": user_info(req.user)}}
