#!/usr/bin/env python3
"""A local HTTPS Kubernetes API server for tests: ConfigMaps, TokenReview, SubjectAccessReview and
TokenRequest behind bearer-token authentication and RBAC-like rules, plus a control API under
/__control/ that injects faults, takes the listener down and rotates the service-account token.

    kube_api_server.py --state-dir DIR [--host 127.0.0.1] [--port 0] [--config FILE]

Error bodies, messages and codes follow kube-apiserver (k8s.io/apimachinery/pkg/api/errors and the
apiserver handlers). README.md next to this file lists what is implemented and what is not.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import copy
import datetime
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

DEFAULT_NAMESPACE = "onap"
DEFAULT_SERVICE_ACCOUNT = "kubeconfig-service"
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
MAX_CONFIGMAP_BYTES = 1024 * 1024  # core.MaxSecretSize, summed over the values of data and binaryData
MAX_REQUEST_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's default --max-request-body-bytes
REQUEST_LOG_LIMIT = 10_000
JSON, YAML = "application/json", "application/yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH]  # in kube-apiserver's order
CONFIGMAP_PATH = re.compile(r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)")
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

# Fixed test identities; the service account's token is random and lives in DIR/serviceaccount.
FIXED_IDENTITIES = {
    "admin-token": {"username": "admin", "uid": "admin-uid", "groups": ["system:masters", "system:authenticated"]},
    "reader-token": {"username": "reader", "uid": "reader-uid", "groups": ["system:authenticated"]},
    "nobody-token": {"username": "nobody", "uid": "nobody-uid", "groups": ["system:authenticated"]},
}
ANONYMOUS = {"username": "system:anonymous", "uid": "", "groups": ["system:unauthenticated"]}


def default_rules(sa_user: str, sa_namespace: str) -> list[dict]:
    """Admin may do anything, reader may get ConfigMaps, the service account may read and write
    ConfigMaps in its namespace and review tokens and access (like system:auth-delegator)."""
    return [
        {"group": "system:masters", "verbs": ["*"], "resources": ["*"]},
        {"user": "reader", "verbs": ["get"], "resources": ["configmaps"]},
        {"user": sa_user, "verbs": ["get", "update", "patch"], "resources": ["configmaps"],
         "namespaces": [sa_namespace]},
        {"user": sa_user, "verbs": ["create"], "resources": ["tokenreviews", "subjectaccessreviews"]},
    ]


def rfc3339(seconds: float | None = None) -> str:
    """A timestamp as Kubernetes writes them, now by default."""
    moment = datetime.datetime.fromtimestamp(time.time() if seconds is None else seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# MARK: - Status errors


class APIError(Exception):
    """A failure answered as a metav1.Status (or, with plain_text, as Go's http.Error does)."""

    def __init__(self, code, reason, message, details=None, headers=None, plain_text=False):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details
        self.headers, self.plain_text = headers or {}, plain_text

    def body(self):
        if self.plain_text:
            return self.message + "\n"
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": self.message, "reason": self.reason}
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _details(name="", group="", kind="", **extra):
    """StatusDetails with Go's omitempty: empty fields are left out."""
    fields = {"name": name, "group": group, "kind": kind, **extra}
    return {key: value for key, value in fields.items() if value not in ("", None, [])}


def _qualified(resource, group):
    return f"{resource}.{group}" if group else resource


def not_found(resource, name):
    return APIError(404, "NotFound", f'{resource} "{name}" not found', _details(name, "", resource))


def already_exists(resource, name):
    return APIError(409, "AlreadyExists", f'{resource} "{name}" already exists', _details(name, "", resource))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def conflict(resource, name, why=STALE):
    message = f'Operation cannot be fulfilled on {resource} "{name}": {why}'
    return APIError(409, "Conflict", message, _details(name, "", resource))


def unauthorized():
    return APIError(401, "Unauthorized", "Unauthorized")


def forbidden(user, verb, resource, group, namespace, name, subresource=""):
    """The message responsewriters.Forbidden builds from the authorizer attributes."""
    what = f"{resource}/{subresource}" if subresource else resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    reason = f'User "{user["username"]}" cannot {verb} resource "{what}" in API group "{group}" {scope}'
    target = _qualified(resource, group) + (f' "{name}"' if name else "")
    return APIError(403, "Forbidden", f"{target} is forbidden: {reason}", _details(name, group, resource))


def forbidden_path(user, verb, path):
    return APIError(403, "Forbidden", f'forbidden: User "{user["username"]}" cannot {verb} path "{path}"', {})


def bad_request(message):
    return APIError(400, "BadRequest", message)


def invalid(kind, group, name, causes):
    """errors.NewInvalid; causes are (reason, field, body) such as
    ("FieldValueTooLong", "[]", "Too long: may not be more than 1048576 bytes")."""
    errors = [f"{field}: {body}" for _, field, body in causes]
    summary = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    details = _details(name, group, kind, causes=[{"reason": r, "message": b, "field": f} for r, f, b in causes])
    qualified_kind = f"{kind}.{group}" if group else kind
    return APIError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)


def unsupported_media_type(accepted):
    message = "the body of the request was in an unknown format - accepted media types include: "
    return APIError(415, "UnsupportedMediaType", message + ", ".join(accepted))


FAULT_STATUSES = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: injected fault"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "too old resource version"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within the allotted timeout"),
}


def fault_status(fault, path):
    """The answer of a `status` fault; a 409 on a ConfigMap is the real optimistic-lock conflict."""
    code = int(fault.get("code", 503))
    retry = fault.get("retryAfter")
    headers = {"Retry-After": str(int(retry))} if retry is not None else {}
    target = CONFIGMAP_PATH.fullmatch(path)
    if code == 409 and target and "message" not in fault:
        error = conflict("configmaps", target.group(2))
    else:
        fallback = ("InternalError" if code >= 500 else "Unknown", "injected fault")
        reason, message = FAULT_STATUSES.get(code, fallback)
        error = APIError(code, reason, fault.get("message", message), plain_text=bool(fault.get("plainText")))
    if retry is not None:
        error.details = {**(error.details or {}), "retryAfterSeconds": int(retry)}
    error.headers = headers
    return error


# MARK: - Patches


def merge_patch(target, patch):
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target, patch):
    """A strategic merge patch for ConfigMaps, whose fields are all maps: a merge patch that also
    honours the `$patch: replace` and `$patch: delete` directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    patch = {key: value for key, value in patch.items() if not key.startswith("$")}
    if directive == "replace":
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        merged = None if value is None else strategic_merge_patch(result.get(key), value)
        if merged is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        else:
            result[key] = merged
    return result


class JSONPatchError(Exception):
    """An RFC 6902 operation that cannot be applied."""


def _pointer(path):
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise JSONPatchError(f"invalid JSON pointer {path!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in path.split("/")[1:]]


def _resolve(doc, tokens):
    for token in tokens:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            raise JSONPatchError(f"path component {token!r} not found")
    return doc


def _add(doc, path, value):
    tokens = _pointer(path)
    if not tokens:
        return copy.deepcopy(value)
    parent, last = _resolve(doc, tokens[:-1]), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
        parent.insert(len(parent) if last == "-" else int(last), copy.deepcopy(value))
    else:
        raise JSONPatchError(f"cannot add at {path}")
    return doc


def _remove(doc, path):
    tokens = _pointer(path)
    if not tokens:
        raise JSONPatchError("cannot remove the whole document")
    parent, last = _resolve(doc, tokens[:-1]), tokens[-1]
    _resolve(parent, [last])  # must exist
    del parent[int(last) if isinstance(parent, list) else last]
    return doc


def json_patch(doc, operations):
    """RFC 6902 JSON patch, `test` included."""
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict):
            raise JSONPatchError("an operation must be an object")
        kind, path = op.get("op"), op.get("path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise JSONPatchError(f"missing value for {kind}")
        if kind == "add":
            doc = _add(doc, path, op["value"])
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            doc = _add(_remove(doc, path), path, op["value"]) if _pointer(path) else copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_resolve(doc, _pointer(op.get("from"))))
            doc = _add(_remove(doc, op["from"]) if kind == "move" else doc, path, value)
        elif kind == "test":
            actual = _resolve(doc, _pointer(path))
            if json.dumps(actual, sort_keys=True) != json.dumps(op["value"], sort_keys=True):
                raise JSONPatchError(f"testing value {path} failed")
        else:
            raise JSONPatchError(f"Unexpected kind: {kind}")
    return doc


def add_kubeconfig_entries(text, entries):
    """Adds (or replaces by name) clusters/users/contexts in a kubeconfig YAML document."""
    doc = yaml.safe_load(text or "") or {"apiVersion": "v1", "kind": "Config"}
    for section in ("clusters", "users", "contexts"):
        for entry in entries.get(section, []):
            kept = [item for item in doc.get(section) or [] if item.get("name") != entry.get("name")]
            doc[section] = kept + [entry]
    return yaml.safe_dump(doc, sort_keys=False)


# MARK: - ConfigMaps


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


# MARK: - Service-account tokens and volume


def service_account_token(namespace, name, uid, lifetime, audiences):
    """A JWT-shaped opaque token with the claims kube-apiserver puts in projected tokens. The
    signature is random: only this server's lookup table makes it valid."""
    now = int(time.time())
    claims = {"aud": audiences, "exp": now + lifetime, "iat": now, "iss": API_AUDIENCE, "jti": str(uuid.uuid4()),
              "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
              "nbf": now, "sub": f"system:serviceaccount:{namespace}:{name}"}
    header = {"alg": "RS256", "kid": "kube-api-test-server"}
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64)]
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in parts)


def write_atomic_volume(path: Path, files: dict[str, tuple[str, int]]) -> None:
    """Writes `files` ({name: (text, mode)}) into `path` the way kubelet's AtomicWriter writes a
    projected or Secret volume: the files live in a timestamped `..2026_...` directory, `..data`
    links to it, and each name links to `..data/<name>`. A rewrite swaps `..data` with one atomic
    rename and removes the previous directory."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.")
    fresh = Path(tempfile.mkdtemp(prefix=stamp, dir=path))
    for name, (text, mode) in files.items():
        (fresh / name).write_text(text)
        (fresh / name).chmod(mode)
    fresh.chmod(0o755)
    data, staged = path / "..data", path / "..data_tmp"
    previous = os.readlink(data) if data.is_symlink() else None
    staged.unlink(missing_ok=True)
    os.symlink(fresh.name, staged)
    os.replace(staged, data)
    for name in files:
        if not (path / name).is_symlink():
            os.symlink(f"..data/{name}", path / name)
    if previous:
        shutil.rmtree(path / previous, ignore_errors=True)


class ServiceAccountVolume:
    """DIR/serviceaccount as kubelet mounts it (see write_atomic_volume): `token`, `ca.crt` and
    `namespace`; a rotation swaps `..data` atomically."""

    def __init__(self, path: Path, ca_pem: str, namespace: str):
        self.path, self.ca_pem, self.namespace = path, ca_pem, namespace
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)

    def write(self, token):
        write_atomic_volume(self.path, {"token": (token, 0o644), "ca.crt": (self.ca_pem, 0o644),
                                        "namespace": (self.namespace, 0o644)})


# MARK: - Cluster state and API operations


@dataclass
class Request:
    """One API request, authenticated."""

    method: str
    path: str
    query: dict
    content_type: str
    body: bytes
    user: dict
    host: str

    def param(self, name):
        return self.query.get(name, [""])[0]


def media_type(header):
    return (header or "").split(";")[0].strip().lower()


def parse_object(req):
    """The body of a create or update: JSON (the default) or YAML, as kube-apiserver accepts."""
    kind = media_type(req.content_type) or JSON
    if kind not in (JSON, YAML):
        raise unsupported_media_type([JSON, YAML])
    try:
        obj = json.loads(req.body) if kind == JSON else yaml.safe_load(req.body)
    except (ValueError, yaml.YAMLError) as error:
        raise bad_request(f"couldn't get version/kind; json parse error: {error}")
    if not isinstance(obj, dict):
        raise bad_request("couldn't get version/kind; json parse error: the body is not a JSON object")
    return obj


def rule_matches(rule, user, verb, resource, namespace, name):
    """One RBAC-like rule: a subject (user or group), verbs, resources ("*" = any; a non-resource
    request matches only "*"), optional namespaces (absent = all, cluster scope included) and
    optional resourceNames (absent = all; requests without a name never match them)."""
    if rule.get("user") != user["username"] and rule.get("group") not in user["groups"]:
        return False
    def allows(key, value):
        values = rule.get(key, [])
        return "*" in values or value in values

    namespaces, names = rule.get("namespaces"), rule.get("resourceNames")
    return (allows("verbs", verb) and allows("resources", resource)
            and (namespaces is None or "*" in namespaces or namespace in namespaces)
            and (names is None or (name and name in names)))


class Cluster:
    """Everything the server knows: objects, identities, rules, faults and the request log.
    One lock guards it; stored objects are never mutated in place, only replaced."""

    def __init__(self, config: dict, state_dir: Path):
        account = config.get("serviceAccount") or {}
        self.sa_namespace = account.get("namespace", DEFAULT_NAMESPACE)
        self.sa_name = account.get("name", DEFAULT_SERVICE_ACCOUNT)
        sa_user = f"system:serviceaccount:{self.sa_namespace}:{self.sa_name}"
        self.lock = threading.RLock()
        self.resource_version = 0
        self.identities = {token: dict(identity) for token, identity in FIXED_IDENTITIES.items()}
        self.identities.update({token: dict(value) for token, value in config.get("identities", {}).items()})
        base = default_rules(sa_user, self.sa_namespace) if config.get("defaultRules", True) else []
        self.base_rules = base + list(config.get("rules", []))
        self.rules = list(self.base_rules)
        self.runtime_tokens = set()
        self.sa_uids = {}
        self.initial_configmaps = config.get("configmaps", [])
        self.objects, self.faults, self.fault_ids = {}, [], 0
        self.request_log = collections.deque(maxlen=REQUEST_LOG_LIMIT)
        ca_pem = (state_dir / "ca.crt").read_text()
        self.volume = ServiceAccountVolume(state_dir / "serviceaccount", ca_pem, self.sa_namespace)
        self.sa_token = self.mounted_token()
        self.volume.write(self.sa_token)
        self.reset()

    # Identities and authorisation

    def issue_token(self, namespace, name, lifetime, audiences, enforce_expiry=True):
        """Registers a new token for a service account; without `enforce_expiry` it outlives its claims."""
        with self.lock:
            uid = self.sa_uids.setdefault((namespace, name), str(uuid.uuid4()))
            token = service_account_token(namespace, name, uid, lifetime, audiences)
            self.identities[token] = {
                "username": f"system:serviceaccount:{namespace}:{name}", "uid": uid,
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
                "audiences": audiences, "expires": time.time() + lifetime if enforce_expiry else None}
            return token

    def mounted_token(self):
        """The automounted kind: 1 h by its claims, but the API server keeps it valid (extended expiry)."""
        return self.issue_token(self.sa_namespace, self.sa_name, 3607, [API_AUDIENCE], enforce_expiry=False)

    def lookup(self, token):
        with self.lock:
            identity = self.identities.get(token)
        if identity and identity.get("expires") and identity["expires"] < time.time():
            return None
        return identity

    def authenticate(self, header):
        """The caller of an `Authorization: Bearer` header: no header is anonymous, an unknown
        token is None (answered 401)."""
        scheme, _, token = (header or "").partition(" ")
        if not token.strip():
            return ANONYMOUS
        return self.lookup(token.strip()) if scheme.lower() == "bearer" else None

    def evaluate(self, user, verb, resource, namespace, name):
        with self.lock:
            rules = list(self.rules)
        for index, rule in enumerate(rules):
            if rule_matches(rule, user, verb, resource, namespace, name):
                subject = f'User "{rule["user"]}"' if "user" in rule else f'Group "{rule["group"]}"'
                return True, f"RBAC: allowed by test-server rule #{index} to {subject}"
        return False, ""

    def authorize(self, user, verb, resource, namespace, name, group="", subresource=""):
        rbac_resource = f"{resource}/{subresource}" if subresource else resource
        if not self.evaluate(user, verb, rbac_resource, namespace, name)[0]:
            raise forbidden(user, verb, resource, group, namespace, name, subresource)

    # Object storage

    def store(self, obj):
        """Saves `obj` under a new resourceVersion (the global, monotonically increasing counter)."""
        with self.lock:
            self.resource_version += 1
            obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.resource_version)}}
            self.objects[(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
            return obj

    def save_if_changed(self, current, candidate):
        """kube-apiserver skips writes that change nothing: same object, same resourceVersion."""
        return current if current and same_content(current, candidate) else self.store(candidate)

    def put_raw(self, namespace, name, spec):
        """A control-API write: validated but not authorised, and always a new resourceVersion."""
        source = {"metadata": {key: spec[key] for key in ("labels", "annotations") if key in spec},
                  **{key: spec[key] for key in ("data", "binaryData") if key in spec}}
        with self.lock:
            current = self.objects.get((namespace, name))
            return self.store(configmap_from(namespace, name, source, current, check_name=True))

    def reset(self):
        """Back to the initial objects; clears faults, the request log and run-time identities."""
        with self.lock:
            self.objects.clear()
            self.faults.clear()
            self.request_log.clear()
            for token in self.runtime_tokens:
                self.identities.pop(token, None)
            self.runtime_tokens.clear()
            self.rules = list(self.base_rules)
            for spec in self.initial_configmaps:
                self.put_raw(spec.get("namespace", DEFAULT_NAMESPACE), spec["name"], spec)

    # ConfigMaps

    def get_configmap(self, req, namespace, name):
        self.authorize(req.user, "get", "configmaps", namespace, name)
        with self.lock:
            obj = self.objects.get((namespace, name))
        if obj is None:
            raise not_found("configmaps", name)
        return 200, obj

    def list_configmaps(self, req, namespace=""):
        self.authorize(req.user, "list", "configmaps", namespace, "")
        with self.lock:
            items = [without_type(obj) for key, obj in sorted(self.objects.items()) if namespace in ("", key[0])]
            version = str(self.resource_version)
        return 200, {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": version},
                     "items": items}

    def create_configmap(self, req, namespace):
        self.authorize(req.user, "create", "configmaps", namespace, "")
        body = parse_object(req)
        meta = body.get("metadata") or {}
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        name = meta.get("name") or (meta["generateName"] + secrets.token_hex(3)[:5] if meta.get("generateName") else "")
        if not name:
            raise invalid("ConfigMap", "", "", [("FieldValueRequired", "metadata.name",
                                                 "Required value: name or generateName is required")])
        candidate = self._decode(namespace, name, body, None, check_name=True)
        with self.lock:
            if (namespace, name) in self.objects:
                raise already_exists("configmaps", name)
            return 201, self.store(candidate)

    def update_configmap(self, req, namespace, name):
        self.authorize(req.user, "update", "configmaps", namespace, name)
        body = parse_object(req)
        meta = body.get("metadata") or {}
        if meta.get("name", "") != name:
            raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name on the URL "
                              f"({name})")
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request(f"the namespace of the provided object ({meta['namespace']}) does not match the "
                              f"namespace sent on the request ({namespace})")
        with self.lock:
            current = self.objects.get((namespace, name))
            if current is None:  # ConfigMaps do not allow create-on-update
                raise not_found("configmaps", name)
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict("configmaps", name)
            return 200, self.save_if_changed(current, self._decode(namespace, name, body, current))

    def patch_configmap(self, req, namespace, name):
        self.authorize(req.user, "patch", "configmaps", namespace, name)
        kind = media_type(req.content_type)
        if kind not in PATCH_TYPES:
            raise unsupported_media_type(PATCH_TYPES)
        if kind == APPLY_PATCH and not req.param("fieldManager"):
            raise invalid("PatchOptions", "meta.k8s.io", "", [("FieldValueRequired", "fieldManager",
                                                              "Required value: is required for apply patch")])
        patch = self._decode_patch(kind, req.body)
        with self.lock:
            current = self.objects.get((namespace, name))
            if current is None and kind != APPLY_PATCH:
                raise not_found("configmaps", name)
            if current is None:  # server-side apply creates, which needs create permission too
                self.authorize(req.user, "create", "configmaps", namespace, name)
                skeleton = {"metadata": {"name": name, "namespace": namespace}}
                created = self._decode(namespace, name, merge_patch(skeleton, patch), None, check_name=True)
                return 201, self.store(created)
            patched = self._apply_patch(kind, current, patch)
            meta = patched.get("metadata") if isinstance(patched, dict) else None
            if not isinstance(meta, dict) or meta.get("name") != name:
                found = meta.get("name") if isinstance(meta, dict) else None
                raise invalid("ConfigMap", "", name, [("FieldValueInvalid", "metadata.name",
                                                       f'Invalid value: "{found}": field is immutable')])
            if meta.get("resourceVersion") and meta["resourceVersion"] != current["metadata"]["resourceVersion"]:
                raise conflict("configmaps", name)  # a resourceVersion in the patch is a precondition
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
        self.authorize(req.user, "delete", "configmaps", namespace, name)
        options = parse_object(req) if req.body.strip() else {}
        preconditions = options.get("preconditions") or {}
        with self.lock:
            current = self.objects.get((namespace, name))
            if current is None:
                raise not_found("configmaps", name)
            meta = current["metadata"]
            for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if preconditions.get(field) and preconditions[field] != meta[field]:
                    raise conflict("configmaps", name, f"Precondition failed: {label} in precondition: "
                                                       f"{preconditions[field]}, {label} in object meta: {meta[field]}")
            del self.objects[(namespace, name)]
            self.resource_version += 1
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                     "details": {"name": name, "kind": "configmaps", "uid": meta["uid"]}}

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

    # Reviews and tokens

    def review_token(self, req):
        self.authorize(req.user, "create", "tokenreviews", "", "", group="authentication.k8s.io")
        spec = parse_object(req).get("spec") or {}
        if not spec.get("token"):
            raise bad_request("token is required for TokenReview in authentication")
        identity, wanted = self.lookup(spec["token"]), spec.get("audiences") or []
        granted = identity and identity.get("audiences")
        if identity and wanted and granted and not set(wanted) & set(granted):
            identity = None
        if identity:
            user = {key: identity[key] for key in ("username", "uid", "groups")}
            status = {"authenticated": True, "user": user, "audiences": wanted or granted or [API_AUDIENCE]}
        else:  # Go's omitempty drops `authenticated: false`; `user` is a struct, so `{}` stays
            status = {"user": {}, "error": "invalid bearer token"}
        return 201, {"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

    def review_access(self, req):
        self.authorize(req.user, "create", "subjectaccessreviews", "", "", group="authorization.k8s.io")
        spec = parse_object(req).get("spec") or {}
        attributes, other = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
        causes = []
        if attributes and other:
            causes.append(("FieldValueInvalid", "spec.nonResourceAttributes",
                           "Invalid value: cannot be specified in combination with resourceAttributes"))
        if not attributes and not other:
            causes.append(("FieldValueInvalid", "spec.resourceAttributes", 'Invalid value: "null": '
                           "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
        if not spec.get("user") and not spec.get("groups"):
            causes.append(("FieldValueInvalid", "spec.user",
                           'Invalid value: "": at least one of user or group must be specified'))
        if causes:
            raise invalid("SubjectAccessReview", "authorization.k8s.io", "", causes)
        subject = {"username": spec.get("user", ""), "groups": spec.get("groups") or []}
        if attributes:
            resource = attributes.get("resource", "")
            if attributes.get("subresource"):
                resource += "/" + attributes["subresource"]
            allowed, reason = self.evaluate(subject, attributes.get("verb", ""), resource,
                                            attributes.get("namespace", ""), attributes.get("name", ""))
        else:
            allowed, reason = self.evaluate(subject, other.get("verb", ""), None, "", "")
        status = {"allowed": allowed, **({"reason": reason} if reason else {})}
        return 201, {"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                     "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}

    def request_token(self, req, namespace, name):
        self.authorize(req.user, "create", "serviceaccounts", namespace, name, subresource="token")
        spec = parse_object(req).get("spec") or {}
        seconds = spec.get("expirationSeconds", 3600)
        if not isinstance(seconds, int) or seconds < 600:
            raise invalid("TokenRequest", "authentication.k8s.io", name, [(
                "FieldValueInvalid", "spec.expirationSeconds",
                f"Invalid value: {json.dumps(seconds)}: may not specify a duration less than 10 minutes")])
        audiences = spec.get("audiences") or [API_AUDIENCE]
        token = self.issue_token(namespace, name, seconds, audiences)
        expires = rfc3339(time.time() + seconds)
        return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                     "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": None},
                     "status": {"token": token, "expirationTimestamp": expires}}

    # Discovery

    def discovery(self, req, kind):
        if kind != "version" and req.user is ANONYMOUS:  # system:discovery is bound to system:authenticated
            raise forbidden_path(req.user, "get", req.path)
        return 200, discovery_document(kind, req.host)

    # Faults and the request log

    def add_fault(self, spec):
        if spec.get("action") not in ("status", "delay", "drop", "conflict"):
            raise ValueError("action must be one of status, delay, drop, conflict")
        if spec.get("pathRegex"):
            re.compile(spec["pathRegex"])
        with self.lock:
            self.fault_ids += 1
            fault = {"id": self.fault_ids, "count": 1, **spec}
            self.faults.append(fault)
            return fault

    def take_fault(self, method, path):
        """The first fault matching the request, with its count used up by one (-1 = forever)."""
        with self.lock:
            for fault in self.faults:
                wanted = (fault.get("method") or "*").upper()
                if fault["count"] == 0 or wanted not in ("*", method):
                    continue
                if not path.startswith(fault.get("path", "")):
                    continue
                if fault.get("pathRegex") and not re.search(fault["pathRegex"], path):
                    continue
                if fault["count"] > 0:
                    fault["count"] -= 1
                return dict(fault)
        return None

    def concurrent_write(self, path, fault):
        """The `conflict` fault: another writer changes the ConfigMap first (a data key, by default
        `concurrent-writer`, and/or kubeconfig entries), so the request's resourceVersion is stale."""
        target = CONFIGMAP_PATH.fullmatch(path)
        with self.lock:
            current = target and self.objects.get(target.groups())
            if not current:
                return
            data = dict(current.get("data") or {})
            kubeconfig = fault.get("kubeconfig")
            default = {} if kubeconfig else {"concurrent-writer": str(self.resource_version + 1)}
            data.update(fault.get("data") or default)
            if kubeconfig:
                key = kubeconfig.get("key", "config")
                data[key] = add_kubeconfig_entries(data.get(key), kubeconfig)
            self.store({**current, "data": data})

    def log(self, entry):
        with self.lock:
            self.request_log.append(entry)

    def rotate_service_account_token(self, invalidate_old):
        """Kubelet's refresh: a new token in a new directory, `..data` swapped atomically."""
        with self.lock:
            old, self.sa_token = self.sa_token, self.mounted_token()
            if invalidate_old:
                self.identities.pop(old, None)
            self.volume.write(self.sa_token)
            return self.sa_token

    def add_identity(self, spec):
        """A run-time identity (dropped by reset); its rules apply to its username."""
        token = spec.get("token") or secrets.token_urlsafe(32)
        identity = {"username": spec["username"], "uid": spec.get("uid") or str(uuid.uuid4()),
                    "groups": list(spec.get("groups") or ["system:authenticated"])}
        with self.lock:
            self.identities[token] = identity
            self.runtime_tokens.add(token)
            self.rules += [{"user": spec["username"], **rule} for rule in spec.get("rules", [])]
        return token


# MARK: - HTTP


def discovery_document(kind, host):
    """The discovery answers kubectl probes before a request; minimal but well-formed."""
    def resources(group_version, *entries):
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
                "resources": list(entries)}

    def group(name):
        version = {"groupVersion": f"{name}/v1", "version": "v1"}
        return {"name": name, "versions": [version], "preferredVersion": version}

    def review(resource, kind):
        return {"name": resource, "singularName": "", "namespaced": False, "kind": kind, "verbs": ["create"]}

    return {
        "version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0", "gitCommit": "kube-api-test-server",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.4",
                    "compiler": "gc", "platform": "linux/amd64"},
        "api": {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]},
        "apis": {"kind": "APIGroupList", "apiVersion": "v1",
                 "groups": [group("authentication.k8s.io"), group("authorization.k8s.io")]},
        "v1": resources("v1",
                        {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
                         "verbs": ["create", "delete", "get", "list", "patch", "update"], "shortNames": ["cm"]},
                        {"name": "serviceaccounts/token", "singularName": "", "namespaced": True,
                         "kind": "TokenRequest", "group": "authentication.k8s.io", "version": "v1",
                         "verbs": ["create"]}),
        "authentication.k8s.io": resources("authentication.k8s.io/v1", review("tokenreviews", "TokenReview")),
        "authorization.k8s.io": resources("authorization.k8s.io/v1",
                                          review("subjectaccessreviews", "SubjectAccessReview")),
    }[kind]



ROUTES = [
    (re.compile(r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)"),
     {"GET": "get_configmap", "PUT": "update_configmap", "PATCH": "patch_configmap", "DELETE": "delete_configmap"}),
    (re.compile(r"/api/v1/namespaces/([^/]+)/configmaps"), {"GET": "list_configmaps", "POST": "create_configmap"}),
    (re.compile(r"/api/v1/configmaps"), {"GET": "list_configmaps"}),
    (re.compile(r"/api/v1/namespaces/([^/]+)/serviceaccounts/([^/]+)/token"), {"POST": "request_token"}),
    (re.compile(r"/apis/authentication\.k8s\.io/v1/tokenreviews"), {"POST": "review_token"}),
    (re.compile(r"/apis/authorization\.k8s\.io/v1/subjectaccessreviews"), {"POST": "review_access"}),
    (re.compile(r"/(version|api|apis)/?"), {"GET": "discovery"}),
    (re.compile(r"/api/(v1)/?"), {"GET": "discovery"}),
    (re.compile(r"/apis/(authentication\.k8s\.io|authorization\.k8s\.io)/v1/?"), {"GET": "discovery"}),
]


class APIHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: every answer has a Content-Length, every request body is read."""

    protocol_version = "HTTP/1.1"
    server_version = "kube-api-test-server"
    # Headers and body go out in two writes; without TCP_NODELAY the body waits ~40 ms for the
    # client's delayed ACK (Nagle), which no real API server makes its clients wait.
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections

    def setup(self):
        super().setup()
        self.request.do_handshake()  # here, in the connection's thread, not in the accept loop
        self.server.listener.track(self.request)

    def finish(self):
        self.server.listener.untrack(self.request)
        super().finish()

    def log_message(self, format, *args):  # the request log is at /__control/requests
        pass

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def dispatch(self):
        url = urlsplit(self.path)
        try:
            body = self.read_body()
        except APIError as error:
            self.close_connection = True  # the rest of the body is still unread
            return self.respond(error.code, error.body(), error.headers)
        if url.path.startswith("/__control/"):
            return self.control(url, body)
        cluster: Cluster = self.server.cluster
        user = cluster.authenticate(self.headers.get("Authorization"))
        fault = cluster.take_fault(self.command, url.path)
        entry = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
                 "method": self.command, "path": url.path, "query": url.query,
                 "contentType": self.headers.get("Content-Type"), "user": user and user["username"],
                 "code": None, "fault": fault and fault["action"]}
        if fault and fault["action"] == "drop":
            cluster.log(entry)
            return self.drop()
        request = Request(self.command, url.path, parse_qs(url.query), self.headers.get("Content-Type", ""),
                          body, user, self.headers.get("Host", ""))
        code, payload, headers = self.answer(cluster, request, fault)
        entry["code"] = code
        cluster.log(entry)
        self.respond(code, payload, headers)

    def answer(self, cluster, request, fault):
        """(code, payload, headers) for an API request, after its fault if it has one."""
        try:
            if fault and fault["action"] == "status":
                raise fault_status(fault, request.path)
            if fault and fault["action"] == "delay":
                time.sleep(float(fault.get("seconds", 1)))
            if fault and fault["action"] == "conflict":
                cluster.concurrent_write(request.path, fault)
            if request.user is None:
                raise unauthorized()
            return *self.route(cluster, request), {}
        except APIError as error:
            return error.code, error.body(), error.headers

    def route(self, cluster, request):
        if request.path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok"
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(request.path)
            if match:
                if request.method not in methods:
                    message = "the server does not allow this method on the requested resource"
                    raise APIError(405, "MethodNotAllowed", message, {})
                return getattr(cluster, methods[request.method])(request, *match.groups())
        raise APIError(404, "NotFound", "the server could not find the requested resource", {})

    def read_body(self):
        """The request body, Content-Length or chunked, refused beyond kube-apiserver's 3 MiB."""
        try:
            return self._read_body()
        except ValueError:
            raise bad_request("malformed request body framing")

    def _read_body(self):
        limit = MAX_REQUEST_BODY_BYTES
        too_large = APIError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks, total = [], 0
            while size := int(self.rfile.readline().split(b";")[0], 16):
                total += size
                if total > limit:
                    raise too_large
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            while length > 0 and (chunk := self.rfile.read(min(length, 1 << 16))):  # so the client reads the 413
                length -= len(chunk)
            raise too_large
        return self.rfile.read(length)

    def respond(self, code, payload, headers=None):
        if isinstance(payload, str):
            body, kind = payload.encode(), "text/plain; charset=utf-8"
        else:
            body, kind = (json.dumps(payload, separators=(",", ":")) + "\n").encode(), "application/json"
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def drop(self):
        """Closes the TCP connection without an answer."""
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # The control API: plain JSON, no authentication, never logged or faulted.

    def control(self, url, body):
        cluster: Cluster = self.server.cluster
        parts, method = url.path.split("/")[2:], self.command
        try:
            spec = json.loads(body) if body.strip() else {}
            code, result = 200, {}
            if parts == ["reset"] and method == "POST":
                cluster.reset()
            elif parts[:1] == ["configmaps"] and len(parts) == 3:
                namespace, name = parts[1:]
                if method == "PUT":
                    result = cluster.put_raw(namespace, name, spec)
                elif method in ("GET", "DELETE"):
                    with cluster.lock:
                        result = cluster.objects.get((namespace, name))
                        if result and method == "DELETE":
                            del cluster.objects[(namespace, name)]
                            cluster.resource_version += 1
                    if result is None:
                        raise not_found("configmaps", name)
                else:
                    code = 405
            elif parts == ["faults"]:
                if method == "POST":
                    result = cluster.add_fault(spec)
                elif method == "DELETE":
                    with cluster.lock:
                        cluster.faults.clear()
                else:
                    with cluster.lock:
                        result = [dict(fault) for fault in cluster.faults]
            elif parts == ["down"] and method == "POST":
                seconds = spec.get("seconds")
                self.close_connection = True
                self.server.listener.close(reopen_after=None if seconds is None else float(seconds), keep=self.request)
                result = {"listening": False, "seconds": seconds}
            elif parts == ["up"] and method == "POST":
                self.server.listener.open()
                result = {"listening": True}
            elif parts == ["requests"]:
                with cluster.lock:
                    result = list(cluster.request_log)
                    if method == "DELETE" or parse_qs(url.query).get("clear") in (["1"], ["true"]):
                        cluster.request_log.clear()
            elif parts == ["rotate-token"] and method == "POST":
                result = {"token": cluster.rotate_service_account_token(bool(spec.get("invalidateOld")))}
            elif parts == ["identities"] and method == "POST":
                result = {"token": cluster.add_identity(spec)}
            else:
                code, result = 404, {"error": f"no control endpoint {method} {url.path}"}
        except APIError as error:
            code, result = error.code, error.body()
        except (ValueError, KeyError, TypeError, re.error) as error:
            code, result = 400, {"error": f"{type(error).__name__}: {error}"}
        self.respond(code, result)


class TLSServer(http.server.ThreadingHTTPServer):
    """A threaded HTTPS server; the TLS handshake happens in each connection's own thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, ssl_context, cluster, listener):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ssl_context, self.cluster, self.listener = ssl_context, cluster, listener
        super().__init__(address, APIHandler)

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's reverse-DNS lookup
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, address = self.socket.accept()
        return self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # clients hanging up or rejecting the certificate are normal
            super().handle_error(request, client_address)


class Listener:
    """Owns the listening socket, so /__control/down can close it (connects are then refused) and
    reopen it on the same port later. Open connections are closed too, as a restart would."""

    def __init__(self, host, port, ssl_context, cluster):
        self.host, self.port, self.ssl_context, self.cluster = host, port, ssl_context, cluster
        self.lock = threading.Lock()
        self.server = None
        self.connections = set()
        self.reopen_timer = None

    def open(self):
        with self.lock:
            self._cancel_timer()
            if self.server is None:
                self.server = TLSServer((self.host, self.port), self.ssl_context, self.cluster, self)
                self.port = self.server.server_address[1]
                threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self, reopen_after=None, keep=None):
        with self.lock:
            self._cancel_timer()
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()
                self.server = None
            for connection in self.connections - {keep}:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if reopen_after is not None:
                self.reopen_timer = threading.Timer(reopen_after, self.open)
                self.reopen_timer.daemon = True
                self.reopen_timer.start()

    def _cancel_timer(self):
        if self.reopen_timer is not None:
            self.reopen_timer.cancel()
            self.reopen_timer = None

    def track(self, connection):
        with self.lock:
            self.connections.add(connection)

    def untrack(self, connection):
        with self.lock:
            self.connections.discard(connection)


# MARK: - Start-up


OPENSSL_CONFIG = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = kube-api-test-server
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, IP:::1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, \
    DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def ensure_certificates(state_dir: Path):
    """An EC P-256 CA and a server certificate signed by it, made with `openssl` when missing."""
    ca_crt, ca_key, crt, key = (state_dir / name for name in ("ca.crt", "ca.key", "server.crt", "server.key"))
    new_ca = not (ca_crt.exists() and ca_key.exists())
    if not new_ca and crt.exists() and key.exists():
        return
    run = lambda *args: subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)  # noqa: E731
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with tempfile.TemporaryDirectory() as tmp:
        config, csr = Path(tmp) / "openssl.cnf", Path(tmp) / "server.csr"
        config.write_text(OPENSSL_CONFIG)
        if new_ca:
            run("req", "-x509", "-new", *new_key, "-keyout", ca_key, "-out", ca_crt, "-days", "3650", "-sha256",
                "-subj", "/CN=kube-api-test-server-ca", "-config", config, "-extensions", "ca")
        run("req", "-new", *new_key, "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver", "-config", config)
        run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-set_serial", "0x" + secrets.token_hex(15),
            "-days", "825", "-sha256", "-extfile", config, "-extensions", "server", "-out", crt)
    ca_key.chmod(0o600)
    key.chmod(0o600)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", required=True, type=Path, help="certificates, service-account folder, port file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (::1 for IPv6)")
    parser.add_argument("--port", default=0, type=int, help="0 picks a free port")
    parser.add_argument("--config", type=Path, help="JSON: identities, rules, configmaps, serviceAccount, defaultRules")
    args = parser.parse_args(argv)

    args.state_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads(args.config.read_text()) if args.config else {}
    ensure_certificates(args.state_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.state_dir / "server.crt", args.state_dir / "server.key")
    context.set_alpn_protocols(["http/1.1"])
    listener = Listener(args.host, args.port, context, Cluster(config, args.state_dir))
    listener.open()

    staged = args.state_dir / "port.tmp"
    staged.write_text(f"{listener.port}\n")
    os.replace(staged, args.state_dir / "port")
    print(f"READY {listener.port}", flush=True)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    # While down the port is closed, so "up" also comes as a signal (what kubeapi.py's up() sends).
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=listener.open, daemon=True).start())
    stopping.wait()
    listener.close()


if __name__ == "__main__":
    main()
