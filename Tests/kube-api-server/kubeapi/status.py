"""Failures as kube-apiserver answers them: a metav1.Status with its reason, message, details and
code (k8s.io/apimachinery/pkg/api/errors, apiserver's responsewriters)."""

from __future__ import annotations


class APIError(Exception):
    """A failure answered as a metav1.Status (or, with plain_text, as Go's http.Error does)."""

    def __init__(self, code, reason, message, details=None, headers=None, plain_text=False):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details
        self.headers, self.plain_text = headers or {}, plain_text
        self.list_meta = {}  # the Status's ListMeta: a continue token, for an expired one

    def body(self):
        if self.plain_text:
            return self.message + "\n"
        status = {"kind": "Status", "apiVersion": "v1", "metadata": dict(self.list_meta), "status": "Failure",
                  "message": self.message, "reason": self.reason}
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _details(name="", group="", kind="", **extra):
    """StatusDetails with Go's omitempty: empty fields are left out."""
    fields = {"name": name, "group": group, "kind": kind, **extra}
    return {key: value for key, value in fields.items() if value not in ("", None, [])}


def _qualified(resource, group):
    return f"{resource}.{group}" if group else resource


def not_found(resource, name, group=""):
    """errors.NewNotFound: `roles.rbac.authorization.k8s.io "x" not found` for a resource of a group."""
    return APIError(404, "NotFound", f'{_qualified(resource, group)} "{name}" not found', _details(name, group, resource))


def already_exists(resource, name, group=""):
    return APIError(409, "AlreadyExists", f'{_qualified(resource, group)} "{name}" already exists',
                    _details(name, group, resource))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def conflict(resource, name, why=STALE, group=""):
    message = f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}'
    return APIError(409, "Conflict", message, _details(name, group, resource))


def unauthorized():
    return APIError(401, "Unauthorized", "Unauthorized")


def forbidden(user, verb, resource, group, namespace, name, subresource="", reason=""):
    """The message responsewriters.Forbidden builds from the authorizer attributes; the
    authorizer's reason for a denial (RBAC's resolution errors), if any, after a colon."""
    what = f"{resource}/{subresource}" if subresource else resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = f'User "{user["username"]}" cannot {verb} resource "{what}" in API group "{group}" {scope}'
    return forbidden_because(resource, group, name, f"{message}: {reason}" if reason else message)


def forbidden_because(resource, group, name, why):
    """errors.NewForbidden(groupResource, name, err)."""
    target = _qualified(resource, group) + (f' "{name}"' if name else "")
    return APIError(403, "Forbidden", f"{target} is forbidden: {why}", _details(name, group, resource))


def forbidden_path(user, verb, path):
    return APIError(403, "Forbidden", f'forbidden: User "{user["username"]}" cannot {verb} path "{path}"', {})


def bad_request(message):
    return APIError(400, "BadRequest", message)


def invalid(kind, group, name, causes):
    """errors.NewInvalid; causes are (reason, field, body) such as
    ("FieldValueTooLong", "[]", "Too long: may not be more than 1048576 bytes")."""
    errors = [f"{field}: {body}" for _, field, body in causes]
    summary = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    details = _details(name, group, kind, causes=[{"reason": r, "message": b, "field": f} for r, f, b in causes])
    qualified_kind = f"{kind}.{group}" if group else kind
    return APIError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)


def internal_error(why):
    """responsewriters.InternalError / errors.NewInternalError."""
    return APIError(500, "InternalError", f"Internal error occurred: {why}", {"causes": [{"message": why}]})


def plain_error(message):
    """What responsewriters make of a registry's plain Go error (not a Status): 500, reason Unknown,
    the error's text, no details (ErrorToAPIStatus)."""
    return APIError(500, "Unknown", message)


def unsupported_media_type(accepted):
    message = "the body of the request was in an unknown format - accepted media types include: "
    return APIError(415, "UnsupportedMediaType", message + ", ".join(accepted))


# The reason and message kube-apiserver's errors carry for a bare code (fault injection and the
# ERROR events a control sends to open watches).
STATUS_REASONS = {
    400: ("BadRequest", "the server rejected our request for an unknown reason"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: injected fault"),
    404: ("NotFound", "the server could not find the requested resource"),
    409: ("Conflict", "the server reported a conflict"),
    410: ("Expired", "too old resource version"),
    422: ("Invalid", "the server rejected our request due to an error in our request"),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: injected fault"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
    504: ("Timeout", "Timeout: request did not complete within the allotted timeout"),
}


def status_for(code, message=None, plain_text=False):
    """An APIError for `code` with its usual reason; `message` overrides the text."""
    reason, default = STATUS_REASONS.get(code, ("InternalError" if code >= 500 else "Unknown", "injected fault"))
    return APIError(code, reason, default if message is None else message, plain_text=plain_text)
