"""The control API under /__control/: plain JSON, no authentication, never logged or faulted.
Tests use it to set objects up, inject faults, take the listener down, rotate and revoke tokens,
set the TokenRequest lifetime cap, and see, end, drop or fail open watches.

`ENDPOINTS` is the dispatch table: (path pattern after /__control/, {method: endpoint}). An
endpoint takes the call and the pattern's groups and returns the JSON answer (status 200).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from .cluster import control_object
from .status import APIError, not_found

PREFIX = "/__control/"


@dataclass
class Call:
    """One control call: its decoded JSON body (`spec`), query and the connection it came on."""

    spec: dict
    query: dict
    connection: object  # the server's APIHandler

    @property
    def cluster(self):
        return self.connection.server.cluster

    @property
    def listener(self):
        return self.connection.server.listener


def reset(call):
    call.cluster.reset()
    return {}


def stored(call, resource):
    """The part of the cluster that keeps `resource` (a URL segment)."""
    return call.cluster.registries[resource]


def put_object(call, resource, namespace, name):
    """Creates or replaces a ConfigMap or Secret (validated, a new resourceVersion) from a body
    shaped as in the config file; creates a ServiceAccount if missing (an existing one keeps its uid)."""
    objects = stored(call, resource)
    if objects is call.cluster.service_accounts:
        return objects.ensure(namespace, name)
    return objects.put_raw(namespace, name, control_object(call.spec))


def get_object(call, resource, namespace, name):
    found = stored(call, resource).get(namespace, name)
    if found is None:
        raise not_found(resource, name)
    return found


def delete_object(call, resource, namespace, name):
    found = call.cluster.store.delete(resource, namespace, name)
    if found is None:
        raise not_found(resource, name)
    return found


def put_namespace(call, name):
    """Creates the namespace if missing (an existing one keeps its uid); `labels` and
    `annotations` in the body replace its own (the name label stays)."""
    namespaces = call.cluster.namespaces
    with call.cluster.store.lock:
        current = namespaces.ensure(name)
        if not {"labels", "annotations"} & set(call.spec):
            return current
        return namespaces.put_raw("", name, control_object(call.spec))


def get_namespace(call, name):
    return get_object(call, "namespaces", "", name)


def delete_namespace(call, name):
    """Removes the namespace and everything in it at once (no Terminating phase)."""
    with call.cluster.store.lock:
        found = call.cluster.store.delete("namespaces", "", name)
        if found is None:
            raise not_found("namespaces", name)
        call.cluster.namespaces.remove_contents(name)
    return found


def token_settings(call):
    return call.cluster.tokens.settings(call.spec if call.connection.command == "PUT" else None)


def revoke_token(call):
    if not isinstance(call.spec.get("token"), str):
        raise ValueError("token is required")
    return {"revoked": call.cluster.authn.revoke(call.spec["token"])}


def add_fault(call):
    return call.cluster.faults.add(call.spec)


def list_faults(call):
    return call.cluster.faults.list()


def clear_faults(call):
    call.cluster.faults.clear()
    return {}


def down(call):
    seconds = call.spec.get("seconds")
    call.connection.close_connection = True
    call.listener.close(reopen_after=None if seconds is None else float(seconds), keep=call.connection.request)
    return {"listening": False, "seconds": seconds}


def up(call):
    call.listener.open()
    return {"listening": True}


def requests(call):
    clear = call.connection.command == "DELETE" or call.query.get("clear") in (["1"], ["true"])
    return call.cluster.request_log.entries(clear=clear)


def rotate_token(call):
    return {"token": call.cluster.tokens.rotate(bool(call.spec.get("invalidateOld")))}


def add_identity(call):
    return {"token": call.cluster.add_identity(call.spec)}


def watches(call):
    return call.cluster.watches.describe()


def stop_watches(call, how):
    """Ends ("end"), drops ("drop") or fails ("error", with `code` and `message`) the open watches."""
    code = call.spec.get("code", 500)
    if how == "error" and (not isinstance(code, int) or isinstance(code, bool) or not 400 <= code <= 599):
        raise ValueError("code must be an HTTP error code (400-599)")
    count = call.cluster.watches.stop_all(how, code, call.spec.get("message"))
    return {"watches": count}


def expire_history(call):
    return {"resourceVersion": str(call.cluster.store.compact())}


def watch_settings(call):
    return call.cluster.watches.settings(call.spec if call.connection.command == "PUT" else None)


ENDPOINTS = [
    (re.compile(r"reset"), {"POST": reset}),
    (re.compile(r"(configmaps|secrets|serviceaccounts)/([^/]+)/([^/]+)"), {"PUT": put_object, "GET": get_object,
                                                                       "DELETE": delete_object}),
    (re.compile(r"namespaces/([^/]+)"), {"PUT": put_namespace, "GET": get_namespace, "DELETE": delete_namespace}),
    (re.compile(r"faults"), {"POST": add_fault, "GET": list_faults, "DELETE": clear_faults}),
    (re.compile(r"down"), {"POST": down}),
    (re.compile(r"up"), {"POST": up}),
    (re.compile(r"requests"), {"GET": requests, "DELETE": requests}),
    (re.compile(r"rotate-token"), {"POST": rotate_token}),
    (re.compile(r"identities"), {"POST": add_identity}),
    (re.compile(r"token-settings"), {"PUT": token_settings, "GET": token_settings}),
    (re.compile(r"revoke-token"), {"POST": revoke_token}),
    (re.compile(r"watches"), {"GET": watches}),
    (re.compile(r"watches/(end|drop|error)"), {"POST": stop_watches}),
    (re.compile(r"watch-history/expire"), {"POST": expire_history}),
    (re.compile(r"watch-settings"), {"PUT": watch_settings, "GET": watch_settings}),
]


def answer(connection, url, body):
    """(code, JSON answer) for a control call on `connection` (the APIHandler)."""
    method, name = connection.command, url.path[len(PREFIX):]
    try:
        for pattern, endpoints in ENDPOINTS:
            match = pattern.fullmatch(name)
            if match:
                if method not in endpoints:
                    return 405, {"error": f"no control endpoint {method} {url.path}"}
                spec = json.loads(body) if body.strip() else {}
                return 200, endpoints[method](Call(spec, parse_qs(url.query), connection), *match.groups())
        return 404, {"error": f"no control endpoint {method} {url.path}"}
    except APIError as error:
        return error.code, error.body()
    except (ValueError, KeyError, TypeError, re.error) as error:
        return 400, {"error": f"{type(error).__name__}: {error}"}
