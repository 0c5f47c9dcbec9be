"""Patches of objects: RFC 7396 merge patches, strategic merge patches (for ConfigMap and Secret
maps) and RFC 6902 JSON patches, with the media types that select them."""

from __future__ import annotations

import copy
import json

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH]  # in kube-apiserver's order


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
