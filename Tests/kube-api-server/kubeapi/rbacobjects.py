"""The RBAC kinds (rbac.authorization.k8s.io/v1): Roles and RoleBindings (namespaced),
ClusterRoles and ClusterRoleBindings (cluster-scoped), through the shared registry (objects.py):
how a body becomes one (with v1 defaulting), how kube-apiserver validates it
(pkg/apis/rbac/validation), and the escalation check of its policy-based storage
(pkg/registry/rbac/*/policybased, escalation_check.go). rbac.py evaluates them.

Escalation: a caller outside system:masters may create or update a Role or ClusterRole only if
it holds every right the role grants, in the role's namespace (the cluster scope for a
ClusterRole), or may `escalate` roles/clusterroles; a binding only if it holds every right of
the role it binds, or may `bind` that role (`resourceNames` can name it). Otherwise a 403
`... is attempting to grant RBAC permissions not currently held:` with the missing rules; a
binding to a role that does not exist is its 404 then. The rights held are those RBAC gives
(RulesFor) and, here, the test server's own rules too.
"""

from __future__ import annotations

import json

from .authz import escalation_allowed
from .objects import ShapeError, StoredObjects, name_problems
from .rbac import GROUP, RoleNotFound, covers, escalation_message
from .status import forbidden_because, invalid, not_found, plain_error

RULE_FIELDS = ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")


# MARK: - Decoding (with SetDefaults_Subject, SetDefaults_RoleBinding)


def _strings(value, where):
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ShapeError(f"json: cannot unmarshal into Go struct field {where} of type []string")
    return list(value)


def decode_rules(source, kind):
    """`rules` as PolicyRules in Go's field order; `verbs` is always there (not omitempty, so
    null when missing), the other lists only when not empty. No rules at all: null."""
    rules = source.get("rules")
    if rules is None:
        return None
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        raise ShapeError(f"json: cannot unmarshal into Go struct field {kind}.rules of type []v1.PolicyRule")
    decoded = []
    for rule in rules:
        policy = {"verbs": _strings(rule.get("verbs"), "PolicyRule.rules.verbs") if rule.get("verbs") is not None
                  else None}
        for field in RULE_FIELDS[1:]:
            values = _strings(rule.get(field), f"PolicyRule.rules.{field}")
            if values:
                policy[field] = values
        decoded.append(policy)
    return decoded


def decode_binding(source, kind):
    """`subjects` (omitempty) and `roleRef`, defaulted: a roleRef's empty apiGroup is RBAC's; a
    User or Group subject's too, a ServiceAccount's stays ""."""
    subjects = source.get("subjects")
    if subjects is not None and (not isinstance(subjects, list) or not all(isinstance(s, dict) for s in subjects)):
        raise ShapeError(f"json: cannot unmarshal into Go struct field {kind}.subjects of type []v1.Subject")
    ref = source.get("roleRef") or {}
    if not isinstance(ref, dict):
        raise ShapeError(f"json: cannot unmarshal into Go struct field {kind}.roleRef of type v1.RoleRef")
    fields = {}
    decoded = []
    for subject in subjects or []:
        values = {key: subject.get(key) or "" for key in ("kind", "apiGroup", "name", "namespace")}
        if not all(isinstance(value, str) for value in values.values()):
            raise ShapeError(f"json: cannot unmarshal into Go struct field {kind}.subjects of type string")
        if not values["apiGroup"] and values["kind"] in ("User", "Group"):
            values["apiGroup"] = GROUP
        decoded.append({key: value for key, value in values.items() if value or key in ("kind", "name")})
    if decoded:
        fields["subjects"] = decoded
    role_ref = {key: ref.get(key) or "" for key in ("apiGroup", "kind", "name")}
    if not all(isinstance(value, str) for value in role_ref.values()):
        raise ShapeError(f"json: cannot unmarshal into Go struct field {kind}.roleRef of type string")
    role_ref["apiGroup"] = role_ref["apiGroup"] or GROUP
    fields["roleRef"] = role_ref
    return fields


# MARK: - Validation (pkg/apis/rbac/validation)


def go_value(value):
    """How field.Invalid prints a value: %q for a string, %#v for the rest."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[]string{" + ", ".join(json.dumps(item) for item in value) + "}"
    if isinstance(value, dict):  # the internal rbac.RoleRef
        return (f'rbac.RoleRef{{APIGroup:{json.dumps(value["apiGroup"])}, Kind:{json.dumps(value["kind"])}, '
                f'Name:{json.dumps(value["name"])}}}')
    return str(value)


def required(field, detail=""):
    return ("FieldValueRequired", field, "Required value" + (f": {detail}" if detail else ""))


def invalid_value(field, value, detail):
    return ("FieldValueInvalid", field, f"Invalid value: {go_value(value)}: {detail}")


def not_supported(field, value, supported):
    return ("FieldValueNotSupported", field,
            f"Unsupported value: {json.dumps(value)}: supported values: " + ", ".join(json.dumps(s) for s in supported))


def path_segment_problems(name):
    """path.IsValidPathSegmentName: RBAC's minimal name requirements."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in name]


def rule_problems(rules, namespaced):
    causes = []
    for index, rule in enumerate(rules or []):
        at = f"rules[{index}]"
        if not rule.get("verbs"):
            causes.append(required(f"{at}.verbs", "verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            if namespaced:
                causes.append(invalid_value(f"{at}.nonResourceURLs", rule["nonResourceURLs"],
                                            "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                causes.append(invalid_value(f"{at}.nonResourceURLs", rule["nonResourceURLs"],
                                            "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not rule.get("apiGroups"):
            causes.append(required(f"{at}.apiGroups", "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            causes.append(required(f"{at}.resources", "resource rules must supply at least one resource"))
        if rule.get("resourceNames") and len(rule.get("resources") or []) > 1:
            causes.append(required(f"{at}.resourceNames", "resource names cannot apply to multiple resources"))
    return causes


def binding_problems(obj, kinds, namespaced):
    ref, causes = obj["roleRef"], []
    if ref["apiGroup"] != GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref["apiGroup"], [GROUP]))
    if ref["kind"] not in kinds:
        causes.append(not_supported("roleRef.kind", ref["kind"], kinds))
    if not ref["name"]:
        causes.append(required("roleRef.name"))
    causes += [invalid_value("roleRef.name", ref["name"], problem) for problem in path_segment_problems(ref["name"])]
    for index, subject in enumerate(obj.get("subjects") or []):
        at, name, group = f"subjects[{index}]", subject.get("name", ""), subject.get("apiGroup", "")
        if not name:
            causes.append(required(f"{at}.name"))
        kind = subject.get("kind", "")
        if kind == "ServiceAccount":
            if name:  # ValidateServiceAccountName: NameIsDNSSubdomain
                causes += [(reason, f"{at}.name", body) for reason, _, body in name_problems(name)]
            if group:
                causes.append(not_supported(f"{at}.apiGroup", group, [""]))
            if not namespaced and not subject.get("namespace"):
                causes.append(required(f"{at}.namespace"))
        elif kind in ("User", "Group"):
            if not name:
                causes.append(invalid_value(f"{at}.name", name, f"{kind.lower()} name cannot be empty"))
            if group != GROUP:
                causes.append(not_supported(f"{at}.apiGroup", group, [GROUP]))
        else:
            causes.append(not_supported(f"{at}.kind", kind, ["ServiceAccount", "User", "Group"]))
    return causes


# MARK: - The registries


class RBACObjects(StoredObjects):
    """What the four kinds share: the group, path-segment names and the escalation check."""

    group = GROUP
    namespaced_rules = True

    def validate(self, obj, previous, check_name=False):
        name = obj["metadata"]["name"]
        causes = [invalid_value("metadata.name", name, problem) for problem in path_segment_problems(name)] \
            if check_name else []
        causes += self.problems(obj, previous)
        if causes:
            raise invalid(self.kind, self.group, name, causes)

    def problems(self, obj, previous):
        raise NotImplementedError

    def admit(self, req, namespace, name, obj, previous):
        super().admit(req, namespace, name, obj, previous)
        if not escalation_allowed(req.user):
            self.confirm_no_escalation(req, namespace, name, obj, previous)

    def confirm_no_escalation(self, req, namespace, name, obj, previous):
        raise NotImplementedError

    def refuse_uncovered(self, req, namespace, obj, rules):
        """ConfirmNoEscalation: the caller's rights in `namespace` must cover `rules`."""
        owner, errors = self.authz.rules_for(req.user, namespace)
        covered, missing = covers(owner, rules)
        if not covered:
            raise forbidden_because(self.resource, GROUP, obj["metadata"]["name"],
                                    escalation_message(req.user, missing, errors))


class Roles(RBACObjects):
    resource, kind, content = "roles", "Role", ("rules",)

    def build(self, namespace, name, source, previous):
        return {**self.skeleton(namespace, name, source, previous), "rules": decode_rules(source, self.kind)}

    def problems(self, obj, previous):
        return rule_problems(obj["rules"], self.namespaced)

    def confirm_no_escalation(self, req, namespace, name, obj, previous):
        """RoleEscalationAuthorized (the `escalate` verb; requestInfo has no name on a create),
        else ConfirmNoEscalation."""
        if self.authz.allows(req.user, "escalate", self.resource, namespace, name if previous else "", GROUP):
            return
        self.refuse_uncovered(req, namespace, obj, obj["rules"] or [])


class ClusterRoles(Roles):
    resource, kind, namespaced, content = "clusterroles", "ClusterRole", False, ("rules", "aggregationRule")

    def build(self, namespace, name, source, previous):
        obj = super().build(namespace, name, source, previous)
        aggregation = source.get("aggregationRule")
        if aggregation is not None and not isinstance(aggregation, dict):
            raise ShapeError("json: cannot unmarshal into Go struct field ClusterRole.aggregationRule of type "
                             "v1.AggregationRule")
        if aggregation:
            obj["aggregationRule"] = aggregation
        return obj


class RoleBindings(RBACObjects):
    resource, kind, content = "rolebindings", "RoleBinding", ("subjects", "roleRef")
    role_kinds = ["Role", "ClusterRole"]

    def build(self, namespace, name, source, previous):
        return {**self.skeleton(namespace, name, source, previous), **decode_binding(source, self.kind)}

    def problems(self, obj, previous):
        causes = binding_problems(obj, self.role_kinds, self.namespaced)
        if previous is not None and previous["roleRef"] != obj["roleRef"]:
            causes.append(invalid_value("roleRef", obj["roleRef"], "cannot change roleRef"))
        return causes

    def confirm_no_escalation(self, req, namespace, name, obj, previous):
        """BindingAuthorized (the `bind` verb on the role, by name), else the role's rules must
        be held (GetRoleReferenceRules: a missing role is its NotFound)."""
        ref = obj["roleRef"]
        target = {"ClusterRole": "clusterroles", "Role": "roles"}.get(ref["kind"])
        if target and self.authz.allows(req.user, "bind", target, namespace, ref["name"], ref["apiGroup"]):
            return
        try:
            rules = self.authz.rbac.role_rules(ref, namespace)
        except RoleNotFound as missing:
            raise not_found(target, missing.name, GROUP)
        except ValueError as error:
            raise plain_error(str(error))
        self.refuse_uncovered(req, namespace, obj, rules)


class ClusterRoleBindings(RoleBindings):
    resource, kind, namespaced = "clusterrolebindings", "ClusterRoleBinding", False
    role_kinds = ["ClusterRole"]
