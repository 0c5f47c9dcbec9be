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
    """Tokens to users. An identity may carry `audiences`, `expires` (seconds since the epoch) and
    `serviceAccount` ({namespace, name, uid}: the claim checked against `account_uid`)."""

    def __init__(self, configured: dict | None = None):
        self.lock = threading.Lock()
        self.account_uid = lambda namespace, name: None  # the service accounts' uids (cluster.py wires it)
        self.expiry_leeway = 0  # seconds a token outlives its `exp` (kube-apiserver: 60, go-jose's DefaultLeeway)
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
        """Forgets a token; True when it was known."""
        with self.lock:
            self._runtime_tokens.discard(token)
            return self._identities.pop(token, None) is not None

    def lookup(self, token):
        return self.check(token)[0]

    def check(self, token):
        """(identity, None), or (None, the error TokenReview reports). A service-account token
        (one with `serviceAccount`) needs its account to exist with the uid of its claim, and is
        refused once `expires` (its `exp` claim) is past, give or take `expiry_leeway` seconds,
        as kube-apiserver's service-account token validator checks them."""
        with self.lock:
            identity = self._identities.get(token)
        if identity is None:
            return None, "invalid bearer token"
        if identity.get("expires") is not None and time.time() > identity["expires"] + self.expiry_leeway:
            return None, "service account token has expired"
        account = identity.get("serviceAccount")
        if account:
            uid = self.account_uid(account["namespace"], account["name"])
            if uid is None:
                return None, 'serviceaccounts "%s" not found' % account["name"]
            if uid != account["uid"]:
                return None, f"service account UID ({uid}) does not match claim ({account['uid']})"
        return identity, None

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
