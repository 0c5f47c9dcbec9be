"""The cluster: its parts (objects, authentication, authorisation, service accounts, faults and
the request log), put together from the config file, and the URL table of the API.

A new resource or review gets a module of its own and its lines in `routes`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from pathlib import Path

from .authn import Authenticator
from .authz import Authorizer, default_rules
from .configmaps import ConfigMaps
from .discovery import RBAC_GROUP, Discovery
from .faults import Faults
from .namespaces import SYSTEM_NAMESPACES, Namespaces
from .rbac import AUTOUPDATE, BOOTSTRAP_LABELS, RBAC, bootstrap_cluster_role_bindings, bootstrap_cluster_roles
from .rbacobjects import ClusterRoleBindings, ClusterRoles, RoleBindings, Roles
from .requestlog import RequestLog
from .reviews import Reviews
from .secrets import Secrets
from .serviceaccounts import ServiceAccounts
from .store import ObjectStore
from .tokens import ServiceAccountVolume, Tokens
from .watches import Watches

DEFAULT_NAMESPACE = "onap"
DEFAULT_SERVICE_ACCOUNT = "kubeconfig-service"


class Cluster:
    """Everything the server knows. Each part guards its own state; stored objects are never
    mutated in place, only replaced."""

    def __init__(self, config: dict, state_dir: Path):
        account = config.get("serviceAccount") or {}
        sa_namespace = account.get("namespace", DEFAULT_NAMESPACE)
        sa_name = account.get("name", DEFAULT_SERVICE_ACCOUNT)
        sa_user = f"system:serviceaccount:{sa_namespace}:{sa_name}"
        base_rules = default_rules(sa_user, sa_namespace) if config.get("defaultRules", True) else []
        self.store = ObjectStore()
        self.watches = Watches(self.store, config.get("watch"))
        self.authn = Authenticator(config.get("identities", {}), api_audiences(config))
        self.authz = Authorizer(base_rules + list(config.get("rules", [])), RBAC(self.store))
        self.faults = Faults()
        self.request_log = RequestLog()
        lifecycle = config.get("namespaceLifecycle", False)
        if not isinstance(lifecycle, bool):
            raise ValueError("namespaceLifecycle must be true or false")
        cluster_id = config.get("clusterId") or str(uuid.uuid4())
        if not isinstance(cluster_id, str):
            raise ValueError("clusterId must be a string (kube-system's uid)")
        self.namespaces = Namespaces(self.store, self.authz, self.watches, lifecycle, {"kube-system": cluster_id})
        self.configmaps = ConfigMaps(self.store, self.authz, self.watches)
        self.secrets = Secrets(self.store, self.authz, self.watches)
        self.service_accounts = ServiceAccounts(self.store, self.authz, self.watches)
        self.roles = Roles(self.store, self.authz, self.watches)
        self.role_bindings = RoleBindings(self.store, self.authz, self.watches)
        self.cluster_roles = ClusterRoles(self.store, self.authz, self.watches)
        self.cluster_role_bindings = ClusterRoleBindings(self.store, self.authz, self.watches)
        namespaced = [self.configmaps, self.secrets, self.service_accounts, self.roles, self.role_bindings]
        for registry in namespaced:
            registry.namespaces = self.namespaces
        self.namespaces.contents = namespaced
        # resource -> registry (the control API), kind -> registry (the config's `objects`)
        self.registries = {registry.resource: registry for registry in
                           [self.namespaces, *namespaced, self.cluster_roles, self.cluster_role_bindings]}
        self.kinds = {registry.kind: registry for registry in self.registries.values()}
        self.authn.account_uid = self.service_accounts.uid
        volume = ServiceAccountVolume(state_dir / "serviceaccount", (state_dir / "ca.crt").read_text(), sa_namespace)
        settings = {"maxExpirationSeconds": config.get("maxTokenExpirationSeconds"),
                    "expiryLeewaySeconds": config.get("tokenExpiryLeewaySeconds", 0)}
        self.tokens = Tokens(self.authn, self.authz, self.service_accounts, sa_namespace, sa_name, volume, settings)
        self.reviews = Reviews(self.authn, self.authz)
        self_subject_reviews = config.get("selfSubjectReview", True)
        discovery = Discovery(self_subject_reviews)
        self.initial_namespaces = list(SYSTEM_NAMESPACES) + list(config.get("namespaces", []))
        self.initial_objects = [(self.configmaps, spec) for spec in config.get("configmaps", [])]
        self.initial_objects += [(self.secrets, spec) for spec in config.get("secrets", [])]
        self.initial_accounts = [{"namespace": sa_namespace, "name": sa_name}] + config.get("serviceAccounts", [])
        self.initial_full_objects = [self.registry_of(obj) for obj in config.get("objects", [])]
        # the namespaces the config's objects are in, made (if missing) with stable uids too
        self.implied_namespaces = sorted(
            {spec.get("namespace", DEFAULT_NAMESPACE) for spec in self.initial_accounts}
            | {spec.get("namespace", DEFAULT_NAMESPACE) for _, spec in self.initial_objects}
            | {obj["metadata"].get("namespace", DEFAULT_NAMESPACE) for registry, obj in self.initial_full_objects
               if registry.namespaced})
        cms, secs, sas, nss = self.configmaps, self.secrets, self.service_accounts, self.namespaces
        rbac = rf"/apis/{re.escape(RBAC_GROUP)}/v1"
        # (path, {method: operation}); an operation takes the Request and the path's groups. A GET
        # on a collection is a list, or with ?watch=true a watch (objects.py, watches.py).
        self.routes = [
            (re.compile(r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)"),
             {"GET": cms.read, "PUT": cms.update, "PATCH": cms.patch, "DELETE": cms.delete}),
            (re.compile(r"/api/v1/namespaces/([^/]+)/configmaps"), {"GET": cms.list, "POST": cms.create}),
            (re.compile(r"/api/v1/configmaps"), {"GET": cms.list}),
            (re.compile(r"/api/v1/namespaces/([^/]+)/secrets/([^/]+)"),
             {"GET": secs.read, "PUT": secs.update, "PATCH": secs.patch, "DELETE": secs.delete}),
            (re.compile(r"/api/v1/namespaces/([^/]+)/secrets"), {"GET": secs.list, "POST": secs.create}),
            (re.compile(r"/api/v1/secrets"), {"GET": secs.list}),
            (re.compile(r"/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)"),
             {"GET": sas.read, "PUT": sas.update, "PATCH": sas.patch, "DELETE": sas.delete}),
            (re.compile(r"/api/v1/namespaces/([^/]+)/serviceaccounts"), {"GET": sas.list, "POST": sas.create}),
            (re.compile(r"/api/v1/serviceaccounts"), {"GET": sas.list}),
            (re.compile(r"/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token"),
             {"POST": self.tokens.request_token}),
            (re.compile(r"/api/v1/namespaces/([^/]+)"), cluster_scoped(
                {"GET": nss.read, "PUT": nss.update, "PATCH": nss.patch, "DELETE": nss.delete})),
            (re.compile(r"/api/v1/namespaces"), cluster_scoped({"GET": nss.list, "POST": nss.create})),
        ]
        for registry in (self.roles, self.role_bindings):
            kind = registry.resource
            self.routes += [
                (re.compile(rf"{rbac}/namespaces/([^/]+)/{kind}/([^/]+)"),
                 {"GET": registry.read, "PUT": registry.update, "PATCH": registry.patch, "DELETE": registry.delete}),
                (re.compile(rf"{rbac}/namespaces/([^/]+)/{kind}"), {"GET": registry.list, "POST": registry.create}),
                (re.compile(rf"{rbac}/{kind}"), {"GET": registry.list}),
            ]
        for registry in (self.cluster_roles, self.cluster_role_bindings):
            kind = registry.resource
            self.routes += [
                (re.compile(rf"{rbac}/{kind}/([^/]+)"), cluster_scoped(
                    {"GET": registry.read, "PUT": registry.update, "PATCH": registry.patch,
                     "DELETE": registry.delete})),
                (re.compile(rf"{rbac}/{kind}"), cluster_scoped({"GET": registry.list, "POST": registry.create})),
            ]
        self.routes += [
            (re.compile(r"/apis/authentication\.k8s\.io/v1/tokenreviews"), {"POST": self.reviews.review_token}),
            (re.compile(r"/apis/authorization\.k8s\.io/v1/subjectaccessreviews"), {"POST": self.reviews.review_access}),
            (re.compile(r"/apis/authorization\.k8s\.io/v1/selfsubjectaccessreviews"),
             {"POST": self.reviews.review_self_access}),
            (re.compile(r"/apis/authorization\.k8s\.io/v1/selfsubjectrulesreviews"),
             {"POST": self.reviews.review_self_rules}),
            (re.compile(r"/(version|api|apis)/?"), {"GET": discovery.get}),
            (re.compile(r"/api/(v1)/?"), {"GET": discovery.get}),
            (re.compile(r"/apis/(authentication\.k8s\.io|authorization\.k8s\.io|rbac\.authorization\.k8s\.io)/v1/?"),
             {"GET": discovery.get}),
            (re.compile(r"/openapi/v3/?"), {"GET": discovery.openapi}),
            (re.compile(r"/openapi/v3/(.+)"), {"GET": discovery.openapi}),
        ]
        if self_subject_reviews:  # served since 1.28; without it, the POST finds no route: 404
            self.routes.append((re.compile(r"/apis/authentication\.k8s\.io/v1/selfsubjectreviews"),
                                {"POST": self.reviews.review_self}))
        self.reset()
        self.tokens.mount()

    def reset(self):
        """Back to the initial objects, token and watch settings; clears faults, the request log and
        run-time identities. Open watches end, and the history starts again after the initial
        objects: a watch from an older resourceVersion gets 410, as from a restored cluster."""
        self.watches.stop_all("end")
        with self.store.lock:
            self.store.clear()
            self.faults.clear()
            self.request_log.clear()
            self.authn.reset()
            self.authz.reset()
            self.tokens.reset()
            for spec in self.initial_namespaces:
                self.namespaces.seed(spec)
            for name in self.implied_namespaces:
                if self.namespaces.get("", name) is None:
                    self.namespaces.seed(name)
            for name, labels, rules in bootstrap_cluster_roles():
                self.cluster_roles.put_raw("", name, {"metadata": {"labels": labels, "annotations": AUTOUPDATE},
                                                      "rules": rules})
            for name, groups in bootstrap_cluster_role_bindings():
                self.cluster_role_bindings.put_raw("", name, {
                    "metadata": {"labels": BOOTSTRAP_LABELS, "annotations": AUTOUPDATE},
                    "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": name},
                    "subjects": [{"kind": "Group", "apiGroup": RBAC_GROUP, "name": group} for group in groups]})
            for spec in self.initial_accounts:
                self.service_accounts.seed(spec.get("namespace", DEFAULT_NAMESPACE), spec["name"], control_object(spec))
            for resource, spec in self.initial_objects:
                resource.put_raw(spec.get("namespace", DEFAULT_NAMESPACE), spec["name"], control_object(spec))
            for registry, obj in self.initial_full_objects:
                meta = obj["metadata"]
                if registry is self.namespaces:
                    self.namespaces.seed({"name": meta["name"], **{key: meta[key] for key in
                                                                   ("labels", "annotations", "uid") if key in meta}})
                elif registry is self.service_accounts:
                    self.service_accounts.seed(meta.get("namespace", DEFAULT_NAMESPACE), meta["name"], obj)
                else:
                    registry.put_raw(meta.get("namespace", DEFAULT_NAMESPACE) if registry.namespaced else "",
                                     meta["name"], obj)
            self.watches.restart()
            self.store.compact()

    def registry_of(self, obj):
        """(registry, object) for an entry of the config's `objects`: a whole object of a kind kept here."""
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
            raise ValueError("each of objects must be an object with kind and metadata.name")
        if obj.get("kind") not in self.kinds:
            raise ValueError(f"objects: this server does not keep kind {obj.get('kind')!r}")
        return self.kinds[obj["kind"]], obj

    def add_identity(self, spec):
        """A run-time identity (dropped by reset); its rules apply to its username."""
        token = spec.get("token") or secrets.token_urlsafe(32)
        identity = {"username": spec["username"], "uid": spec.get("uid") or str(uuid.uuid4()),
                    "groups": list(spec.get("groups") or ["system:authenticated"])}
        if spec.get("extra"):
            identity["extra"] = {key: list(values) for key, values in spec["extra"].items()}
        self.authn.register(token, identity, runtime=True)
        self.authz.add_rules([{"user": spec["username"], **rule} for rule in spec.get("rules", [])])
        return token


def api_audiences(config):
    """`apiAudiences` (kube-apiserver's `--api-audiences`): a non-empty list of non-empty strings;
    absent, the issuer (authn.API_AUDIENCES)."""
    audiences = config.get("apiAudiences")
    if audiences is None:
        return None
    if not isinstance(audiences, list) or not audiences or not all(isinstance(a, str) and a for a in audiences):
        raise ValueError("apiAudiences must be a non-empty list of non-empty strings")
    return audiences


def cluster_scoped(operations):
    """The operations of a cluster-scoped resource, whose paths have no namespace: called with ""."""
    return {method: (lambda operation: lambda req, *groups: operation(req, "", *groups))(operation)
            for method, operation in operations.items()}


def control_object(spec):
    """An object body from a config or control-API entry: labels and annotations at the top, as
    {"data": ..., "labels": ...}, moved into metadata."""
    meta = {key: spec[key] for key in ("labels", "annotations") if key in spec}
    return {"metadata": meta, **{key: value for key, value in spec.items()
                                 if key not in ("labels", "annotations", "namespace", "name", "metadata")}}
