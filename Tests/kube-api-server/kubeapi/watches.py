"""Watches: the open watch streams, their settings, and what each one sends, as kube-apiserver's
cacher does (apiserver's `storage/cacher`: cacher.go, cache_watcher.go, watch_cache.go) and its
watch handler (`endpoints/handlers/watch.go`) frames it.

A watch lives in its connection's thread: `WatchStream.run` sends the initial events, then waits
on the store's Condition (woken by every write, and by the controls below) and sends the changes
after its resourceVersion that its selection sees, BOOKMARKs when asked for, and ends at its
deadline. The controls end open watches cleanly (a server-side timeout: the final chunk), drop
them (the connection closes mid-stream) or send them an ERROR event first.

Faithful parts: synthetic ADDED events for "" and "0"; every change after resourceVersion R from
the per-resource history, or an ERROR event (410 Expired, `too old resource version: R (floor)`)
once R is older than it; DELETED carrying the last state at the deletion's resourceVersion;
objects moving in or out of a label selection as ADDED/DELETED; BOOKMARKs only when
allowWatchBookmarks is set, carrying just the kind and a resourceVersion newer than any event
sent; with the WatchList defaulting of 1.32, the `k8s.io/initial-events-end` bookmark after the
initial events; timeoutSeconds, or a random 30-60 minutes (--min-request-timeout 1800 s, times
1 to 2).
"""

from __future__ import annotations

import math
import random
import socket
import time

from .status import APIError, status_for
from .store import ADDED, DELETED, MODIFIED, ObjectStore, TooOld

INITIAL_EVENTS_END = "k8s.io/initial-events-end"  # metav1.InitialEventsAnnotationKey
MIN_REQUEST_TIMEOUT = 1800  # kube-apiserver's --min-request-timeout default, in seconds
PRE_TIMEOUT_BOOKMARK = 2.0  # cache_watcher.go: a bookmark 2 s before the watch's deadline
DEFAULT_SETTINGS = {
    "bookmarkSeconds": 1.0,  # kube-apiserver: about once a minute (cacher.go's defaultBookmarkFrequency)
    "historySize": 200,  # the watch cache's ring per resource (real: sized dynamically, 100 to 100 Ki)
    "tooOld": "event",  # "event": 200 then an ERROR event, as the cacher; "status": a 410 answer first
    "timeoutSeconds": None,  # a watch without timeoutSeconds: None is kube-apiserver's random 30-60 min
    "watchList": True,  # the WatchList feature gate (on by default in 1.32): sendInitialEvents
    "resourceVersionWaitSeconds": 3.0,  # waitUntilFreshAndBlock: how long a too new resourceVersion is waited for
}


def expired(resource_version, floor):
    """errors.NewResourceExpired, as the watch cache words it."""
    return APIError(410, "Expired", f"too old resource version: {resource_version} ({floor})")


def too_large(resource_version, current):
    """storage.NewTooLargeResourceVersionError: a 504 the client retries after 1 s."""
    return APIError(504, "Timeout", f"Timeout: Too large resource version: {resource_version}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": 1}, headers={"Retry-After": "1"})


def bookmark(kind, resource_version, initial_events_end=False, api_version="v1"):
    """A BOOKMARK: an empty object of the watched kind with only a resourceVersion (Go encodes the
    zero creationTimestamp as null)."""
    meta = {"resourceVersion": str(resource_version), "creationTimestamp": None}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": meta}}


class Watches:
    """The open watches (for the controls and `watch_count`) and the watch settings. Its state is
    guarded by the store's lock, so that a write, a control and a watch share one Condition."""

    def __init__(self, store: ObjectStore, config: dict | None = None):
        self.store = store
        self.initial_settings = {**DEFAULT_SETTINGS, **(config or {})}
        self._settings = dict(DEFAULT_SETTINGS)
        self._open = {}  # number -> WatchStream
        self._numbers = 0
        self.served = 0
        self.settings(self.initial_settings)

    # MARK: - Settings

    def settings(self, changes=None):
        """Sets (a control call) and returns the settings; a key left out keeps its value."""
        changes = changes or {}
        unknown = set(changes) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError("unknown watch settings: " + ", ".join(sorted(unknown)))
        checked = dict(changes)
        for key in ("bookmarkSeconds", "resourceVersionWaitSeconds"):
            if key in checked and not (isinstance(checked[key], (int, float)) and checked[key] > 0):
                raise ValueError(f"{key} must be a positive number of seconds")
        timeout = checked.get("timeoutSeconds")
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError("timeoutSeconds must be a positive number of seconds, or null")
        if checked.get("tooOld", "event") not in ("event", "status"):
            raise ValueError('tooOld must be "event" or "status"')
        if "watchList" in checked and not isinstance(checked["watchList"], bool):
            raise ValueError("watchList must be true or false")
        with self.store.lock:
            if "historySize" in checked:
                self.store.history_size = checked["historySize"]
            self._settings.update(checked)
            self._settings["historySize"] = self.store.history_size
            self.store.changed.notify_all()  # open watches pick up a new bookmark interval
            return dict(self._settings)

    def restart(self):
        """For a reset: the config's settings again, and a new count of watches served."""
        with self.store.lock:
            self.settings(self.initial_settings)
            self.served = 0

    def setting(self, key):
        with self.store.lock:
            return self._settings[key]

    # MARK: - Open watches

    def start(self, objects, request, namespace, selection, options):
        """A registered WatchStream for a validated watch request, its first events decided (under
        the store's lock, so no write falls between them and the changes that follow). With
        `tooOld: "status"`, a too old resourceVersion is the 410 answer instead."""
        resource = objects.resource
        requested = options.numeric_resource_version(resource)
        stream = WatchStream(self, objects.kind, resource, selection, options, request, objects.api_version)
        with self.store.changed:
            if options.send_initial_events and requested > self.store.resource_version:
                if not self.store.wait_for(requested, self.setting("resourceVersionWaitSeconds")):
                    stream.fail(too_large(requested, self.store.resource_version))
            if stream.stop is None and (options.send_initial_events or (
                    options.send_initial_events is None and options.resource_version in ("", "0"))):
                objects_now, _ = self.store.items(resource, namespace)
                stream.cursor = stream.sent = self.store.resource_version
                stream.pending = [{"type": ADDED, "object": obj} for obj in objects_now if selection.matches(obj)]
                if options.send_initial_events and options.allow_bookmarks:
                    stream.pending.append(bookmark(objects.kind, stream.cursor, initial_events_end=True,
                                                   api_version=objects.api_version))
            elif stream.stop is None:
                start = requested or self.store.resource_version  # sendInitialEvents=false from "" or "0": from now
                floor = self.store.watch_floor(resource)
                if start < floor:
                    if self.setting("tooOld") == "status":
                        raise expired(start, floor)
                    stream.fail(expired(start, floor))
                stream.cursor = stream.sent = start
            self._numbers += 1
            self.served += 1
            stream.number = self._numbers
            self._open[stream.number] = stream
        return stream

    def unregister(self, stream):
        with self.store.changed:
            if self._open.pop(stream.number, None) is not None:
                self.store.changed.notify_all()

    def describe(self):
        """{"open": [...], "served": N}: the open watches, oldest first, and how many were started
        since the last reset."""
        with self.store.lock:
            return {"open": [stream.describe() for _, stream in sorted(self._open.items())], "served": self.served}

    def stop_all(self, how, code=None, message=None, timeout=5.0):
        """Stops every open watch: "end" (the final chunk, as at a server-side timeout), "drop"
        (the connection closes mid-stream) or "error" (an ERROR event with a Status of `code`,
        then the end). Returns how many there were, once they are gone (or after `timeout`)."""
        with self.store.changed:
            targets = list(self._open.values())
            for stream in targets:
                stream.stop = ("error", code, message) if how == "error" else how
                if how == "drop":
                    stream.close_connection()
            self.store.changed.notify_all()
            deadline = time.monotonic() + timeout
            while any(stream.number in self._open for stream in targets) and time.monotonic() < deadline:
                self.store.changed.wait(max(0.0, deadline - time.monotonic()))
            return len(targets)


class WatchStream:
    """One watch: what it sends first (`pending`), then the changes after `cursor` its selection
    sees. `stop` is None while it runs, or how it should end: "end", "drop", "gone" (the client
    went away), or ("error", code, message)."""

    def __init__(self, watches, kind, resource, selection, options, request, api_version="v1"):
        self.watches, self.store = watches, watches.store
        self.kind, self.resource, self.selection, self.api_version = kind, resource, selection, api_version
        self.bookmarks = options.allow_bookmarks
        self.path, self.query, self.user = request.path, request.query, request.user["username"]
        self.connection = None  # the socket, once the server streams (for "drop")
        self.cursor = self.sent = 0  # the last resourceVersion looked at, and the newest one sent
        self.pending, self.stop, self.number = [], None, 0
        self.started = time.monotonic()
        timeout = options.timeout_seconds if options.timeout_seconds and options.timeout_seconds > 0 else None
        if timeout is None:
            timeout = watches.setting("timeoutSeconds") or MIN_REQUEST_TIMEOUT * (random.random() + 1.0)
        self.deadline = self.started + timeout

    def fail(self, error: APIError):
        """Sends an ERROR event with this Status, then ends (the cacher's errWatcher)."""
        self.pending = [{"type": "ERROR", "object": error.body()}]
        self.stop = "end"

    def describe(self):
        return {"id": self.number, "path": self.path, "query": {key: values[0] for key, values in self.query.items()},
                "user": self.user, "resourceVersion": str(self.sent),
                "seconds": round(time.monotonic() - self.started, 3)}

    def close_connection(self):
        """Closes the TCP connection under the stream (no TLS close_notify, no final chunk)."""
        if self.connection is not None:
            try:
                socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
            except OSError:
                pass

    def client_gone(self):
        """The client closed its end: the stream stops at once (as the request's context ends)."""
        with self.store.changed:
            if self.stop is None:
                self.stop = "gone"
                self.store.changed.notify_all()

    # MARK: - The stream

    def run(self, send) -> str:
        """Sends events (dicts) through `send` until the watch ends; returns "end" for a clean end
        (the final chunk) or "drop" to close the connection without one. `send` raises OSError
        once the client is gone."""
        try:
            for event in self.pending:
                send(event)
            if self.stop == "end":
                return "end"
            next_bookmark = self._next_bookmark(time.monotonic())
            while True:
                changes, current, stop, too_old = self._wait(next_bookmark)
                if stop in ("drop", "gone"):
                    return "drop"
                for change in changes:
                    event = self._event(change)
                    if event is not None:
                        send(event)
                        self.sent = change.resource_version
                if too_old or stop == "end":
                    return "end"  # the cacher ends a watcher it can no longer feed
                if isinstance(stop, tuple):
                    send({"type": "ERROR", "object": self._error(*stop[1:])})
                    return "end"
                now = time.monotonic()
                if now >= self.deadline:
                    return "end"
                if next_bookmark is not None and now >= next_bookmark:
                    if current > self.sent:  # only a newer resourceVersion than the client has seen
                        send(bookmark(self.kind, current, api_version=self.api_version))
                        self.sent = current
                    next_bookmark = self._next_bookmark(now)
        finally:
            self.watches.unregister(self)

    def _wait(self, next_bookmark):
        """Blocks on the store's Condition until there are changes, a stop, the deadline or the
        bookmark time; returns (changes, current resourceVersion, stop, too_old)."""
        with self.store.changed:
            while True:
                try:
                    changes = self.store.changes_after(self.resource, self.cursor)
                except TooOld:
                    return [], self.store.resource_version, self.stop, True
                if changes or self.stop is not None:
                    break
                now = time.monotonic()
                wake = min(self.deadline, next_bookmark if next_bookmark is not None else math.inf)
                if now >= wake:
                    break
                self.store.changed.wait(wake - now)
            self.cursor = self.store.resource_version
            return changes, self.cursor, self.stop, False

    def _next_bookmark(self, now):
        """cache_watcher.go's nextBookmarkTime: every interval, or 2 s before the deadline if that
        comes first; none once that moment has passed."""
        if not self.bookmarks:
            return None
        at = min(now + self.watches.setting("bookmarkSeconds"), self.deadline - PRE_TIMEOUT_BOOKMARK)
        return at if at >= now else None

    def _event(self, change):
        """cache_watcher.go's convertToWatchEvent: the change as this watch's selection sees it."""
        now = change.object is not None and self.selection.matches(change.object)
        before = change.previous is not None and self.selection.matches(change.previous)
        if now:
            return {"type": MODIFIED if before else ADDED, "object": change.object}
        if before:  # deleted, or moved out of the selection: the last state, at this resourceVersion
            meta = {**change.previous["metadata"], "resourceVersion": str(change.resource_version)}
            return {"type": DELETED, "object": {**change.previous, "metadata": meta}}
        return None

    @staticmethod
    def _error(code, message):
        """The Status of a control's ERROR event. A 410 says what etcd3's watcher says when its
        revision is compacted under it (interpretWatchError)."""
        if code == 410 and message is None:
            message = "The resourceVersion for the provided watch is too old."
        return status_for(code, message).body()
