"""Namespaces (core v1, cluster-scoped): get, list, watch, create, update, patch and delete through
the shared registry (objects.py), as pkg/registry/core/namespace keeps them, and the
NamespaceLifecycle admission plugin (apiserver's admission/plugin/namespace/lifecycle).

- A namespace has the label `kubernetes.io/metadata.name: <name>` (v1 defaulting, always reset),
  `spec.finalizers: [kubernetes]` and `status.phase: Active`; updates change only its metadata
  (the strategy keeps spec and status).
- requestInfo takes `/api/v1/namespaces/{name}` to be in namespace `name`, so RBAC checks a get,
  update, patch or delete of a namespace in that namespace: a RoleBinding there may allow it.
- DELETE answers the namespace as the registry leaves it (`deletionTimestamp`, phase
  `Terminating`), then does the namespace controller's work at once: every object in it goes
  (its ServiceAccounts' tokens die with them), then the namespace (watchers see MODIFIED, the
  contents' DELETED, then DELETED).
- With `namespaceLifecycle` on, a create in a namespace that does not exist is the 404
  `namespaces "x" not found` (the admission's live lookup), and `default`, `kube-system` and
  `kube-public` may not be deleted (403 `this namespace may not be deleted`). Off (the default), as
  with `--disable-admission-plugins=NamespaceLifecycle`, objects may be created in namespaces
  that do not exist, as before namespaces were objects here.

`default`, `kube-system`, `kube-public` and `kube-node-lease` exist from the start, with the
config's `namespaces`, and each namespace that the config's and the control API's objects name
(created then if missing). A reset makes them again with the same uids; `kube-system`'s uid is the
cluster's id (`clusterId` in the config).
"""

from __future__ import annotations

import re
import uuid

from .objects import ShapeError, StoredObjects, string_map
from .request import parse_object, rfc3339
from .status import forbidden_because, invalid, not_found

RESOURCE = "namespaces"
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
IMMORTAL = ("default", "kube-system", "kube-public")  # the lifecycle plugin's immortalNamespaces
NAME_LABEL = "kubernetes.io/metadata.name"  # v1.LabelMetadataName
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
ACTIVE, TERMINATING = "Active", "Terminating"


def label_problems(name):
    """ValidateNamespaceName (NameIsDNSLabel)."""
    if len(name) > 63:
        return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": must be no more than 63 characters')]
    if DNS_LABEL.fullmatch(name):
        return []
    return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 label must consist '
             "of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character "
             f"(e.g. 'my-name',  or '123-abc', regex used for validation is '{DNS_LABEL.pattern}')")]


class Namespaces(StoredObjects):
    resource, kind, namespaced = RESOURCE, "Namespace", False
    field_labels = ("status.phase", "metadata.name")  # AddFieldLabelConversionsForNamespace
    returns_deleted_object = True  # the namespace REST answers the namespace, Terminating

    def __init__(self, store, authz, watches=None, lifecycle=False, uids=None):
        super().__init__(store, authz, watches)
        self.lifecycle = lifecycle  # NamespaceLifecycle admission: on or off
        self.contents: list[StoredObjects] = []  # the namespaced registries (cluster.py wires them)
        self._initial_uids = dict(uids or {})  # name -> uid: the same across resets

    def authz_namespace(self, namespace, name):
        return name

    def build(self, namespace, name, source, previous):
        obj = self.skeleton("", name, source, previous)
        if name:  # SetDefaults_Namespace (the strategy's Canonicalize for generateName)
            obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), NAME_LABEL: name}
        if previous:  # PrepareForUpdate: spec and status stay
            obj["spec"], obj["status"] = previous["spec"], previous["status"]
            return obj
        spec = source.get("spec") or {}
        if not isinstance(spec, dict):
            raise ShapeError("json: cannot unmarshal into Go struct field Namespace.spec of type v1.NamespaceSpec")
        finalizers = spec.get("finalizers") or []
        if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
            raise ShapeError("json: cannot unmarshal into Go struct field NamespaceSpec.spec.finalizers of type "
                             "[]v1.FinalizerName")
        obj["spec"] = {"finalizers": finalizers if "kubernetes" in finalizers else finalizers + ["kubernetes"]}
        obj["status"] = {"phase": ACTIVE}  # PrepareForCreate
        return obj

    def validate(self, obj, previous, check_name=False):
        name = obj["metadata"]["name"]
        causes = label_problems(name) if check_name else []
        if causes:
            raise invalid(self.kind, "", name, causes)

    # MARK: - NamespaceLifecycle and the namespaces objects imply

    def admit_create(self, namespace):
        """NamespaceLifecycle for a create in `namespace`: 404 when it does not exist (its live
        lookup's NotFound). The other registries call this from their `admit`."""
        if self.lifecycle and namespace and self.get("", namespace) is None:
            raise not_found(RESOURCE, namespace)

    def ensure(self, name):
        """Creates the namespace if missing (for an object the control API puts in it); returns it."""
        with self.store.lock:
            found = self.get("", name)
            if found is not None:
                return found
            obj = self.build("", name, {"metadata": {}}, None)
            self.validate(obj, None, check_name=True)
            return self.store.put(self.resource, obj)

    def seed(self, spec):
        """A namespace of the config (a name, or {name, labels?, annotations?, uid?}), a system
        one, or one the config's objects are in: the same uid after every reset."""
        spec = {"name": spec} if isinstance(spec, str) else spec
        name = spec["name"]
        if spec.get("uid"):
            self._initial_uids[name] = spec["uid"]
        meta = {key: spec[key] for key in ("labels", "annotations") if key in spec}
        string_map(meta, "labels", "ObjectMeta")
        obj = self.build("", name, {"metadata": meta}, None)
        self.validate(obj, None, check_name=True)
        obj["metadata"]["uid"] = self._initial_uids.setdefault(name, str(uuid.uuid4()))
        with self.store.lock:
            return self.store.put(self.resource, obj)

    # MARK: - DELETE

    def delete(self, req, namespace, name):
        """The registry marks the namespace Terminating and answers it; the namespace controller
        then empties it and the finalizer goes; here all of that happens before the answer."""
        self._authorize(req, "delete", "", name)
        options = parse_object(req) if req.body.strip() else {}
        if self.lifecycle and name in IMMORTAL:
            raise forbidden_because(RESOURCE, "", name, "this namespace may not be deleted")
        with self.store.lock:
            current = self.current_for_delete("", name, options)
            meta = {**current["metadata"], "deletionTimestamp": rfc3339()}
            terminating = self.store.put(self.resource, {**current, "metadata": meta,
                                                         "status": {**current["status"], "phase": TERMINATING}})
            self.remove_contents(name)
            self.store.delete(self.resource, "", name)
        return 200, terminating

    def remove_contents(self, name):
        """The namespace controller's work for a namespace removed through the control API."""
        with self.store.lock:
            for registry in self.contents:
                for obj in self.store.items(registry.resource, name)[0]:
                    self.store.delete(registry.resource, name, obj["metadata"]["name"])
