"""Service-account tokens: issuing them (the mounted token, TokenRequest with its lifetime cap),
the mounted volume as kubelet writes it, and its rotation. Bound tokens and TokenRequest's other
fields belong here."""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

from .authn import CREDENTIAL_ID, ISSUER, Authenticator
from .authz import Authorizer
from .request import parse_object, rfc3339
from .serviceaccounts import ServiceAccounts
from .status import invalid, not_found


def service_account_token(namespace, name, uid, now, expires, audiences, jti):
    """A JWT-shaped opaque token with the claims kube-apiserver puts in projected tokens. The
    signature is random: only this server's lookup table makes it valid."""
    claims = {"aud": audiences, "exp": expires, "iat": now, "iss": ISSUER, "jti": jti,
              "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
              "nbf": now, "sub": f"system:serviceaccount:{namespace}:{name}"}
    header = {"alg": "RS256", "kid": "kube-api-test-server"}
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64)]
    return ".".join(base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in parts)


def write_atomic_volume(path: Path, files: dict[str, tuple[str, int]]) -> None:
    """Writes `files` ({name: (text, mode)}) into `path` the way kubelet's AtomicWriter writes a
    projected or Secret volume: the files live in a timestamped `..2026_...` directory, `..data`
    links to it, and each name links to `..data/<name>`. A rewrite swaps `..data` with one atomic
    rename and removes the previous directory."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.")
    fresh = Path(tempfile.mkdtemp(prefix=stamp, dir=path))
    for name, (text, mode) in files.items():
        (fresh / name).write_text(text)
        (fresh / name).chmod(mode)
    fresh.chmod(0o755)
    data, staged = path / "..data", path / "..data_tmp"
    previous = os.readlink(data) if data.is_symlink() else None
    staged.unlink(missing_ok=True)
    os.symlink(fresh.name, staged)
    os.replace(staged, data)
    for name in files:
        if not (path / name).is_symlink():
            os.symlink(f"..data/{name}", path / name)
    if previous:
        shutil.rmtree(path / previous, ignore_errors=True)


class ServiceAccountVolume:
    """DIR/serviceaccount as kubelet mounts it (see write_atomic_volume): `token`, `ca.crt` and
    `namespace`; a rotation swaps `..data` atomically."""

    def __init__(self, path: Path, ca_pem: str, namespace: str):
        self.path, self.ca_pem, self.namespace = path, ca_pem, namespace
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)

    def write(self, token):
        write_atomic_volume(self.path, {"token": (token, 0o644), "ca.crt": (self.ca_pem, 0o644),
                                        "namespace": (self.namespace, 0o644)})


class Tokens:
    """Issues service-account tokens into the authenticator, owns the mounted one, and answers
    TokenRequest with kube-apiserver's lifetime cap (`--service-account-max-token-expiration`)."""

    def __init__(self, authn: Authenticator, authz: Authorizer, accounts: ServiceAccounts, namespace: str, name: str,
                 volume: ServiceAccountVolume, settings: dict):
        self.authn, self.authz, self.accounts = authn, authz, accounts
        self.namespace, self.name, self.volume = namespace, name, volume
        self.initial_settings = settings
        self.lock = threading.RLock()
        self.max_expiration = None
        self.token = None

    @property
    def username(self):
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def mount(self):
        """The first mounted token, once the service's account exists."""
        with self.lock:
            self.token = self.mounted_token()
            self.volume.write(self.token)

    def settings(self, spec=None):
        """Sets (from a control call) and returns {maxExpirationSeconds, expiryLeewaySeconds}; a
        key left out keeps its value, null lifts the cap."""
        with self.lock:
            spec = spec or {}
            if "maxExpirationSeconds" in spec:
                cap = spec["maxExpirationSeconds"]
                if cap is not None and (not isinstance(cap, int) or cap <= 0):
                    raise ValueError("maxExpirationSeconds must be a positive whole number of seconds, or null")
                self.max_expiration = cap
            if "expiryLeewaySeconds" in spec:
                leeway = spec["expiryLeewaySeconds"]
                if not isinstance(leeway, int) or leeway < 0:
                    raise ValueError("expiryLeewaySeconds must be a whole number of seconds, 0 or more")
                self.authn.expiry_leeway = leeway
            return {"maxExpirationSeconds": self.max_expiration, "expiryLeewaySeconds": self.authn.expiry_leeway}

    def reset(self):
        """The settings of the config file again."""
        self.settings({"maxExpirationSeconds": self.initial_settings.get("maxExpirationSeconds"),
                       "expiryLeewaySeconds": self.initial_settings.get("expiryLeewaySeconds", 0)})

    def issue(self, account, lifetime, audiences, enforce_expiry=True, now=None):
        """Registers a new token for a ServiceAccount object (its uid goes into the claims), valid
        from `now` (whole seconds, as JWT times are); without `enforce_expiry` it outlives its claims."""
        meta = account["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        now = int(time.time()) if now is None else now
        jti = str(uuid.uuid4())
        token = service_account_token(namespace, name, uid, now, now + lifetime, audiences, jti)
        self.authn.register(token, {
            "username": f"system:serviceaccount:{namespace}:{name}", "uid": uid,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
            "extra": {CREDENTIAL_ID: [f"JTI={jti}"]},  # ServiceAccountTokenJTI, on by default since 1.30
            "audiences": audiences, "expires": now + lifetime if enforce_expiry else None,
            "serviceAccount": {"namespace": namespace, "name": name, "uid": uid}})
        return token

    def mounted_token(self):
        """The automounted kind: 1 h by its claims, but the API server keeps it valid (extended
        expiry); for the API server's audiences, as kubelet asks for none."""
        account = self.accounts.get(self.namespace, self.name)
        return self.issue(account, 3607, list(self.authn.api_audiences), enforce_expiry=False)

    def rotate(self, invalidate_old):
        """Kubelet's refresh: a new token in a new directory, `..data` swapped atomically."""
        with self.lock:
            old, self.token = self.token, self.mounted_token()
            if invalidate_old:
                self.authn.revoke(old)
            self.volume.write(self.token)
            return self.token

    # MARK: - TokenRequest

    def request_token(self, req, namespace, name):
        """As pkg/registry/core/serviceaccount/storage/token.go: authorisation (403), decoding,
        NamespaceLifecycle (404 for a missing namespace, when on), the body's name and namespace,
        the account (404), validation (422), then the cap (a Warning)."""
        self.authz.authorize(req.user, "create", "serviceaccounts", namespace, name, subresource="token")
        body = parse_object(req)
        if self.accounts.namespaces is not None:
            self.accounts.namespaces.admit_create(namespace)
        meta, spec = body.get("metadata") or {}, body.get("spec") or {}
        for field, expected in (("name", name), ("namespace", namespace)):
            if meta.get(field) and meta[field] != expected:
                raise invalid("TokenRequest", "authentication.k8s.io", name, [(
                    "FieldValueInvalid", f"metadata.{field}",
                    f'Invalid value: "{meta[field]}": must match the service account {field} if specified')])
        account = self.accounts.get(namespace, name)
        if account is None:
            raise not_found("serviceaccounts", name)
        seconds = spec.get("expirationSeconds", 3600)
        if not isinstance(seconds, int) or seconds < 600:
            raise invalid("TokenRequest", "authentication.k8s.io", "", [(
                "FieldValueInvalid", "spec.expirationSeconds",
                f"Invalid value: {json.dumps(seconds)}: may not specify a duration less than 10 minutes")])
        headers, cap = {}, self.max_expiration
        if cap and seconds > cap:
            message = f"requested expiration of {seconds} seconds shortened to {cap} seconds"
            headers["Warning"] = f'299 - "{message}"'
            seconds = cap
        audiences = spec.get("audiences") or list(self.authn.api_audiences)  # token.go: none asked, r.auds
        now = int(time.time())  # one instant for the claims and the status, as token.go does
        token = self.issue(account, seconds, audiences, now=now)
        return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"name": name, "namespace": namespace, "creationTimestamp": rfc3339(now)},
                     "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": None},
                     "status": {"token": token, "expirationTimestamp": rfc3339(now + seconds)}}, headers
