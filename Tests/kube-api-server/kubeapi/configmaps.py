"""ConfigMaps: decoding and validation as kube-apiserver does them, and the API operations (get,
list, create, update, patch, delete) over the object store. Secrets would sit beside this file,
over the same store, patches and preconditions."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid

import yaml

from .authz import Authorizer
from .patch import (APPLY_PATCH, JSON_PATCH, PATCH_TYPES, STRATEGIC_PATCH, JSONPatchError, json_patch, merge_patch,
                    strategic_merge_patch)
from .request import media_type, parse_object, rfc3339
from .status import APIError, already_exists, bad_request, conflict, invalid, not_found, unsupported_media_type
from .store import ObjectStore

RESOURCE = "configmaps"
CONFIGMAP_PATH = re.compile(r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)")
MAX_CONFIGMAP_BYTES = 1024 * 1024  # core.MaxSecretSize, summed over the values of data and binaryData
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


# MARK: - Decoding and validation


class ShapeError(ValueError):
    """A body that does not decode into a ConfigMap (a field of the wrong JSON type)."""


def configmap_from(namespace, name, source, previous, check_name=False):
    """A ConfigMap built from a request body (or patched object), keeping the identity of
    `previous`; raises ShapeError or a 422 APIError as kube-apiserver's decoder and validation do."""
    meta = source.get("metadata") or {}
    for parent, field in ((source, "data"), (source, "binaryData"), (meta, "labels"), (meta, "annotations")):
        value = parent.get(field)
        if value is not None and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            raise ShapeError(f"json: cannot unmarshal into Go struct field ConfigMap.{field} of type "
                             "map[string]string")
    obj = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {
        "name": name, "namespace": namespace,
        "uid": previous["metadata"]["uid"] if previous else str(uuid.uuid4()),
        "resourceVersion": previous["metadata"]["resourceVersion"] if previous else "",
        "creationTimestamp": previous["metadata"]["creationTimestamp"] if previous else rfc3339()}}
    for field in ("labels", "annotations"):
        if meta.get(field):
            obj["metadata"][field] = dict(meta[field])
    for field in ("data", "binaryData"):
        if source.get(field):
            obj[field] = dict(source[field])
    causes = configmap_problems(obj, check_name)
    if causes:
        raise invalid("ConfigMap", "", name, causes)
    return obj


def configmap_problems(obj, check_name):
    """ValidateConfigMap: name, key syntax and the 1 MiB limit over the values."""
    causes, total = [], 0
    name = obj["metadata"]["name"]
    if check_name and not (len(name) <= 253 and DNS_SUBDOMAIN.fullmatch(name)):
        causes.append(("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain '
                       "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
                       "alphanumeric character (e.g. 'example.com', regex used for validation is "
                       f"'{DNS_SUBDOMAIN.pattern}')"))
    for field in ("data", "binaryData"):
        for key, value in (obj.get(field) or {}).items():
            problem = config_key_problem(key)
            if problem:
                causes.append(("FieldValueInvalid", f"{field}[{key}]", f'Invalid value: "{key}": {problem}'))
            if field == "binaryData":
                try:
                    total += len(base64.b64decode(value, validate=True))
                except binascii.Error:
                    causes.append(("FieldValueInvalid", f"binaryData[{key}]", "Invalid value: illegal base64 data"))
            else:
                total += len(value.encode())
    if total > MAX_CONFIGMAP_BYTES:
        causes.append(("FieldValueTooLong", "[]", f"Too long: may not be more than {MAX_CONFIGMAP_BYTES} bytes"))
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


def same_content(a, b):
    keys = ("data", "binaryData")
    meta = ("labels", "annotations")
    return all(a.get(k) == b.get(k) for k in keys) and all(a["metadata"].get(k) == b["metadata"].get(k) for k in meta)


def without_type(obj):
    """List items carry no kind/apiVersion, as in kube-apiserver's typed lists."""
    return {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}


# MARK: - API operations


class ConfigMaps:
    """The ConfigMap operations; each authorises its request first."""

    def __init__(self, store: ObjectStore, authz: Authorizer):
        self.store, self.authz = store, authz

    def get(self, namespace, name):
        return self.store.get(RESOURCE, namespace, name)

    def put_raw(self, namespace, name, spec):
        """A control-API write: validated but not authorised, and always a new resourceVersion."""
        source = {"metadata": {key: spec[key] for key in ("labels", "annotations") if key in spec},
                  **{key: spec[key] for key in ("data", "binaryData") if key in spec}}
        with self.store.lock:
            current = self.get(namespace, name)
            return self.store.put(RESOURCE, configmap_from(namespace, name, source, current, check_name=True))

    def save_if_changed(self, current, candidate):
        """kube-apiserver skips writes that change nothing: same object, same resourceVersion."""
        return current if current and same_content(current, candidate) else self.store.put(RESOURCE, candidate)

    def get_configmap(self, req, namespace, name):
        self.authz.authorize(req.user, "get", RESOURCE, namespace, name)
        obj = self.get(namespace, name)
        if obj is None:
            raise not_found(RESOURCE, name)
        return 200, obj

    def list_configmaps(self, req, namespace=""):
        self.authz.authorize(req.user, "list", RESOURCE, namespace, "")
        objects, version = self.store.items(RESOURCE, namespace)
        return 200, {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": version},
                     "items": [without_type(obj) for obj in objects]}

    def create_configmap(self, req, namespace):
        self.authz.authorize(req.user, "create", RESOURCE, namespace, "")
        body = parse_object(req)
        meta = body.get("metadata") or {}
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        name = meta.get("name") or (meta["generateName"] + secrets.token_hex(3)[:5] if meta.get("generateName") else "")
        if not name:
            raise invalid("ConfigMap", "", "", [("FieldValueRequired", "metadata.name",
                                                 "Required value: name or generateName is required")])
        candidate = self._decode(namespace, name, body, None, check_name=True)
        with self.store.lock:
            if self.get(namespace, name) is not None:
                raise already_exists(RESOURCE, name)
            return 201, self.store.put(RESOURCE, candidate)

    def update_configmap(self, req, namespace, name):
        self.authz.authorize(req.user, "update", RESOURCE, namespace, name)
        body = parse_object(req)
        meta = body.get("metadata") or {}
        if meta.get("name", "") != name:
            raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name on the URL "
                              f"({name})")
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request(f"the namespace of the provided object ({meta['namespace']}) does not match the "
                              f"namespace sent on the request ({namespace})")
        with self.store.lock:
            current = self.get(namespace, name)
            if current is None:  # ConfigMaps do not allow create-on-update
                raise not_found(RESOURCE, name)
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict(RESOURCE, name)
            return 200, self.save_if_changed(current, self._decode(namespace, name, body, current))

    def patch_configmap(self, req, namespace, name):
        self.authz.authorize(req.user, "patch", RESOURCE, namespace, name)
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
                raise not_found(RESOURCE, name)
            if current is None:  # server-side apply creates, which needs create permission too
                self.authz.authorize(req.user, "create", RESOURCE, namespace, name)
                skeleton = {"metadata": {"name": name, "namespace": namespace}}
                created = self._decode(namespace, name, merge_patch(skeleton, patch), None, check_name=True)
                return 201, self.store.put(RESOURCE, created)
            patched = self._apply_patch(kind, current, patch)
            meta = patched.get("metadata") if isinstance(patched, dict) else None
            if not isinstance(meta, dict) or meta.get("name") != name:
                found = meta.get("name") if isinstance(meta, dict) else None
                raise invalid("ConfigMap", "", name, [("FieldValueInvalid", "metadata.name",
                                                       f'Invalid value: "{found}": field is immutable')])
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict(RESOURCE, name)  # a resourceVersion in the patch is a precondition
            try:
                candidate = configmap_from(namespace, name, patched, current)
            except ShapeError as error:  # the patched object does not decode: patch.go answers 422
                raise invalid("", "", "", [("FieldValueInvalid", "patch", f"Invalid value: {error}")])
            return 200, self.save_if_changed(current, candidate)

    @staticmethod
    def _apply_patch(kind, current, patch):
        if kind == JSON_PATCH:
            try:
                return json_patch(current, patch)
            except JSONPatchError:  # patch.go: NewGenericServerResponse(422, ...), without the error text
                raise APIError(422, "Invalid", "the server rejected our request due to an error in our request", {})
        return (strategic_merge_patch if kind == STRATEGIC_PATCH else merge_patch)(current, patch)

    def delete_configmap(self, req, namespace, name):
        self.authz.authorize(req.user, "delete", RESOURCE, namespace, name)
        options = parse_object(req) if req.body.strip() else {}
        preconditions = options.get("preconditions") or {}
        with self.store.lock:
            current = self.get(namespace, name)
            if current is None:
                raise not_found(RESOURCE, name)
            meta = current["metadata"]
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if preconditions.get(field) and preconditions[field] != meta[field]:
                    raise conflict(RESOURCE, name, f"Precondition failed: {label} in precondition: "
                                                   f"{preconditions[field]}, {label} in object meta: {meta[field]}")
            self.store.delete(RESOURCE, namespace, name)
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": name, "kind": RESOURCE, "uid": meta["uid"]}}

    @staticmethod
    def _decode(namespace, name, body, previous, check_name=False):
        try:
            return configmap_from(namespace, name, body, previous, check_name)
        except ShapeError as error:
            raise bad_request(f'ConfigMap in version "v1" cannot be handled as a ConfigMap: {error}')

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
