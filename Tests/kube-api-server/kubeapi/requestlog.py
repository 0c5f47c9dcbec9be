"""The request log of API requests (never control calls), which tests read to see what the
service under test asked. It never holds tokens, only the username."""

from __future__ import annotations

import collections
import datetime
import threading

REQUEST_LOG_LIMIT = 10_000


class RequestLog:
    def __init__(self, limit: int = REQUEST_LOG_LIMIT):
        self.lock = threading.Lock()
        self._entries = collections.deque(maxlen=limit)

    @staticmethod
    def entry(method, path, query, content_type, user, fault):
        """A new entry; its `code` is filled in once the request is answered."""
        return {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds"),
                "method": method, "path": path, "query": query, "contentType": content_type,
                "user": user and user["username"], "code": None, "fault": fault and fault["action"]}

    def append(self, entry):
        with self.lock:
            self._entries.append(entry)

    def entries(self, clear=False):
        """The entries, oldest first; `clear` empties the log in the same step."""
        with self.lock:
            entries = list(self._entries)
            if clear:
                self._entries.clear()
            return entries

    def clear(self):
        with self.lock:
            self._entries.clear()
