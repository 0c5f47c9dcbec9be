"""Authorisation, evaluated for API requests and for the access reviews: a union, as
kube-apiserver's authorizer chain is one. A request is allowed if either allows it:

- the test server's own RBAC-like rules (the defaults, the config's and those of run-time
  identities), checked first;
- RBAC over the stored Roles, ClusterRoles and their bindings (rbac.py), the bootstrap policy
  (system:basic-user, cluster-admin, ...) included.
"""

from __future__ import annotations

import threading
from urllib.parse import unquote

from .rbac import MASTERS, RBAC, Attributes
from .status import forbidden, internal_error


def default_rules(sa_user: str, sa_namespace: str) -> list[dict]:
    """Admin may do anything, reader may get ConfigMaps, the service account may read, watch and
    write ConfigMaps in its namespace and review tokens and access (like system:auth-delegator)."""
    return [
        {"group": MASTERS, "verbs": ["*"], "resources": ["*"]},
        {"user": "reader", "verbs": ["get"], "resources": ["configmaps"]},
        {"user": sa_user, "verbs": ["get", "list", "watch", "update", "patch"], "resources": ["configmaps"],
         "namespaces": [sa_namespace]},
        {"user": sa_user, "verbs": ["create"], "resources": ["tokenreviews", "subjectaccessreviews"]},
    ]


def subject_matches(rule, user):
    return rule.get("user") == user["username"] or rule.get("group") in (user.get("groups") or [])


def rule_matches(rule, user, verb, resource, namespace, name, group=""):
    """One RBAC-like rule: a subject (user or group), verbs, resources ("*" = any; a non-resource
    request matches only "*"), optional apiGroups (as RBAC's: "" is the core group, "*" any; absent
    = any group, the test server's shorthand), optional namespaces (absent = all, cluster scope
    included) and optional resourceNames (absent = all; requests without a name never match them)."""
    if not subject_matches(rule, user):
        return False

    def allows(key, value):
        values = rule.get(key, [])
        return "*" in values or value in values

    names, groups = rule.get("resourceNames"), rule.get("apiGroups")
    return (allows("verbs", verb) and allows("resources", resource)
            and (groups is None or "*" in groups or group in groups)
            and rule_in_namespace(rule, namespace)
            and (names is None or (name and name in names)))


def rule_in_namespace(rule, namespace):
    namespaces = rule.get("namespaces")
    return namespaces is None or "*" in namespaces or namespace in namespaces


def policy_rules(rule):
    """A test-server rule as RBAC PolicyRules (for SelfSubjectRulesReview and the escalation
    check): no apiGroups is every group; "*" among its resources also covers non-resource URLs."""
    resources = list(rule.get("resources", []))
    policy = {"verbs": list(rule.get("verbs", [])), "apiGroups": list(rule.get("apiGroups", ["*"])),
              "resources": resources}
    if rule.get("resourceNames"):
        policy["resourceNames"] = list(rule["resourceNames"])
    rules = [policy] if resources else []
    if "*" in resources and not rule.get("resourceNames"):
        rules.append({"verbs": list(rule.get("verbs", [])), "nonResourceURLs": ["*"]})
    return rules


class Authorizer:
    """The rules from start-up (`base_rules`) plus those of run-time identities (dropped by
    `reset`), and RBAC over the stored objects (`rbac`, which cluster.py wires to the store)."""

    def __init__(self, base_rules: list[dict], rbac: RBAC | None = None):
        self.lock = threading.Lock()
        self.base_rules = list(base_rules)
        self._rules = list(self.base_rules)
        self.rbac = rbac

    def add_rules(self, rules):
        with self.lock:
            self._rules += rules

    def reset(self):
        with self.lock:
            self._rules = list(self.base_rules)

    def evaluate(self, user, verb, resource, namespace, name, group="", path=None):
        """(allowed, reason) for a user or SubjectAccessReview subject; `group` is the resource's
        API group, `resource` may name a subresource ("serviceaccounts/token"); None is a
        non-resource request for `path`. Denied, the reason is RBAC's resolution errors, if any."""
        with self.lock:
            rules = list(self._rules)
        for index, rule in enumerate(rules):
            if rule_matches(rule, user, verb, resource, namespace, name, group):
                subject = f'User "{rule["user"]}"' if "user" in rule else f'Group "{rule["group"]}"'
                return True, f"RBAC: allowed by test-server rule #{index} to {subject}"
        if self.rbac is None:
            return False, ""
        return self.rbac.authorize(user, Attributes.of(verb, resource, namespace, name, group, path))

    def allows(self, user, verb, resource, namespace, name, group=""):
        return self.evaluate(user, verb, resource, namespace, name, group)[0]

    def authorize(self, user, verb, resource, namespace, name, group="", subresource=""):
        """Raises the 403 kube-apiserver answers when nothing allows the request."""
        rbac_resource = f"{resource}/{subresource}" if subresource else resource
        allowed, reason = self.evaluate(user, verb, rbac_resource, namespace, name, group)
        if not allowed:
            raise forbidden(user, verb, resource, group, namespace, name, subresource, reason)

    def rules_for(self, user, namespace):
        """(the PolicyRules the user holds in `namespace`, "" for the cluster scope; RBAC's
        resolution errors): the test-server rules that apply there, then RBAC's RulesFor."""
        with self.lock:
            rules = [policy for rule in self._rules if subject_matches(rule, user) and rule_in_namespace(rule, namespace)
                     for policy in policy_rules(rule)]
        if self.rbac is None:
            return rules, []
        more, errors = self.rbac.rules_for(user, namespace)
        return rules + more, errors


def escalation_allowed(user):
    """rbacregistry.EscalationAllowed: system:masters may grant anything."""
    return MASTERS in (user.get("groups") or [])


# MARK: - Impersonation (apiserver's endpoints/filters/impersonation.go)

IMPERSONATE_USER, IMPERSONATE_GROUP, IMPERSONATE_UID = "Impersonate-User", "Impersonate-Group", "Impersonate-Uid"
IMPERSONATE_EXTRA = "impersonate-extra-"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


def impersonate(authz: Authorizer, requester, headers):
    """The user a request acts as: the requester, or the one its Impersonate-* headers ask for
    (`kubectl --as`, `--as-group`, `--as-uid`), once the requester may `impersonate` each part:
    `users` (or `serviceaccounts` in the account's namespace for `system:serviceaccount:NS:NAME`),
    `groups`, `uids` and `userextras/KEY` (these two in authentication.k8s.io). A 403 names the
    first refused part. An impersonated service account without groups gets its groups; every
    impersonated user but system:anonymous gets system:authenticated (unless it asks for
    system:unauthenticated)."""
    username = headers.get(IMPERSONATE_USER) or ""
    groups = list(headers.get_all(IMPERSONATE_GROUP) or [])
    uid = headers.get(IMPERSONATE_UID) or ""
    extra = {}
    for name, value in headers.items():
        if name.lower().startswith(IMPERSONATE_EXTRA):
            extra.setdefault(unquote(name[len(IMPERSONATE_EXTRA):]).lower(), []).append(value)
    if not (username or groups or uid or extra):
        return requester
    if not username:
        raise internal_error("requested impersonation of groups, a uid or extra without impersonating a user")
    account = None
    if username.startswith(SERVICE_ACCOUNT_PREFIX) and username.count(":") == 3:
        account = tuple(username[len(SERVICE_ACCOUNT_PREFIX):].split(":"))
    parts = [("serviceaccounts", "", account[0], account[1]) if account else ("users", "", "", username)]
    parts += [("groups", "", "", group) for group in groups]
    parts += [("userextras/" + key, "authentication.k8s.io", "", value) for key, values in extra.items()
              for value in values]
    parts += [("uids", "authentication.k8s.io", "", uid)] if uid else []
    for resource, group, namespace, name in parts:
        allowed, reason = authz.evaluate(requester, "impersonate", resource, namespace, name, group)
        if not allowed:
            base, _, subresource = resource.partition("/")
            raise forbidden(requester, "impersonate", base, group, namespace, name, subresource, reason)
    if account and not groups:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{account[0]}"]
    if username != "system:anonymous" and not {"system:authenticated", "system:unauthenticated"} & set(groups):
        groups.append("system:authenticated")
    user = {"username": username, "uid": uid, "groups": groups}
    return {**user, "extra": extra} if extra else user
