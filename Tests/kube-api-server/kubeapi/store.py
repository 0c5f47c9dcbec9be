"""The stored objects, keyed by (resource, namespace, name), and the one resourceVersion counter.

Every resource (ConfigMaps today; Secrets next) keeps its objects here, so that they share
kube-apiserver's global, only increasing resourceVersion. A watch would subscribe to the writes
made here (`put` and `delete` are the only places an object changes).
"""

from __future__ import annotations

import threading


class ObjectStore:
    """Objects are never mutated in place, only replaced. `lock` (re-entrant) is held by callers
    that read, check and write in one step (a conditional update)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.resource_version = 0
        self._objects = {}

    def get(self, resource, namespace, name):
        with self.lock:
            return self._objects.get((resource, namespace, name))

    def put(self, resource, obj):
        """Saves `obj` under a new resourceVersion (the global, monotonically increasing counter)."""
        with self.lock:
            self.resource_version += 1
            obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.resource_version)}}
            self._objects[(resource, obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
            return obj

    def delete(self, resource, namespace, name):
        """Removes an object (a new resourceVersion) and returns it, or None when missing."""
        with self.lock:
            obj = self._objects.pop((resource, namespace, name), None)
            if obj is not None:
                self.resource_version += 1
            return obj

    def items(self, resource, namespace=""):
        """(objects sorted by namespace and name, the current resourceVersion); "" = every namespace."""
        with self.lock:
            found = [obj for (kind, space, _), obj in sorted(self._objects.items())
                     if kind == resource and namespace in ("", space)]
            return found, str(self.resource_version)

    def clear(self):
        """Forgets every object; the resourceVersion keeps counting up."""
        with self.lock:
            self._objects.clear()
