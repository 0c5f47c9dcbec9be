"""Service-account tokens: issuing them (the mounted token, TokenRequest), the mounted volume as
kubelet writes it, and its rotation. Bound tokens and TokenRequest's other fields belong here."""

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

from .authn import Authenticator
from .authz import Authorizer
from .request import parse_object, rfc3339
from .status import invalid

API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


def service_account_token(namespace, name, uid, lifetime, audiences):
    """A JWT-shaped opaque token with the claims kube-apiserver puts in projected tokens. The
    signature is random: only this server's lookup table makes it valid."""
    now = int(time.time())
    claims = {"aud": audiences, "exp": now + lifetime, "iat": now, "iss": API_AUDIENCE, "jti": str(uuid.uuid4()),
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


class ServiceAccounts:
    """Issues service-account tokens into the authenticator, and owns the mounted one."""

    def __init__(self, authn: Authenticator, authz: Authorizer, namespace: str, name: str,
                 volume: ServiceAccountVolume):
        self.authn, self.authz, self.namespace, self.name, self.volume = authn, authz, namespace, name, volume
        self.lock = threading.RLock()
        self._uids = {}
        self.token = self.mounted_token()
        self.volume.write(self.token)

    @property
    def username(self):
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def issue(self, namespace, name, lifetime, audiences, enforce_expiry=True):
        """Registers a new token for a service account; without `enforce_expiry` it outlives its claims."""
        with self.lock:
            uid = self._uids.setdefault((namespace, name), str(uuid.uuid4()))
        token = service_account_token(namespace, name, uid, lifetime, audiences)
        self.authn.register(token, {
            "username": f"system:serviceaccount:{namespace}:{name}", "uid": uid,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"],
            "audiences": audiences, "expires": time.time() + lifetime if enforce_expiry else None})
        return token

    def mounted_token(self):
        """The automounted kind: 1 h by its claims, but the API server keeps it valid (extended expiry)."""
        return self.issue(self.namespace, self.name, 3607, [API_AUDIENCE], enforce_expiry=False)

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
        self.authz.authorize(req.user, "create", "serviceaccounts", namespace, name, subresource="token")
        spec = parse_object(req).get("spec") or {}
        seconds = spec.get("expirationSeconds", 3600)
        if not isinstance(seconds, int) or seconds < 600:
            raise invalid("TokenRequest", "authentication.k8s.io", name, [(
                "FieldValueInvalid", "spec.expirationSeconds",
                f"Invalid value: {json.dumps(seconds)}: may not specify a duration less than 10 minutes")])
        audiences = spec.get("audiences") or [API_AUDIENCE]
        token = self.issue(namespace, name, seconds, audiences)
        expires = rfc3339(time.time() + seconds)
        return 201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                     "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
                     "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": None},
                     "status": {"token": token, "expirationTimestamp": expires}}
