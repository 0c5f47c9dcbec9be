"""The stored objects, keyed by (resource, namespace, name), the one resourceVersion counter, and
each resource's bounded history of changes, which watches are served from.

Every resource (ConfigMaps, Secrets, ServiceAccounts, Namespaces, the RBAC kinds) keeps its
objects here (a cluster-scoped one under namespace ""), so that they share
kube-apiserver's global, only increasing resourceVersion (etcd's revision). `put` and `delete` are
the only places an object changes; each records a `Change` and wakes whoever waits on `changed`
(the open watches, each in its connection's thread).

The history is kube-apiserver's watch cache (apiserver's `storage/cacher/watch_cache.go`): one per
resource, a ring of its latest changes. A watch may start at a resourceVersion R only if every
change after R is still in it: R >= `watch_floor`, which is the oldest kept change's resourceVersion
minus one, or, while nothing has been evicted since the history was last emptied, the
resourceVersion it was emptied at (the cache's `listResourceVersion`). Older is "too old resource
version: R (floor)", 410 Expired.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
DEFAULT_HISTORY_SIZE = 200


@dataclass(frozen=True)
class Change:
    """One write, as the watch cache keeps it: the object after (None for a delete) and before
    (None for a create), at the write's resourceVersion."""

    type: str
    resource_version: int
    namespace: str
    name: str
    object: dict | None
    previous: dict | None


class TooOld(Exception):
    """A resourceVersion older than the history reaches back; `floor` is the oldest one a watch
    or a consistent read may start from."""

    def __init__(self, resource_version, floor):
        super().__init__(f"too old resource version: {resource_version} ({floor})")
        self.resource_version, self.floor = resource_version, floor


def storage_key(obj):
    """An object's etcd key below its resource's prefix, "namespace/name" ("/name" for a
    cluster-scoped one, whose etcd key has no namespace): lists come in its order."""
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


class ObjectStore:
    """Objects are never mutated in place, only replaced. `lock` (re-entrant) is held by callers
    that read, check and write in one step (a conditional update); `changed`, a Condition on that
    lock, is notified after every write and whenever a watch should look at its state again."""

    def __init__(self, history_size: int = DEFAULT_HISTORY_SIZE):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.resource_version = 0
        self._objects = {}
        self._history_size = history_size
        self._histories = collections.defaultdict(collections.deque)  # resource -> Changes, oldest first
        self._emptied_at = collections.defaultdict(int)  # resource -> resourceVersion of the last compaction
        self._evicted = set()  # resources that dropped a change since their history was last emptied

    def get(self, resource, namespace, name):
        with self.lock:
            return self._objects.get((resource, namespace, name))

    def put(self, resource, obj):
        """Saves `obj` under a new resourceVersion (the global, monotonically increasing counter)."""
        with self.lock:
            self.resource_version += 1
            obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.resource_version)}}
            namespace, name = obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
            previous = self._objects.get((resource, namespace, name))
            self._objects[(resource, namespace, name)] = obj
            self._record(resource, Change(MODIFIED if previous else ADDED, self.resource_version, namespace, name,
                                          obj, previous))
            return obj

    def delete(self, resource, namespace, name):
        """Removes an object (a new resourceVersion) and returns it, or None when missing."""
        with self.lock:
            obj = self._objects.pop((resource, namespace, name), None)
            if obj is not None:
                self.resource_version += 1
                self._record(resource, Change(DELETED, self.resource_version, namespace, name, None, obj))
            return obj

    def items(self, resource, namespace=""):
        """(objects in key order, the current resourceVersion); namespace "" = every namespace."""
        with self.lock:
            found = [obj for (kind, space, _), obj in self._objects.items() if kind == resource and namespace in ("", space)]
            return sorted(found, key=storage_key), str(self.resource_version)

    def clear(self):
        """Forgets every object; the resourceVersion keeps counting up. No changes are recorded:
        a reset is a new cluster, not a series of deletes."""
        with self.lock:
            self._objects.clear()

    # MARK: - History

    def _record(self, resource, change):
        history = self._histories[resource]
        history.append(change)
        while len(history) > self._history_size:
            history.popleft()
            self._evicted.add(resource)
        self.changed.notify_all()

    def watch_floor(self, resource) -> int:
        """The oldest resourceVersion a watch of `resource` may start from (watch_cache.go: the
        oldest kept change's resourceVersion - 1, or the listResourceVersion)."""
        with self.lock:
            history = self._histories[resource]
            if resource in self._evicted and history:
                return history[0].resource_version - 1
            return self._emptied_at[resource]

    def changes_after(self, resource, resource_version: int) -> list[Change]:
        """The changes of `resource` after `resource_version`, oldest first; TooOld when some of
        them are no longer kept."""
        with self.lock:
            floor = self.watch_floor(resource)
            if resource_version < floor:
                raise TooOld(resource_version, floor)
            return [change for change in self._histories[resource] if change.resource_version > resource_version]

    def items_at(self, resource, namespace, resource_version: int) -> list[dict]:
        """The objects of `resource` as they were at `resource_version` (in key order), rebuilt
        by undoing the later changes; TooOld when the history does not reach back."""
        with self.lock:
            state = {(space, name): obj for (kind, space, name), obj in self._objects.items() if kind == resource}
            for change in reversed(self.changes_after(resource, resource_version)):
                key = (change.namespace, change.name)
                if change.previous is None:
                    state.pop(key, None)
                else:
                    state[key] = change.previous
            return sorted((obj for (space, _), obj in state.items() if namespace in ("", space)), key=storage_key)

    def compact(self) -> int:
        """Forgets every resource's history, as an etcd compaction followed by a watch cache
        re-initialisation does: a watch or consistent read from an older resourceVersion gets
        410. Returns the resourceVersion watches may still start from."""
        with self.lock:
            for history in self._histories.values():
                history.clear()
            emptied_at = self.resource_version
            self._emptied_at = collections.defaultdict(lambda: emptied_at)
            self._evicted.clear()
            self.changed.notify_all()
            return self.resource_version

    @property
    def history_size(self) -> int:
        return self._history_size

    @history_size.setter
    def history_size(self, size: int):
        """Keeps at most `size` (at least 1) changes per resource from now on, evicting at once."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError("the history size must be a whole number, 1 or more")
        with self.lock:
            self._history_size = size
            for resource, history in self._histories.items():
                while len(history) > size:
                    history.popleft()
                    self._evicted.add(resource)
            self.changed.notify_all()

    def wait_for(self, resource_version: int, seconds: float) -> bool:
        """Waits up to `seconds` until the store has reached `resource_version` (as the watch
        cache's waitUntilFreshAndBlock does for a read that asks for a newer one)."""
        deadline = time.monotonic() + seconds
        with self.changed:
            while self.resource_version < resource_version:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
            return True
