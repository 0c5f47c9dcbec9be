"""ServiceAccount objects: get, list, watch, create, update, patch and delete through the shared
registry (objects.py).

Their uid is what service-account tokens are checked against (tokens.py puts it in the
`kubernetes.io` claim; authn.py compares): deleting an account kills its tokens, and an account
created again under the same name has a new uid, so the old tokens stay dead.
"""

from __future__ import annotations

import uuid

from .objects import StoredObjects

RESOURCE = "serviceaccounts"
FIELDS = ("secrets", "imagePullSecrets", "automountServiceAccountToken")


class ServiceAccounts(StoredObjects):
    resource, kind, content = RESOURCE, "ServiceAccount", FIELDS
    returns_deleted_object = True  # the serviceaccount registry's ReturnDeletedObject

    def __init__(self, store, authz, watches=None):
        super().__init__(store, authz, watches)
        self._initial_uids = {}

    def build(self, namespace, name, source, previous):
        obj = self.skeleton(namespace, name, source, previous)
        obj.update({field: source[field] for field in FIELDS if source.get(field) is not None})
        return obj

    def uid(self, namespace, name):
        """The account's uid, or None when it does not exist."""
        account = self.get(namespace, name)
        return account and account["metadata"]["uid"]

    def ensure(self, namespace, name):
        """Creates the account if missing (a control call); returns it."""
        with self.store.lock:
            return self.get(namespace, name) or self.put_raw(namespace, name, {})

    def seed(self, namespace, name, source=None):
        """An account that exists from the start (`source`: its labels, annotations, fields): a
        reset creates it again with the same uid, so tokens issued for it before the reset (the
        mounted one) stay valid. Its namespace is created if missing."""
        uid = self._initial_uids.setdefault((namespace, name), str(uuid.uuid4()))
        if self.namespaces is not None:
            self.namespaces.ensure(namespace)
        account = self.build(namespace, name, source or {}, None)
        self.validate(account, None, check_name=True)
        account["metadata"]["uid"] = uid
        return self.store.put(self.resource, account)
