"""Authentication: kube-apiserver's chain of authenticators, in its order. A verified client
certificate first (x509.CommonNameUserConversion: CN the username, each O a group, the certificate's
SHA-256 the credential id), then the bearer token, looked up (never verified) in a table of
identities: the fixed test identities, those from the config file, service-account tokens (issued
by tokens.py) and identities added at run time (dropped by a reset). The first that succeeds wins;
system:authenticated is added to its groups. Failing both, the caller is anonymous, unless either
failed with an error (a certificate that does not verify, an unknown token): then 401.
SelfSubjectReview (reviews.py) answers with the user `authenticate` found.

Audiences, as kube-apiserver checks them: every token is checked for a set of target audiences,
the API server's own (`--api-audiences`, by default its `--service-account-issuer`) for a request,
or a TokenReview's `spec.audiences`. A service-account token (a JWT with an `aud` claim) is valid
for the audiences it names (serviceaccount/jwt.go; one without `aud`: the API server's); the fixed
and configured tokens name none, like a static token file, and are valid wherever the target
audiences meet the API server's own (authenticator.WrapAudienceAgnosticToken). Either way the
audiences a token was accepted for are the intersection, TokenReview's `status.audiences`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

from .clientcerts import PeerCertificate

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
AUTHENTICATED, UNAUTHENTICATED = "system:authenticated", "system:unauthenticated"
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"  # user.CredentialIDKey
ISSUER = "https://kubernetes.default.svc.cluster.local"  # --service-account-issuer, kubeadm's default
API_AUDIENCES = [ISSUER]  # --api-audiences defaults to the issuer
INVALID_TOKEN = "invalid bearer token"  # bearertoken's error when no token authenticator knew the token


def go_quoted(values):
    """Go's %q of a []string, as kube-apiserver's messages print audiences: ["a" "b"]."""
    return "[" + " ".join(json.dumps(value) for value in values) + "]"


def with_authenticated_group(identity):
    """group.AuthenticatedGroupAdder: system:authenticated appended to the groups of any user but
    system:anonymous, unless they already hold it or system:unauthenticated."""
    groups = list(identity.get("groups") or [])
    if identity["username"] == ANONYMOUS["username"] or AUTHENTICATED in groups or UNAUTHENTICATED in groups:
        return identity
    return {**identity, "groups": groups + [AUTHENTICATED]}


def user_info(identity):
    """authentication/v1 UserInfo as Go encodes it: every field omitempty."""
    info = {"username": identity.get("username"), "uid": identity.get("uid"),
            "groups": identity.get("groups"), "extra": identity.get("extra")}
    return {key: value for key, value in info.items() if value}


def certificate_user(peer: PeerCertificate):
    """x509.CommonNameUserConversion for a verified certificate: None when it has no CN (the
    authenticator then passes, without an error). Go's pkix.Name keeps the last CN and every O."""
    names = [(name, value) for rdn in peer.subject for name, value in rdn]
    common_names = [value for name, value in names if name == "commonName"]
    if not common_names or not common_names[-1]:
        return None
    return {"username": common_names[-1], "uid": "",
            "groups": [value for name, value in names if name == "organizationName"],
            "extra": {CREDENTIAL_ID: ["X509SHA256=" + hashlib.sha256(peer.der).hexdigest()]}}


def bearer_token(header):
    """bearertoken.Authenticator: the second word of `Authorization: Bearer <token>`; None for no
    header, another scheme or an empty token (the authenticator passes, without an error)."""
    parts = (header or "").strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


class Authenticator:
    """Tokens to users. An identity may carry `audiences` (a JWT's `aud`: it makes the token
    audience-aware), `expires` (seconds since the epoch) and `serviceAccount` ({namespace, name,
    uid}: the claim checked against `account_uid`). `api_audiences` is `--api-audiences`."""

    def __init__(self, configured: dict | None = None, api_audiences: list[str] | None = None):
        self.lock = threading.Lock()
        self.api_audiences = list(api_audiences or API_AUDIENCES)
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

    def check(self, token, audiences=None):
        """(identity, None), or (None, the error TokenReview reports), for the target `audiences`
        (None: the API server's own). The audiences come first, as jwt.go checks them before the
        validator: a token with `audiences` must name one of the targets (else the JWT
        authenticator's error); one without is audience-agnostic and needs the targets to meet
        the API server's audiences (else no authenticator knew it: "invalid bearer token").
        Then a service-account token (one with `serviceAccount`) needs its account to exist with
        the uid of its claim, and is refused once `expires` (its `exp` claim) is past, give or
        take `expiry_leeway` seconds, as kube-apiserver's service-account token validator checks
        them. The identity comes with system:authenticated among its groups, as the request
        authenticator gives it, and with `audiences`: those it was accepted for."""
        targets = list(audiences or self.api_audiences)
        with self.lock:
            identity = self._identities.get(token)
        if identity is None:
            return None, INVALID_TOKEN
        if "audiences" in identity:
            claimed = identity["audiences"] or self.api_audiences  # a legacy token without `aud`
            granted = [audience for audience in claimed if audience in targets]
            if not granted:
                return None, f"token audiences {go_quoted(claimed)} is invalid for the target audiences {go_quoted(targets)}"
        else:
            granted = [audience for audience in self.api_audiences if audience in targets]
            if not granted:
                return None, INVALID_TOKEN
        if identity.get("expires") is not None and time.time() > identity["expires"] + self.expiry_leeway:
            return None, "service account token has expired"
        account = identity.get("serviceAccount")
        if account:
            uid = self.account_uid(account["namespace"], account["name"])
            if uid is None:
                return None, 'serviceaccounts "%s" not found' % account["name"]
            if uid != account["uid"]:
                return None, f"service account UID ({uid}) does not match claim ({account['uid']})"
        return {**with_authenticated_group(identity), "audiences": granted}, None

    def authenticate(self, header, peer: PeerCertificate | None = None):
        """The caller of a request, from its client certificate (if the client sent one) and its
        `Authorization` header: a user, ANONYMOUS, or None (answered 401). As union.New and
        union.NewFailOnError(…, anonymous) chain them: x509 first, so a verified certificate wins
        over any token; a certificate that does not verify is an error, as is an unknown token."""
        failed = False
        if peer is not None:
            user = None if peer.error else certificate_user(peer)
            if user:
                return with_authenticated_group(user)
            failed = peer.error is not None
        token = bearer_token(header)
        if token is not None:
            identity = self.lookup(token)
            if identity:
                return identity
            failed = True
        return None if failed else ANONYMOUS

    def reset(self):
        """Drops the identities added at run time."""
        with self.lock:
            for token in self._runtime_tokens:
                self._identities.pop(token, None)
            self._runtime_tokens.clear()
