"""The reviews that delegate authentication and authorisation to the API server (as
kube-rbac-proxy uses them): TokenReview and SubjectAccessReview; SelfSubjectReview, which tells a
caller who the API server takes it for (`kubectl auth whoami`); SelfSubjectAccessReview, whether
the caller may do something (`kubectl auth can-i`), and SelfSubjectRulesReview, what it may do in
a namespace (`kubectl auth can-i --list`). The access reviews answer as the requests themselves
are authorised (authz.py: the test server's rules and RBAC)."""

from __future__ import annotations

from .authn import Authenticator, user_info
from .authz import Authorizer
from .rbac import aggregate
from .request import parse_object, rfc3339
from .status import bad_request, invalid


def attribute_problems(spec):
    """ValidateSubjectAccessReviewSpec / ValidateSelfSubjectAccessReviewSpec: exactly one of
    resourceAttributes and nonResourceAttributes."""
    attributes, other = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if attributes and other:
        return [("FieldValueInvalid", "spec.nonResourceAttributes",
                 "Invalid value: cannot be specified in combination with resourceAttributes")]
    if not attributes and not other:
        return [("FieldValueInvalid", "spec.resourceAttributes", 'Invalid value: "null": '
                 "exactly one of nonResourceAttributes or resourceAttributes must be specified")]
    return []


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
        causes = attribute_problems(spec)
        if not spec.get("user") and not spec.get("groups"):
            causes.append(("FieldValueInvalid", "spec.user",
                           'Invalid value: "": at least one of user or group must be specified'))
        if causes:
            raise invalid("SubjectAccessReview", "authorization.k8s.io", "", causes)
        subject = {"username": spec.get("user", ""), "groups": spec.get("groups") or []}
        return 201, {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": spec, "status": self.decide(subject, spec)}

    def review_self_access(self, req):
        """registry/authorization/selfsubjectaccessreview: the caller's own user asked about; any
        authenticated user may ask (system:basic-user)."""
        self.authz.authorize(req.user, "create", "selfsubjectaccessreviews", "", "", group="authorization.k8s.io")
        spec = parse_object(req).get("spec") or {}
        causes = attribute_problems(spec)
        if causes:
            raise invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", causes)
        return 201, {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": spec, "status": self.decide(req.user, spec)}

    def review_self_rules(self, req):
        """registry/authorization/selfsubjectrulesreview: the rules the caller holds in
        `spec.namespace` (400 "no namespace on request" without one): the resource rules and the
        non-resource rules, `incomplete: false`, and RBAC's resolution errors as evaluationError."""
        self.authz.authorize(req.user, "create", "selfsubjectrulesreviews", "", "", group="authorization.k8s.io")
        spec = parse_object(req).get("spec") or {}
        if not spec.get("namespace"):
            raise bad_request("no namespace on request")
        rules, errors = self.authz.rules_for(req.user, spec["namespace"])
        resource_rules = [{"verbs": rule.get("verbs"), **{key: rule[key] for key in
                                                         ("apiGroups", "resources", "resourceNames") if rule.get(key)}}
                          for rule in rules if rule.get("resources")]
        non_resource_rules = [{"verbs": rule.get("verbs"), "nonResourceURLs": rule["nonResourceURLs"]}
                              for rule in rules if rule.get("nonResourceURLs")]
        status = {"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": False}
        if errors:
            status["evaluationError"] = aggregate(errors)
        return 201, {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": {}, "status": status}

    def decide(self, subject, spec):
        """The status of an access review: allowed, and the authorizer's reason when it has one."""
        attributes, other = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        if attributes:
            resource = attributes.get("resource", "")
            if attributes.get("subresource"):
                resource += "/" + attributes["subresource"]
            allowed, reason = self.authz.evaluate(subject, attributes.get("verb", ""), resource,
                                                  attributes.get("namespace", ""), attributes.get("name", ""),
                                                  attributes.get("group", ""))
        else:
            allowed, reason = self.authz.evaluate(subject, other.get("verb", ""), None, "", "",
                                                  path=other.get("path", ""))
        return {"allowed": allowed, **({"reason": reason} if reason else {})}

    def review_self(self, req):
        """pkg/registry/authentication/selfsubjectreview: the body is decoded like any create's
        (a malformed one is 400) and otherwise ignored; the answer is the caller's user, with a
        creationTimestamp (the registry sets it) and no spec. RBAC allows it to every
        authenticated user (system:basic-user); system:anonymous gets the 403."""
        self.authz.authorize(req.user, "create", "selfsubjectreviews", "", "", group="authentication.k8s.io")
        parse_object(req)
        return 201, {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"creationTimestamp": rfc3339()}, "status": {"userInfo": user_info(req.user)}}
