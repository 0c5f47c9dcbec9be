"""Objects kept whole in the store: what ConfigMaps, Secrets, ServiceAccounts, Namespaces and the
RBAC kinds share, namespaced or cluster-scoped.

kube-apiserver runs every such resource through one generic registry (apiserver's
`registry/generic/registry.Store` and `endpoints/handlers`): the same name checks, metadata,
resourceVersion preconditions, patch types, AlreadyExists and NotFound answers (with the
resource's group: `roles.rbac.authorization.k8s.io "x" not found`). `StoredObjects` is that
registry here; a resource module (configmaps.py, secrets.py, serviceaccounts.py, namespaces.py,
rbacobjects.py) says how a body becomes its object (`build`), how it is validated (`validate`),
what admission it has (`admit`) and which fields are its content.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid

import yaml

from .authz import Authorizer
from .listoptions import EXACT, ListOptions, Selection, go_bool
from .patch import (APPLY_PATCH, JSON_PATCH, PATCH_TYPES, STRATEGIC_PATCH, JSONPatchError, json_patch, merge_patch,
                    strategic_merge_patch)
from .request import media_type, parse_object, rfc3339
from .status import APIError, already_exists, bad_request, conflict, invalid, not_found, unsupported_media_type
from .store import ObjectStore, TooOld, storage_key
from .watches import Watches, too_large

# etcd3 store's answers when a list's resourceVersion or continue token is older than the history
LIST_EXPIRED = "The resourceVersion for the provided list is too old."
CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can start a "
                    "new list without the continue parameter, or use the continue token in this response to retrieve "
                    "the remainder of the results. Continuing with the provided token results in an inconsistent list "
                    "- objects that were created, modified, or deleted between the time the first chunk was returned "
                    "and now may show up in the list.")

MAX_DATA_BYTES = 1024 * 1024  # core.MaxSecretSize: ConfigMaps and Secrets alike
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
TOO_LONG = f"Too long: may not be more than {MAX_DATA_BYTES} bytes"  # field.TooLong, v1.32 wording


# MARK: - Decoding and validation


class ShapeError(ValueError):
    """A body that does not decode into the object (a field of the wrong JSON type, bad base64)."""


def string_map(parent, field, kind):
    """`parent[field]` as a {str: str} map (None when absent), or the decoder's ShapeError."""
    value = parent.get(field)
    if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
        raise ShapeError(f"json: cannot unmarshal into Go struct field {kind}.{field} of type map[string]string")
    return value


BASE64 = {byte: index for index, byte in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}
NEWLINES = b"\r\n"


def go_base64(text):
    """The bytes of a JSON []byte field, decoded as Go's base64.StdEncoding does (padding required,
    CR and LF skipped); a failure is the ShapeError Go reports, with the same input byte offset."""
    src, out, si = text.encode(), bytearray(), 0
    while si < len(src):
        quantum, pad_at, garbage_at = [], None, None
        while len(quantum) < 4 and pad_at is None:
            if si == len(src):
                if not quantum:
                    return bytes(out)
                raise ShapeError(f"illegal base64 data at input byte {si - len(quantum)}")
            byte, si = src[si], si + 1
            if byte in BASE64:
                quantum.append(BASE64[byte])
            elif byte in NEWLINES:
                continue
            elif byte != ord("=") or len(quantum) < 2:
                raise ShapeError(f"illegal base64 data at input byte {si - 1}")
            else:
                if len(quantum) == 2:  # "==" expected: the second one, after any newlines
                    while si < len(src) and src[si] in NEWLINES:
                        si += 1
                    if si == len(src):
                        raise ShapeError(f"illegal base64 data at input byte {len(src)}")
                    if src[si] != ord("="):
                        raise ShapeError(f"illegal base64 data at input byte {si - 1}")
                    si += 1
                while si < len(src) and src[si] in NEWLINES:
                    si += 1
                pad_at, garbage_at = len(quantum), si if si < len(src) else None
        value = 0
        for sextet in quantum + [0] * (4 - len(quantum)):
            value = value << 6 | sextet
        out += value.to_bytes(3, "big")[:len(quantum) - 1]
        if garbage_at is not None:
            raise ShapeError(f"illegal base64 data at input byte {garbage_at}")
    return bytes(out)


def object_skeleton(kind, namespace, name, source, previous, api_version="v1"):
    """kind, apiVersion and metadata (labels and annotations from `source`), keeping the identity
    (uid, resourceVersion, creationTimestamp) of `previous`. A cluster-scoped object (namespace
    "") has no metadata.namespace, as Go's omitempty leaves it out."""
    meta = source.get("metadata") or {}
    obj = {"kind": kind, "apiVersion": api_version, "metadata": {
        "name": name, **({"namespace": namespace} if namespace else {}),
        "uid": previous["metadata"]["uid"] if previous else str(uuid.uuid4()),
        "resourceVersion": previous["metadata"]["resourceVersion"] if previous else "",
        "creationTimestamp": previous["metadata"]["creationTimestamp"] if previous else rfc3339()}}
    for field in ("labels", "annotations"):
        if string_map(meta, field, "ObjectMeta"):
            obj["metadata"][field] = dict(meta[field])
    return obj


def name_problems(name):
    """NameIsDNSSubdomain, as ValidateObjectMeta reports it on create."""
    if len(name) <= 253 and DNS_SUBDOMAIN.fullmatch(name):
        return []
    return [("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must '
             "consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
             f"character (e.g. 'example.com', regex used for validation is '{DNS_SUBDOMAIN.pattern}')")]


def key_problems(field, keys):
    """IsConfigMapKey for each key of `field` (ConfigMap data and binaryData, Secret data)."""
    causes = []
    for key in keys:
        problem = config_key_problem(key)
        if problem:
            causes.append(("FieldValueInvalid", f"{field}[{key}]", f'Invalid value: "{key}": {problem}'))
    return causes


def config_key_problem(key):
    if len(key) > 253:
        return "must be no more than 253 characters"
    if not CONFIG_KEY.fullmatch(key):
        return ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
    if key in (".", "..") or key.startswith(".."):
        return f"must not be '{key}'" if key in (".", "..") else "must not start with '..'"
    return None


def without_type(obj):
    """List items carry no kind/apiVersion, as in kube-apiserver's typed lists."""
    return {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}


def encode_continue(resource_version, start):
    """storage.EncodeContinue: base64url (no padding) of {"v","rv","start"}; `start` is the key
    after the page's last one. Clients treat it as opaque."""
    token = json.dumps({"v": "meta.k8s.io/v1", "rv": resource_version, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def decode_continue(token):
    """(resourceVersion, start key) of a continue token; 400 when it is not one."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded.get("v") != "meta.k8s.io/v1":
            raise ValueError(f"incorrect encoded start resourceVersion (version {decoded.get('v')})")
        resource_version, start = decoded["rv"], decoded["start"]
        if not isinstance(resource_version, int) or not isinstance(start, str) or not start:
            raise ValueError("continue key is not valid")
        return resource_version, start
    except (ValueError, KeyError, AttributeError, binascii.Error) as error:
        raise bad_request(f"invalid continue token: {error}")


# MARK: - The generic registry


class StoredObjects:
    """The operations on one resource; each authorises its request first. A subclass sets the
    class attributes, `build` and `validate`, and may add admission (`admit`).

    A write goes as through kube-apiserver's create and update handlers and the generic
    registry: authorisation (403), decoding (`build`: 400), admission (`admit`: the
    NamespaceLifecycle 404 of namespaces.py, RBAC's escalation check in rbacobjects.py), then
    validation (`validate`: 422), then the store (404, 409 AlreadyExists or Conflict)."""

    resource = ""  # "configmaps": the URL segment, RBAC resource and Status details kind
    kind = ""  # "ConfigMap"
    group = ""  # the API group: "" for the core group, "rbac.authorization.k8s.io", ...
    namespaced = True  # False: cluster-scoped (Namespaces, ClusterRoles, ...), kept under namespace ""
    content = ()  # top-level fields that, with labels and annotations, make a write a change
    returns_deleted_object = False  # the registry's ReturnDeletedObject: a DELETE answers the object
    field_labels = None  # the kind's field label conversion; None: runtime.DefaultMetaV1FieldSelectorConversion

    def __init__(self, store: ObjectStore, authz: Authorizer, watches: Watches | None = None):
        self.store, self.authz = store, authz
        self.watches = watches or Watches(store)
        self.namespaces = None  # namespaces.Namespaces: NamespaceLifecycle admission (cluster.py wires it)

    @property
    def api_version(self):
        return f"{self.group}/v1" if self.group else "v1"

    def build(self, namespace, name, source, previous):
        """The object a body (or a patched object) makes, keeping the identity of `previous`;
        raises ShapeError when the body does not decode."""
        raise NotImplementedError

    def validate(self, obj, previous, check_name=False):
        """The kind's validation (a 422 APIError); `check_name` on create (ValidateObjectMeta)."""
        causes = name_problems(obj["metadata"]["name"]) if check_name else []
        if causes:
            raise invalid(self.kind, self.group, obj["metadata"]["name"], causes)

    def admit(self, req, namespace, name, obj, previous):
        """Admission, between decoding and validation: NamespaceLifecycle refuses a create in a
        namespace that does not exist (when the config turns it on)."""
        if previous is None and self.namespaced and self.namespaces is not None:
            self.namespaces.admit_create(namespace)

    def authz_namespace(self, namespace, name):
        """The namespace requestInfo gives a request (namespaces.py: a namespace's own)."""
        return namespace

    def skeleton(self, namespace, name, source, previous):
        return object_skeleton(self.kind, namespace if self.namespaced else "", name, source, previous,
                               self.api_version)

    def get(self, namespace, name):
        return self.store.get(self.resource, namespace, name)

    def put_raw(self, namespace, name, source):
        """A control-API or config write: validated but neither authorised nor admitted, and
        always a new resourceVersion. Its namespace is created if missing (namespaces.py)."""
        with self.store.lock:
            if self.namespaced and self.namespaces is not None:
                self.namespaces.ensure(namespace)
            current = self.get(namespace, name)
            obj = self.build(namespace, name, source, current)
            self.validate(obj, current, check_name=True)
            return self.store.put(self.resource, obj)

    def same_content(self, a, b):
        meta = ("labels", "annotations")
        return (all(a.get(key) == b.get(key) for key in self.content)
                and all(a["metadata"].get(key) == b["metadata"].get(key) for key in meta))

    def save_if_changed(self, current, candidate):
        """kube-apiserver skips writes that change nothing: same object, same resourceVersion."""
        return current if current and self.same_content(current, candidate) else self.store.put(self.resource, candidate)

    def _authorize(self, req, verb, namespace, name):
        self.authz.authorize(req.user, verb, self.resource, self.authz_namespace(namespace, name), name,
                             group=self.group)

    # MARK: - Operations (the routes)

    def read(self, req, namespace, name):
        self._authorize(req, "get", namespace, name)
        obj = self.get(namespace, name)
        if obj is None:
            raise not_found(self.resource, name, self.group)
        return 200, obj

    def list(self, req, namespace=""):
        """GET on the collection: a list, or (watch=true) a WatchStream, which the server streams.
        In handlers/get.go's order: RBAC (verb list or watch, and the name a metadata.name field
        selector asks for), decoding (400), ValidateListOptions (422), the field labels (400)."""
        verb = "watch" if go_bool(req.query.get("watch")) else "list"
        # the URL's namespace, even for namespaces (a name from the field selector is not one)
        self.authz.authorize(req.user, verb, self.resource, namespace, ListOptions.requested_name(req.query),
                             group=self.group)
        options = ListOptions.decode(req.query)
        watch_list = self.watches.setting("watchList")
        options.apply_defaults(watch_list)
        options.validate(watch_list)
        selection = Selection(namespace, options, self.field_labels)
        if options.watch:
            return 200, self.watches.start(self, req, namespace, selection, options)
        return 200, self._list(namespace, selection, options)

    def _list(self, namespace, selection, options):
        """The list: "" and "0" the current state (the watch cache serves "0" whole, ignoring
        limit), R at least that new (waiting a little for a newer one, then 504), Exact the state
        at R, a continue token the state at its resourceVersion; pages of `limit` in key order."""
        requested = options.numeric_resource_version(self.resource)
        limit = options.limit if options.limit > 0 and options.resource_version != "0" else 0
        start = ""
        with self.store.lock:
            if options.continue_token:
                if options.resource_version not in ("", "0"):
                    raise bad_request("specifying resource version is not allowed when using continue")
                at, start = decode_continue(options.continue_token)
                at = self.store.resource_version if at < 0 else at
                try:
                    objects = self.store.items_at(self.resource, namespace, at)
                except TooOld:
                    error = APIError(410, "Expired", CONTINUE_EXPIRED)
                    error.list_meta = {"continue": encode_continue(-1, start)}
                    raise error
            elif options.resource_version_match == EXACT:
                if requested > self.store.resource_version:
                    raise too_large(requested, self.store.resource_version)
                try:
                    objects, at = self.store.items_at(self.resource, namespace, requested), requested
                except TooOld:
                    raise APIError(410, "Expired", LIST_EXPIRED)
            else:
                if requested > self.store.resource_version and not self.store.wait_for(
                        requested, self.watches.setting("resourceVersionWaitSeconds")):
                    raise too_large(requested, self.store.resource_version)
                objects, at = self.store.items(self.resource, namespace)
        selected = [obj for obj in objects if selection.matches(obj) and storage_key(obj) >= start]
        page = selected[:limit] if limit else selected
        meta = {"resourceVersion": str(at)}
        if len(page) < len(selected):
            meta["continue"] = encode_continue(int(at), storage_key(page[-1]) + "\x00")
            if selection.empty:
                meta["remainingItemCount"] = len(selected) - len(page)
        return {"kind": f"{self.kind}List", "apiVersion": self.api_version, "metadata": meta,
                "items": [without_type(obj) for obj in page]}

    def create(self, req, namespace=""):
        self._authorize(req, "create", namespace, "")
        body = parse_object(req)
        meta = body.get("metadata") or {}
        if not isinstance(meta, dict):
            raise bad_request(f'{self.kind} in version "v1" cannot be handled as a {self.kind}: json: cannot '
                              f"unmarshal into Go struct field {self.kind}.metadata of type v1.ObjectMeta")
        if self.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        name = meta.get("name") or (meta["generateName"] + secrets.token_hex(3)[:5] if meta.get("generateName") else "")
        candidate = self._decode(namespace, name, body, None)
        self.admit(req, namespace, name, candidate, None)
        if not name:
            raise invalid(self.kind, self.group, "", [("FieldValueRequired", "metadata.name",
                                                       "Required value: name or generateName is required")])
        self.validate(candidate, None, check_name=True)
        with self.store.lock:
            if self.get(namespace, name) is not None:
                raise already_exists(self.resource, name, self.group)
            return 201, self.store.put(self.resource, candidate)

    def update(self, req, namespace, name):
        self._authorize(req, "update", namespace, name)
        body = parse_object(req)
        meta = body.get("metadata") or {}
        if meta.get("name", "") != name:
            raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name on the URL "
                              f"({name})")
        if self.namespaced and meta.get("namespace") not in (None, "", namespace):
            raise bad_request(f"the namespace of the provided object ({meta['namespace']}) does not match the "
                              f"namespace sent on the request ({namespace})")
        with self.store.lock:
            current = self.get(namespace, name)
            if current is None:  # none of these kinds allows create-on-update
                raise not_found(self.resource, name, self.group)
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict(self.resource, name, group=self.group)
            candidate = self._decode(namespace, name, body, current)
            self.admit(req, namespace, name, candidate, current)
            self.validate(candidate, current)
            return 200, self.save_if_changed(current, candidate)

    def patch(self, req, namespace, name):
        self._authorize(req, "patch", namespace, name)
        kind = media_type(req.content_type)
        if kind not in PATCH_TYPES:
            raise unsupported_media_type(PATCH_TYPES)
        if kind == APPLY_PATCH and not req.param("fieldManager"):
            raise invalid("PatchOptions", "meta.k8s.io", "", [("FieldValueRequired", "fieldManager",
                                                              "Required value: is required for apply patch")])
        patch = self._decode_patch(kind, req.body)
        with self.store.lock:
            current = self.get(namespace, name)
            if current is None and kind != APPLY_PATCH:
                raise not_found(self.resource, name, self.group)
            if current is None:  # server-side apply creates, which needs create permission too
                self._authorize(req, "create", namespace, name)
                skeleton = {"metadata": {"name": name, **({"namespace": namespace} if self.namespaced else {})}}
                created = self._decode(namespace, name, merge_patch(skeleton, patch), None)
                self.admit(req, namespace, name, created, None)
                self.validate(created, None, check_name=True)
                return 201, self.store.put(self.resource, created)
            patched = self._apply_patch(kind, current, patch)
            meta = patched.get("metadata") if isinstance(patched, dict) else None
            if not isinstance(meta, dict) or meta.get("name") != name:
                found = meta.get("name") if isinstance(meta, dict) else None
                raise invalid(self.kind, self.group, name, [("FieldValueInvalid", "metadata.name",
                                                             f'Invalid value: "{found}": field is immutable')])
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict(self.resource, name, group=self.group)  # a resourceVersion in the patch is a precondition
            try:
                candidate = self.build(namespace, name, patched, current)
            except ShapeError as error:
                # patch.go: the patched object does not decode: 422 on the field "patch", whose value
                # is the patched JSON (a map, so Go marshals it with sorted keys)
                document = json.dumps(json.dumps(patched, sort_keys=True, separators=(",", ":")), ensure_ascii=False)
                raise invalid("", "", "", [("FieldValueInvalid", "patch", f"Invalid value: {document}: {error}")])
            self.admit(req, namespace, name, candidate, current)
            self.validate(candidate, current)
            return 200, self.save_if_changed(current, candidate)

    def delete(self, req, namespace, name):
        self._authorize(req, "delete", namespace, name)
        options = parse_object(req) if req.body.strip() else {}
        with self.store.lock:
            current = self.current_for_delete(namespace, name, options)
            self.store.delete(self.resource, namespace, name)
        return 200, self.deleted_answer(current)

    # MARK: - Helpers

    def current_for_delete(self, namespace, name, options):
        """The object a DELETE removes: 404 when missing, 409 when its preconditions fail."""
        preconditions = options.get("preconditions") or {}
        current = self.get(namespace, name)
        if current is None:
            raise not_found(self.resource, name, self.group)
        meta = current["metadata"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if preconditions.get(field) and preconditions[field] != meta[field]:
                raise conflict(self.resource, name, f"Precondition failed: {label} in precondition: "
                                                    f"{preconditions[field]}, {label} in object meta: {meta[field]}",
                               group=self.group)
        return current

    def deleted_answer(self, current):
        """The object (ReturnDeletedObject), or the Success Status the registry answers."""
        if self.returns_deleted_object:
            return current
        meta = current["metadata"]
        details = {"name": meta["name"], **({"group": self.group} if self.group else {}), "kind": self.resource,
                   "uid": meta["uid"]}
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _decode(self, namespace, name, body, previous):
        try:
            return self.build(namespace, name, body, previous)
        except ShapeError as error:
            raise bad_request(f'{self.kind} in version "v1" cannot be handled as a {self.kind}: {error}')

    @staticmethod
    def _apply_patch(kind, current, patch):
        if kind == JSON_PATCH:
            try:
                return json_patch(current, patch)
            except JSONPatchError:  # patch.go: NewGenericServerResponse(422, ...), without the error text
                raise APIError(422, "Invalid", "the server rejected our request due to an error in our request", {})
        return (strategic_merge_patch if kind == STRATEGIC_PATCH else merge_patch)(current, patch)

    @staticmethod
    def _decode_patch(kind, body):
        try:
            patch = yaml.safe_load(body) if kind == APPLY_PATCH else json.loads(body)
        except (ValueError, yaml.YAMLError) as error:
            raise bad_request(f"error decoding patch: {error}")
        expected = list if kind == JSON_PATCH else dict
        if not isinstance(patch, expected):
            raise bad_request(f"error decoding patch: expected a JSON {'array' if expected is list else 'object'}")
        return patch
