"""Authentication: bearer tokens looked up (never verified) in a table of identities.

The fixed test identities, those from the config file, service-account tokens (issued by
tokens.py) and identities added at run time (dropped by a reset). A SelfSubjectReview would ask
`authenticate` who its caller is.
"""

from __future__ import annotations

import threading
import time

ADMIN_TOKEN = "admin-token"  # group system:masters: may do anything
READER_TOKEN = "reader-token"  # may only get ConfigMaps
NOBODY_TOKEN = "nobody-token"  # authenticated, may do nothing

# Fixed test identities; the service account's token is random and lives in DIR/serviceaccount.
FIXED_IDENTITIES = {
    ADMIN_TOKEN: {"username": "admin", "uid": "admin-uid", "groups": ["system:masters", "system:authenticated"]},
    READER_TOKEN: {"username": "reader", "uid": "reader-uid", "groups": ["system:authenticated"]},
    NOBODY_TOKEN: {"username": "nobody", "uid": "nobody-uid", "groups": ["system:authenticated"]},
}
ANONYMOUS = {"username": "system:anonymous", "uid": "", "groups": ["system:unauthenticated"]}


class Authenticator:
    """Tokens to users. An identity may carry `audiences` and `expires` (seconds since the epoch)."""

    def __init__(self, configured: dict | None = None):
        self.lock = threading.Lock()
        self._identities = {token: dict(identity) for token, identity in FIXED_IDENTITIES.items()}
        self._identities.update({token: dict(value) for token, value in (configured or {}).items()})
        self._runtime_tokens = set()

    def register(self, token, identity, runtime=False):
        """Makes `token` authenticate as `identity`; a run-time one is dropped by `reset`."""
        with self.lock:
            self._identities[token] = identity
            if runtime:
                self._runtime_tokens.add(token)

    def revoke(self, token):
        with self.lock:
            self._identities.pop(token, None)

    def lookup(self, token):
        with self.lock:
            identity = self._identities.get(token)
        if identity and identity.get("expires") and identity["expires"] < time.time():
            return None
        return identity

    def authenticate(self, header):
        """The caller of an `Authorization: Bearer` header: no header is anonymous, an unknown
        token is None (answered 401)."""
        scheme, _, token = (header or "").partition(" ")
        if not token.strip():
            return ANONYMOUS
        return self.lookup(token.strip()) if scheme.lower() == "bearer" else None

    def reset(self):
        """Drops the identities added at run time."""
        with self.lock:
            for token in self._runtime_tokens:
                self._identities.pop(token, None)
            self._runtime_tokens.clear()
