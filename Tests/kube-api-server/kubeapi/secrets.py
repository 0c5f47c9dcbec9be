"""Secrets: how a body becomes a Secret and how kube-apiserver validates one (`ValidateSecret`,
`ValidateSecretUpdate`). The operations are the shared registry's (objects.py).

`data` values are base64 on the wire (a JSON []byte: bad base64 does not decode, a 400);
`stringData` is merged into `data` on write (its keys win) and never returned; `type` defaults
to Opaque and may not change.
"""

from __future__ import annotations

import base64

from .objects import (MAX_DATA_BYTES, TOO_LONG, ShapeError, StoredObjects, go_base64, key_problems, name_problems,
                      string_map)
from .status import invalid

RESOURCE = "secrets"


class Secrets(StoredObjects):
    resource, kind, content = RESOURCE, "Secret", ("data", "type")
    field_labels = ("type", "metadata.namespace", "metadata.name")  # AddFieldLabelConversionsForSecret

    def build(self, namespace, name, source, previous):
        obj = self.skeleton(namespace, name, source, previous)
        data = {key: go_base64(value) for key, value in (string_map(source, "data", self.kind) or {}).items()}
        data.update({key: value.encode() for key, value in (string_map(source, "stringData", self.kind) or {}).items()})
        kind = source.get("type") or "Opaque"
        if not isinstance(kind, str):
            raise ShapeError("json: cannot unmarshal into Go struct field Secret.type of type v1.SecretType")
        if data:
            obj["data"] = {key: base64.b64encode(value).decode() for key, value in data.items()}
        obj["type"] = kind
        return obj

    def validate(self, obj, previous, check_name=False):
        """ValidateSecret (keys, the 1 MiB limit over the decoded values) and ValidateSecretUpdate
        (`type` is immutable)."""
        name, kind = obj["metadata"]["name"], obj["type"]
        data = {key: base64.b64decode(value) for key, value in (obj.get("data") or {}).items()}
        causes = (name_problems(name) if check_name else []) + key_problems("data", data)
        if sum(len(value) for value in data.values()) > MAX_DATA_BYTES:
            causes.append(("FieldValueTooLong", "data", TOO_LONG))
        if previous and previous["type"] != kind:
            causes.append(("FieldValueInvalid", "type", f'Invalid value: "{kind}": field is immutable'))
        if causes:
            raise invalid(self.kind, "", name, causes)
