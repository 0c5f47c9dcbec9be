"""The cluster: its parts (objects, authentication, authorisation, service accounts, faults and
the request log), put together from the config file, and the URL table of the API.

A new resource or review gets a module of its own and one line in `routes`.
"""

from __future__ import annotations

import re
import secrets
import uuid
from pathlib import Path

from .authn import Authenticator
from .authz import Authorizer, default_rules
from .configmaps import ConfigMaps
from .discovery import discovery
from .faults import Faults
from .requestlog import RequestLog
from .reviews import Reviews
from .store import ObjectStore
from .tokens import ServiceAccounts, ServiceAccountVolume

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
        self.authn = Authenticator(config.get("identities", {}))
        self.authz = Authorizer(base_rules + list(config.get("rules", [])))
        self.faults = Faults()
        self.request_log = RequestLog()
        volume = ServiceAccountVolume(state_dir / "serviceaccount", (state_dir / "ca.crt").read_text(), sa_namespace)
        self.service_accounts = ServiceAccounts(self.authn, self.authz, sa_namespace, sa_name, volume)
        self.configmaps = ConfigMaps(self.store, self.authz)
        self.reviews = Reviews(self.authn, self.authz)
        self.initial_configmaps = config.get("configmaps", [])
        # (path, {method: operation}); an operation takes the Request and the path's groups.
        self.routes = [
            (re.compile(r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)"),
             {"GET": self.configmaps.get_configmap, "PUT": self.configmaps.update_configmap,
              "PATCH": self.configmaps.patch_configmap, "DELETE": self.configmaps.delete_configmap}),
            (re.compile(r"/api/v1/namespaces/([^/]+)/configmaps"),
             {"GET": self.configmaps.list_configmaps, "POST": self.configmaps.create_configmap}),
            (re.compile(r"/api/v1/configmaps"), {"GET": self.configmaps.list_configmaps}),
            (re.compile(r"/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token"),
             {"POST": self.service_accounts.request_token}),
            (re.compile(r"/apis/authentication\.k8s\.io/v1/tokenreviews"), {"POST": self.reviews.review_token}),
            (re.compile(r"/apis/authorization\.k8s\.io/v1/subjectaccessreviews"), {"POST": self.reviews.review_access}),
            (re.compile(r"/(version|api|apis)/?"), {"GET": discovery}),
            (re.compile(r"/api/(v1)/?"), {"GET": discovery}),
            (re.compile(r"/apis/(authentication\.k8s\.io|authorization\.k8s\.io)/v1/?"), {"GET": discovery}),
        ]
        self.reset()

    def reset(self):
        """Back to the initial objects; clears faults, the request log and run-time identities."""
        with self.store.lock:
            self.store.clear()
            self.faults.clear()
            self.request_log.clear()
            self.authn.reset()
            self.authz.reset()
            for spec in self.initial_configmaps:
                self.configmaps.put_raw(spec.get("namespace", DEFAULT_NAMESPACE), spec["name"], spec)

    def add_identity(self, spec):
        """A run-time identity (dropped by reset); its rules apply to its username."""
        token = spec.get("token") or secrets.token_urlsafe(32)
        identity = {"username": spec["username"], "uid": spec.get("uid") or str(uuid.uuid4()),
                    "groups": list(spec.get("groups") or ["system:authenticated"])}
        self.authn.register(token, identity, runtime=True)
        self.authz.add_rules([{"user": spec["username"], **rule} for rule in spec.get("rules", [])])
        return token
