"""Fault injection: the faults a test adds through the control API, matched against API
requests (method, path, query, and whether it is a watch), and what each action does (`status`,
`delay`, `drop`, `conflict`)."""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qs

import yaml

from .configmaps import CONFIGMAP_PATH, RESOURCE as CONFIGMAPS
from .listoptions import go_bool
from .status import conflict, status_for
from .store import ObjectStore

ACTIONS = ("status", "delay", "drop", "conflict")


class Faults:
    """The injected faults, in the order they were added; only the first matching one acts."""

    def __init__(self):
        self.lock = threading.Lock()
        self._faults, self._ids = [], 0

    def add(self, spec):
        if spec.get("action") not in ACTIONS:
            raise ValueError("action must be one of " + ", ".join(ACTIONS))
        for key in ("pathRegex", "queryRegex"):
            if spec.get(key):
                re.compile(spec[key])
        if "watch" in spec and not isinstance(spec["watch"], bool):
            raise ValueError("watch must be true or false")
        with self.lock:
            self._ids += 1
            fault = {"id": self._ids, "count": 1, **spec}
            self._faults.append(fault)
            return fault

    def list(self):
        """The faults with their remaining counts."""
        with self.lock:
            return [dict(fault) for fault in self._faults]

    def clear(self):
        with self.lock:
            self._faults.clear()

    def take(self, method, path, query=""):
        """The first fault matching the request, with its count used up by one (-1 = forever)."""
        watch = bool(go_bool(parse_qs(query, keep_blank_values=True).get("watch")))
        with self.lock:
            for fault in self._faults:
                wanted = (fault.get("method") or "*").upper()
                if fault["count"] == 0 or wanted not in ("*", method):
                    continue
                if not path.startswith(fault.get("path", "")):
                    continue
                if fault.get("pathRegex") and not re.search(fault["pathRegex"], path):
                    continue
                if fault.get("queryRegex") and not re.search(fault["queryRegex"], query):
                    continue
                if "watch" in fault and fault["watch"] != watch:
                    continue
                if fault["count"] > 0:
                    fault["count"] -= 1
                return dict(fault)
        return None


# MARK: - `status`


def fault_status(fault, path):
    """The answer of a `status` fault; a 409 on a ConfigMap is the real optimistic-lock conflict."""
    code = int(fault.get("code", 503))
    retry = fault.get("retryAfter")
    headers = {"Retry-After": str(int(retry))} if retry is not None else {}
    target = CONFIGMAP_PATH.fullmatch(path)
    if code == 409 and target and "message" not in fault:
        error = conflict("configmaps", target.group(2))
    else:
        error = status_for(code, fault.get("message"), plain_text=bool(fault.get("plainText")))
    if retry is not None:
        error.details = {**(error.details or {}), "retryAfterSeconds": int(retry)}
    error.headers = headers
    return error


# MARK: - `conflict`


def concurrent_write(store: ObjectStore, path, fault):
    """The `conflict` fault: another writer changes the ConfigMap first (a data key, by default
    `concurrent-writer`, and/or kubeconfig entries), so the request's resourceVersion is stale."""
    target = CONFIGMAP_PATH.fullmatch(path)
    with store.lock:
        current = target and store.get(CONFIGMAPS, *target.groups())
        if not current:
            return
        data = dict(current.get("data") or {})
        kubeconfig = fault.get("kubeconfig")
        default = {} if kubeconfig else {"concurrent-writer": str(store.resource_version + 1)}
        data.update(fault.get("data") or default)
        if kubeconfig:
            key = kubeconfig.get("key", "config")
            data[key] = add_kubeconfig_entries(data.get(key), kubeconfig)
        store.put(CONFIGMAPS, {**current, "data": data})


def add_kubeconfig_entries(text, entries):
    """Adds (or replaces by name) clusters/users/contexts in a kubeconfig YAML document."""
    doc = yaml.safe_load(text or "") or {"apiVersion": "v1", "kind": "Config"}
    for section in ("clusters", "users", "contexts"):
        for entry in entries.get(section, []):
            kept = [item for item in doc.get(section) or [] if item.get("name") != entry.get("name")]
            doc[section] = kept + [entry]
    return yaml.safe_dump(doc, sort_keys=False)
