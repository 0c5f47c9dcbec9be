"""ConfigMaps: how a body becomes a ConfigMap and how kube-apiserver validates one
(`ValidateConfigMap`). The operations are the shared registry's (objects.py)."""

from __future__ import annotations

import re

from .objects import MAX_DATA_BYTES, TOO_LONG, StoredObjects, go_base64, key_problems, name_problems, string_map
from .status import invalid

RESOURCE = "configmaps"
CONFIGMAP_PATH = re.compile(r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)")


class ConfigMaps(StoredObjects):
    resource, kind, content = RESOURCE, "ConfigMap", ("data", "binaryData")

    def build(self, namespace, name, source, previous):
        obj = self.skeleton(namespace, name, source, previous)
        for field in ("data", "binaryData"):
            if string_map(source, field, self.kind):
                obj[field] = dict(source[field])
        for value in (obj.get("binaryData") or {}).values():
            go_base64(value)  # a JSON []byte: bad base64 does not decode
        return obj

    def validate(self, obj, previous, check_name=False):
        """ValidateConfigMap: name, key syntax, and the 1 MiB limit over the values (binaryData decoded)."""
        name = obj["metadata"]["name"]
        causes = name_problems(name) if check_name else []
        total = sum(len(value.encode()) for value in (obj.get("data") or {}).values())
        total += sum(len(go_base64(value)) for value in (obj.get("binaryData") or {}).values())
        for field in ("data", "binaryData"):
            causes += key_problems(field, obj.get(field) or {})
        if total > MAX_DATA_BYTES:
            causes.append(("FieldValueTooLong", "[]", TOO_LONG))
        if causes:
            raise invalid(self.kind, "", name, causes)
