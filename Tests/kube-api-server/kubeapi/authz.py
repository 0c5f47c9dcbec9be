"""Authorisation: RBAC-like rules (no Role or RoleBinding objects), evaluated for API requests
and for SubjectAccessReviews: the bootstrap bindings, the defaults, the config's and those of
run-time identities."""

from __future__ import annotations

import threading

from .status import forbidden


# Bindings every cluster has, whatever the config (kube-apiserver's bootstrap policy, which it
# reconciles at start-up). A rule with a `binding` names it in its reason.
BOOTSTRAP_RULES = [
    {"group": "system:authenticated", "verbs": ["create"], "resources": ["selfsubjectreviews"],
     "binding": "system:basic-user"},
]


def default_rules(sa_user: str, sa_namespace: str) -> list[dict]:
    """Admin may do anything, reader may get ConfigMaps, the service account may read, watch and
    write ConfigMaps in its namespace and review tokens and access (like system:auth-delegator)."""
    return [
        {"group": "system:masters", "verbs": ["*"], "resources": ["*"]},
        {"user": "reader", "verbs": ["get"], "resources": ["configmaps"]},
        {"user": sa_user, "verbs": ["get", "list", "watch", "update", "patch"], "resources": ["configmaps"],
         "namespaces": [sa_namespace]},
        {"user": sa_user, "verbs": ["create"], "resources": ["tokenreviews", "subjectaccessreviews"]},
    ]


def rule_matches(rule, user, verb, resource, namespace, name, group=""):
    """One RBAC-like rule: a subject (user or group), verbs, resources ("*" = any; a non-resource
    request matches only "*"), optional apiGroups (as RBAC's: "" is the core group, "*" any; absent
    = any group, the test server's shorthand), optional namespaces (absent = all, cluster scope
    included) and optional resourceNames (absent = all; requests without a name never match them)."""
    if rule.get("user") != user["username"] and rule.get("group") not in user["groups"]:
        return False
    def allows(key, value):
        values = rule.get(key, [])
        return "*" in values or value in values

    namespaces, names, groups = rule.get("namespaces"), rule.get("resourceNames"), rule.get("apiGroups")
    return (allows("verbs", verb) and allows("resources", resource)
            and (groups is None or "*" in groups or group in groups)
            and (namespaces is None or "*" in namespaces or namespace in namespaces)
            and (names is None or (name and name in names)))


class Authorizer:
    """The rules from start-up (`base_rules`) plus those of run-time identities (dropped by `reset`)."""

    def __init__(self, base_rules: list[dict]):
        self.lock = threading.Lock()
        self.base_rules = list(base_rules) + BOOTSTRAP_RULES
        self._rules = list(self.base_rules)

    def add_rules(self, rules):
        with self.lock:
            self._rules += rules

    def reset(self):
        with self.lock:
            self._rules = list(self.base_rules)

    def evaluate(self, user, verb, resource, namespace, name, group=""):
        """(allowed, reason) for a user or SubjectAccessReview subject; `group` is the resource's API group."""
        with self.lock:
            rules = list(self._rules)
        for index, rule in enumerate(rules):
            if rule_matches(rule, user, verb, resource, namespace, name, group):
                subject = f'User "{rule["user"]}"' if "user" in rule else f'Group "{rule["group"]}"'
                if "binding" in rule:
                    return True, (f'RBAC: allowed by ClusterRoleBinding "{rule["binding"]}" of ClusterRole '
                                  f'"{rule["binding"]}" to {subject}')
                return True, f"RBAC: allowed by test-server rule #{index} to {subject}"
        return False, ""

    def authorize(self, user, verb, resource, namespace, name, group="", subresource=""):
        """Raises the 403 kube-apiserver answers when the rules do not allow the request."""
        rbac_resource = f"{resource}/{subresource}" if subresource else resource
        if not self.evaluate(user, verb, rbac_resource, namespace, name, group)[0]:
            raise forbidden(user, verb, resource, group, namespace, name, subresource)
