"""RBAC as kube-apiserver evaluates it, over the Role, ClusterRole, RoleBinding and
ClusterRoleBinding objects in the store (rbacobjects.py keeps them): the authorizer
(plugin/pkg/auth/authorizer/rbac: `RuleAllows`, `VisitRulesFor`, its reasons), the rules a user
holds (`RulesFor`, for SelfSubjectRulesReview and the escalation check), the escalation check's
`Covers`, `BreakdownRule`, `CompactRules` and `CompactString` (component-helpers/auth/rbac/validation,
pkg/registry/rbac/validation), and the bootstrap policy a cluster starts with.

Rules and objects are their JSON shapes (dicts): a PolicyRule is {verbs, apiGroups, resources,
resourceNames, nonResourceURLs}, each list optional.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

GROUP = "rbac.authorization.k8s.io"
MASTERS = "system:masters"  # user.SystemPrivilegedGroup: the API server lets it do anything


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: a resource request (`path` None) or a non-resource one (`path`)."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str | None = None

    @classmethod
    def of(cls, verb, resource, namespace, name, group="", path=None):
        """From the test server's combined form: `resource` may be "serviceaccounts/token"; None
        (with `path`) is a non-resource request."""
        if resource is None:
            return cls(verb, path=path or "")
        resource, _, subresource = resource.partition("/")
        return cls(verb, group or "", resource, subresource, namespace or "", name or "")


# MARK: - Matching (rbac.go's RuleAllows and rbacv1helpers)


def verb_matches(rule, verb):
    verbs = rule.get("verbs") or []
    return "*" in verbs or verb in verbs


def api_group_matches(rule, group):
    groups = rule.get("apiGroups") or []
    return "*" in groups or group in groups


def resource_matches(rule, combined, subresource):
    """An exact match of "resource" or "resource/subresource", "*", or "*/subresource"."""
    for resource in rule.get("resources") or []:
        if resource in ("*", combined):
            return True
        if subresource and resource == "*/" + subresource:
            return True
    return False


def resource_name_matches(rule, name):
    names = rule.get("resourceNames") or []
    return not names or name in names


def non_resource_url_matches(rule, path):
    for url in rule.get("nonResourceURLs") or []:
        if url in ("*", path) or (url.endswith("*") and path.startswith(url.rstrip("*"))):
            return True
    return False


def rule_allows(rule, attributes: Attributes):
    if attributes.path is not None:
        return verb_matches(rule, attributes.verb) and non_resource_url_matches(rule, attributes.path)
    combined = attributes.resource + ("/" + attributes.subresource if attributes.subresource else "")
    return (verb_matches(rule, attributes.verb) and api_group_matches(rule, attributes.group)
            and resource_matches(rule, combined, attributes.subresource)
            and resource_name_matches(rule, attributes.name))


# MARK: - Escalation: Covers, BreakdownRule, CompactRules, CompactString


def breakdown(rule):
    """BreakdownRule: one rule per group, resource, verb and name; non-resource URLs per verb."""
    parts = []
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for verb in rule.get("verbs") or []:
                names = rule.get("resourceNames") or []
                if names:
                    parts += [{"apiGroups": [group], "resources": [resource], "verbs": [verb], "resourceNames": [n]}
                              for n in names]
                else:
                    parts.append({"apiGroups": [group], "resources": [resource], "verbs": [verb]})
    for url in rule.get("nonResourceURLs") or []:
        parts += [{"nonResourceURLs": [url], "verbs": [verb]} for verb in rule.get("verbs") or []]
    return parts


def _resources_cover(owner, wanted):
    if "*" in owner or all(resource in owner for resource in wanted):
        return True
    for resource in wanted:
        if resource in owner:
            continue
        if "/" not in resource or "*/" + resource.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner, path):
    return owner == path or (owner.endswith("*") and path.startswith(owner.rstrip("*")))


def rule_covers(owner, sub):
    own = lambda key: owner.get(key) or []  # noqa: E731
    want = lambda key: sub.get(key) or []  # noqa: E731
    verbs = "*" in own("verbs") or all(verb in own("verbs") for verb in want("verbs"))
    groups = "*" in own("apiGroups") or all(group in own("apiGroups") for group in want("apiGroups"))
    resources = _resources_cover(own("resources"), want("resources"))
    urls = all(any(_url_covers(url, path) for url in own("nonResourceURLs")) for path in want("nonResourceURLs"))
    if not want("resourceNames"):
        names = not own("resourceNames")
    else:
        names = not own("resourceNames") or all(name in own("resourceNames") for name in want("resourceNames"))
    return verbs and groups and resources and names and urls


def covers(owner_rules, servant_rules):
    """(whether the owner's rules cover every servant rule, the uncovered broken-down rules)."""
    uncovered = [sub for rule in servant_rules for sub in breakdown(rule)
                 if not any(rule_covers(owner, sub) for owner in owner_rules)]
    return not uncovered, uncovered


def compact_rules(rules):
    """CompactRules: simple rules (one group, one resource, at most one name, verbs) that differ
    only by verb become one."""
    compacted, simple = [], {}
    for rule in rules:
        names = rule.get("resourceNames") or []
        is_simple = (len(rule.get("apiGroups") or []) == 1 and len(rule.get("resources") or []) == 1
                     and len(names) <= 1 and not rule.get("nonResourceURLs"))
        if not is_simple:
            compacted.append(rule)
            continue
        key = (rule["apiGroups"][0], rule["resources"][0], bool(names), names[0] if names else "")
        if key in simple:
            simple[key]["verbs"] = simple[key]["verbs"] + list(rule.get("verbs") or [])
        else:
            simple[key] = {**rule, "verbs": list(rule.get("verbs") or [])}
    return compacted + list(simple.values())


def go_quoted_list(values):
    """Go's %q of a []string: ["a" "b"]."""
    return "[" + " ".join(json.dumps(value) for value in values) + "]"


def compact_string(rule):
    """rbacv1helpers.CompactString: {APIGroups:["x"], Resources:["y"], Verbs:["z"]}."""
    parts = [f"{label}:{go_quoted_list(rule[key])}" for label, key in (
        ("APIGroups", "apiGroups"), ("Resources", "resources"), ("NonResourceURLs", "nonResourceURLs"),
        ("ResourceNames", "resourceNames"), ("Verbs", "verbs")) if rule.get(key)]
    return "{" + ", ".join(parts) + "}"


def escalation_message(user, missing, errors=()):
    """ConfirmNoEscalation's error text."""
    lines = sorted({compact_string(rule) for rule in compact_rules(missing)})
    message = (f'user {json.dumps(user["username"])} (groups={go_quoted_list(user.get("groups") or [])}) is '
               "attempting to grant RBAC permissions not currently held:\n" + "\n".join(lines))
    if errors:  # a []error holding one aggregate, as %v prints it
        message += f"; resolution errors: [{aggregate(errors)}]"
    return message


def aggregate(errors):
    """utilerrors.NewAggregate(errors).Error(): one error's text, or [a, b]."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


# MARK: - The authorizer over the stored objects


def service_account_username(namespace, name):
    return f"system:serviceaccount:{namespace}:{name}"


def applies_to_user(user, subject, namespace):
    """appliesToUser: a ServiceAccount subject without a namespace means the binding's."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return user["username"] == name
    if kind == "Group":
        return name in (user.get("groups") or [])
    if kind == "ServiceAccount":
        account_namespace = subject.get("namespace") or namespace
        return bool(account_namespace) and user["username"] == service_account_username(account_namespace, name)
    return False


def describe_subject(subject, binding_namespace):
    if subject.get("kind") == "ServiceAccount":
        return f'ServiceAccount "{subject.get("name", "")}/{subject.get("namespace") or binding_namespace}"'
    return f'{subject.get("kind")} "{subject.get("name", "")}"'


class RoleNotFound(Exception):
    """A binding's role that does not exist (the authorizer's listers say `clusterrole.rbac...`,
    singular; the registry `clusterroles.rbac...`)."""

    def __init__(self, kind, name):
        super().__init__(f'{kind.lower()}.{GROUP} "{name}" not found')
        self.kind, self.name = kind, name


class RBAC:
    """RBAC over the store's objects. Every evaluation reads them afresh, so a change to a role
    or binding applies to the next request."""

    def __init__(self, store):
        self.store = store

    def role_rules(self, role_ref, namespace):
        """GetRoleReferenceRules: the rules of a binding's role; RoleNotFound, or ValueError for a
        kind other than Role and ClusterRole."""
        kind, name = role_ref.get("kind"), role_ref.get("name", "")
        if kind == "Role":
            role = self.store.get("roles", namespace, name)
        elif kind == "ClusterRole":
            role = self.store.get("clusterroles", "", name)
        else:
            raise ValueError(f"unsupported role reference kind: {json.dumps(kind or '')}")
        if role is None:
            raise RoleNotFound(kind, name)
        return list(role.get("rules") or [])

    def visit(self, user, namespace):
        """VisitRulesFor: [(source description, rule, error)] for each rule that applies to the
        user in `namespace` ("" for the cluster scope): ClusterRoleBindings, then the
        namespace's RoleBindings. Read in one step under the store's lock (objects are replaced,
        never changed, so what was read stays as it was)."""
        visited = []
        with self.store.lock:
            cluster_bindings, _ = self.store.items("clusterrolebindings")
            bindings = self.store.items("rolebindings", namespace)[0] if namespace else []
            for binding, where, kind in ([(b, "", "ClusterRoleBinding") for b in cluster_bindings]
                                         + [(b, namespace, "RoleBinding") for b in bindings]):
                subject = next((s for s in binding.get("subjects") or [] if applies_to_user(user, s, where)), None)
                if subject is None:
                    continue
                try:
                    rules = self.role_rules(binding.get("roleRef") or {}, where)
                except (RoleNotFound, ValueError) as error:
                    visited.append((None, None, str(error)))
                    continue
                name = binding["metadata"]["name"] + (f"/{where}" if where else "")
                ref = binding.get("roleRef") or {}
                source = (f'{kind} "{name}" of {ref.get("kind")} "{ref.get("name")}" to '
                          f"{describe_subject(subject, where)}")
                visited += [(source, rule, None) for rule in rules]
        return visited

    def authorize(self, user, attributes: Attributes):
        """(allowed, reason): `RBAC: allowed by ...`, or, denied, the resolution errors met."""
        errors = []
        for source, rule, error in self.visit(user, attributes.namespace):
            if error:
                errors.append(error)
            elif rule_allows(rule, attributes):
                return True, f"RBAC: allowed by {source}"
        if not errors:
            return False, ""
        return False, "RBAC: " + aggregate(errors)

    def rules_for(self, user, namespace):
        """RulesFor: (the rules that apply to the user in `namespace`, the resolution errors)."""
        rules, errors = [], []
        for _, rule, error in self.visit(user, namespace):
            if error:
                errors.append(error)
            else:
                rules.append(rule)
        return rules, errors


# MARK: - The bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy, a subset)

READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete", "deletecollection"]


def _rule(verbs, groups, *resources):
    return {"verbs": list(verbs), "apiGroups": list(groups), "resources": list(resources)}


# system:aggregate-to-view, -edit and -admin, which the aggregation controller folds into view,
# edit and admin; here they are folded in already (without aggregationRule), and some groups of
# kinds this server does not serve are left out (extensions, coordination).
VIEW_RULES = [
    _rule(READ, [""], "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
          "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps"),
    _rule(READ, [""], "limitranges", "resourcequotas", "bindings", "events", "pods/status", "resourcequotas/status",
          "namespaces/status", "replicationcontrollers/status", "pods/log"),
    _rule(READ, [""], "namespaces"),
    _rule(READ, ["discovery.k8s.io"], "endpointslices"),
    _rule(READ, ["apps"], "controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale", "daemonsets",
          "daemonsets/status", "deployments", "deployments/status", "deployments/scale", "replicasets",
          "replicasets/status", "replicasets/scale"),
    _rule(READ, ["autoscaling"], "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
    _rule(READ, ["batch"], "jobs", "cronjobs", "cronjobs/status", "jobs/status"),
    _rule(READ, ["policy"], "poddisruptionbudgets", "poddisruptionbudgets/status"),
    _rule(READ, ["networking.k8s.io"], "networkpolicies", "ingresses", "ingresses/status"),
]
EDIT_RULES = [
    _rule(READ, [""], "pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"),
    _rule(["impersonate"], [""], "serviceaccounts"),
    _rule(WRITE, [""], "pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"),
    _rule(["create"], [""], "pods/eviction"),
    _rule(WRITE, [""], "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
          "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events"),
    _rule(["create"], [""], "serviceaccounts/token"),
    _rule(WRITE, ["apps"], "statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale",
          "deployments/rollback", "replicasets", "replicasets/scale"),
    _rule(WRITE, ["autoscaling"], "horizontalpodautoscalers"),
    _rule(WRITE, ["batch"], "jobs", "cronjobs"),
    _rule(WRITE, ["policy"], "poddisruptionbudgets"),
    _rule(WRITE, ["networking.k8s.io"], "networkpolicies", "ingresses"),
] + VIEW_RULES
ADMIN_RULES = [
    _rule(["create"], ["authorization.k8s.io"], "localsubjectaccessreviews"),
    _rule(READ + WRITE, [GROUP], "roles", "rolebindings"),
] + EDIT_RULES

BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def bootstrap_cluster_roles():
    """(name, labels, rules) of the ClusterRoles every cluster starts with."""
    aggregated_to = lambda role: {**BOOTSTRAP_LABELS, f"rbac.authorization.k8s.io/aggregate-to-{role}": "true"}  # noqa: E731
    return [
        ("admin", BOOTSTRAP_LABELS, ADMIN_RULES),
        ("cluster-admin", BOOTSTRAP_LABELS, [_rule(["*"], ["*"], "*"), {"verbs": ["*"], "nonResourceURLs": ["*"]}]),
        ("edit", aggregated_to("admin"), EDIT_RULES),
        ("system:auth-delegator", BOOTSTRAP_LABELS,
         [_rule(["create"], ["authentication.k8s.io"], "tokenreviews"),
          _rule(["create"], ["authorization.k8s.io"], "subjectaccessreviews")]),
        ("system:discovery", BOOTSTRAP_LABELS,
         [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                                 "/openapi/*", "/readyz", "/version", "/version/"]}]),
        ("system:public-info-viewer", BOOTSTRAP_LABELS,
         [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"]}]),
        ("system:basic-user", BOOTSTRAP_LABELS,
         [_rule(["create"], ["authorization.k8s.io"], "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
          _rule(["create"], ["authentication.k8s.io"], "selfsubjectreviews")]),
        ("view", aggregated_to("edit"), VIEW_RULES),
    ]


def bootstrap_cluster_role_bindings():
    """(name, group subjects) of the ClusterRoleBindings every cluster starts with (a subset)."""
    return [("cluster-admin", [MASTERS]), ("system:basic-user", ["system:authenticated"]),
            ("system:discovery", ["system:authenticated"]),
            ("system:public-info-viewer", ["system:authenticated", "system:unauthenticated"])]
