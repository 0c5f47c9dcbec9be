"""Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which
kubectl sends for built-in kinds (`kubectl create secret`, `kubectl create token`,
`kubectl auth whoami`, `kubectl create namespace|serviceaccount|role|rolebinding|...`, `kubectl
auth can-i`).

A body is the magic `k8s\\0` and a runtime.Unknown envelope (1 typeMeta {1 apiVersion, 2 kind},
2 raw); `raw` is the object in the field numbers of k8s.io/api's generated.proto. Only the kinds and
fields this server keeps are decoded (others are skipped, as unknown fields are), into the JSON
shape the rest of the server reads: []byte values become base64 strings.
"""

from __future__ import annotations

import base64

PROTOBUF = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_META = ("metadata", "ObjectMeta")
SCHEMAS = {  # kind: {field number: (JSON name, type)}; a type is a kind here, or string/bytes/int/bool
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "bytes")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                   5: ("uid", "string"), 6: ("resourceVersion", "string"), 11: ("labels", "map:string"),
                   12: ("annotations", "map:string")},
    "ConfigMap": {1: _META, 2: ("data", "map:string"), 3: ("binaryData", "map:bytes")},
    "Secret": {1: _META, 2: ("data", "map:bytes"), 3: ("type", "string"), 4: ("stringData", "map:string")},
    "ServiceAccount": {1: _META, 4: ("automountServiceAccountToken", "bool")},
    "TokenRequest": {1: _META, 2: ("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {1: ("audiences", "list:string"), 4: ("expirationSeconds", "int")},
    "SelfSubjectReview": {1: _META},  # its status is the server's to fill in
    "Namespace": {1: _META, 2: ("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "list:string")},
    # rbac.authorization.k8s.io/v1
    "Role": {1: _META, 2: ("rules", "list:PolicyRule")},
    "ClusterRole": {1: _META, 2: ("rules", "list:PolicyRule")},  # aggregationRule (3) is not decoded
    "PolicyRule": {1: ("verbs", "list:string"), 2: ("apiGroups", "list:string"), 3: ("resources", "list:string"),
                   4: ("resourceNames", "list:string"), 5: ("nonResourceURLs", "list:string")},
    "RoleBinding": {1: _META, 2: ("subjects", "list:Subject"), 3: ("roleRef", "RoleRef")},
    "ClusterRoleBinding": {1: _META, 2: ("subjects", "list:Subject"), 3: ("roleRef", "RoleRef")},
    "Subject": {1: ("kind", "string"), 2: ("apiGroup", "string"), 3: ("name", "string"), 4: ("namespace", "string")},
    "RoleRef": {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")},
    # authorization.k8s.io/v1 (kubectl auth can-i)
    "SelfSubjectAccessReview": {1: _META, 2: ("spec", "SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                    2: ("nonResourceAttributes", "NonResourceAttributes")},
    "SubjectAccessReview": {1: _META, 2: ("spec", "SubjectAccessReviewSpec")},
    "SubjectAccessReviewSpec": {1: ("resourceAttributes", "ResourceAttributes"),
                                2: ("nonResourceAttributes", "NonResourceAttributes"), 3: ("user", "string"),
                                4: ("groups", "list:string"), 6: ("uid", "string")},
    "ResourceAttributes": {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                           4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
                           7: ("name", "string")},
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SelfSubjectRulesReview": {1: _META, 2: ("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "string")},
    "DeleteOptions": {2: ("preconditions", "Preconditions")},
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
}


# The schemas of parts, which no body is the whole of.
NOT_TOP_LEVEL = {"Unknown", "TypeMeta", "ObjectMeta", "NamespaceSpec", "PolicyRule", "Subject", "RoleRef",
                 "SelfSubjectAccessReviewSpec", "SubjectAccessReviewSpec", "ResourceAttributes",
                 "NonResourceAttributes", "SelfSubjectRulesReviewSpec", "TokenRequestSpec", "Preconditions"}


class ProtobufError(ValueError):
    """A body that is not a Kubernetes protobuf object this server decodes."""


def decode_object(body: bytes) -> dict:
    """The object in a protobuf body, in its JSON shape (kind and apiVersion included)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
    envelope = _message(body[len(MAGIC):], "Unknown")
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in SCHEMAS or kind in NOT_TOP_LEVEL:
        raise ProtobufError(f"this test server does not decode protobuf bodies of kind {kind!r}")
    raw = base64.b64decode(envelope.get("raw", ""))
    return {"kind": kind, "apiVersion": type_meta.get("apiVersion", ""), **_message(raw, kind)}


def _fields(data):
    """(field number, wire type, value) of each field; value is an int or bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at:at + size], at + size
            if len(value) != size:
                raise ProtobufError("truncated protobuf message")
        elif wire in (1, 5):
            value, at = data[at:at + (8 if wire == 1 else 4)], at + (8 if wire == 1 else 4)
        else:
            raise ProtobufError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _varint(data, at):
    value = shift = 0
    while True:
        if at >= len(data):
            raise ProtobufError("truncated protobuf varint")
        byte, at = data[at], at + 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def _scalar(kind, value):
    if kind == "string":
        return value.decode()
    if kind == "bytes":
        return base64.b64encode(value).decode()
    if kind == "int":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "bool":
        return bool(value)
    return _message(value, kind)


def _message(data, kind):
    obj = {}
    schema = SCHEMAS[kind]
    for number, _, value in _fields(data):
        if number not in schema:
            continue
        name, field_kind = schema[number]
        if field_kind.startswith("map:"):
            entry = {key: val for key, _, val in _fields(value)}
            obj.setdefault(name, {})[entry.get(1, b"").decode()] = _scalar(field_kind[4:], entry.get(2, b""))
        elif field_kind.startswith("list:"):
            obj.setdefault(name, []).append(_scalar(field_kind[5:], value))
        else:
            obj[name] = _scalar(field_kind, value)
    return obj
