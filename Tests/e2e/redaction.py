"""Keeping tokens out of test failure messages, shared by the end-to-end tests.

Everything read back from the API server or the service goes through safe(): pytest then shows
it with tokens redacted. Comparisons of raw text that holds a token are made into booleans first.
"""

from __future__ import annotations

import json
import re

import yaml

from support import CONFIGMAP, NAMESPACE

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
TOKEN_FIELD = re.compile(r"""(token\\?["']?\s*[:=]\s*\\?["']?)[^"'\s,}\\]+""")


def redact(text: str) -> str:
    return TOKEN_FIELD.sub(r"\1<redacted>", JWT.sub("<jwt>", text))


class SafeStr(str):
    def __repr__(self):
        return redact(str.__repr__(self))


class SafeDict(dict):
    def __repr__(self):
        return redact(dict.__repr__(self))


class SafeList(list):
    def __repr__(self):
        return redact(list.__repr__(self))


def safe(value):
    """The same value (equal, same types to json and yaml) whose repr shows no token."""
    if isinstance(value, dict):
        return SafeDict({key: safe(item) for key, item in value.items()})
    if isinstance(value, list):
        return SafeList(safe(item) for item in value)
    if isinstance(value, str):
        return SafeStr(value)
    return value


def load(text):
    """A kubeconfig (YAML or JSON text or bytes), parsed, safe to show; a parse error does not quote it."""
    try:
        return safe(yaml.safe_load(text))
    except yaml.YAMLError as error:
        raise AssertionError(f"not YAML ({type(error).__name__}): {redact(str(text))[:300]}") from None


def load_json(text):
    """JSON text or bytes, parsed, safe to show; a parse error does not quote it."""
    try:
        return safe(json.loads(text))
    except ValueError as error:
        raise AssertionError(f"not JSON ({error.__class__.__name__}): {redact(str(text))[:300]}") from None


def configmap_of(api, namespace=NAMESPACE, name=CONFIGMAP):
    """The ConfigMap as stored (None when missing), safe to show."""
    return safe(api.get_configmap(namespace, name))
