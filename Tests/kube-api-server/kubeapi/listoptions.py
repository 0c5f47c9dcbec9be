"""The options of a list or watch (metav1.ListOptions) as kube-apiserver decodes and checks them:
the query parameters (Go's parameter codec), SetListOptionsDefaults and ValidateListOptions of
apimachinery's `apis/meta/internalversion`, and the field and label selectors that pick objects.

Field selectors go through the kind's field label conversion: Secrets know `type`,
`metadata.name` and `metadata.namespace`, Namespaces `status.phase` and `metadata.name`
("field label not supported: x" otherwise); ConfigMaps, ServiceAccounts and the RBAC kinds have
no conversion of their own, so runtime.DefaultMetaV1FieldSelectorConversion applies (`"x" is not a known field selector: only "metadata.name", "metadata.namespace"`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .status import APIError, bad_request, invalid

NOT_OLDER_THAN, EXACT = "NotOlderThan", "Exact"
FIELD_OPERATORS = ("!=", "==", "=")  # fields.splitTerm tries them in this order at each position
LABEL_KEY = r"[^\s!=<>(),]+"


def go_bool(values):
    """runtime.Convert_Slice_string_To_bool: absent is false; "0" and "false" (any case) are
    false; anything else, even an empty value, is true."""
    if not values:
        return None
    return not (values[0] == "0" or values[0].lower() == "false")


def go_int(values):
    """A *int64 query parameter: absent or empty is None; otherwise strconv.ParseInt's."""
    if not values or values[0] == "":
        return None
    if not re.fullmatch(r"[+-]?[0-9]+", values[0]):
        raise bad_request(f'strconv.ParseInt: parsing "{values[0]}": invalid syntax')
    return int(values[0])


def valid_path_segment_name(name):
    """apimachinery's path.IsValidPathSegmentName: what requestInfo accepts as a name."""
    return name not in (".", "..") and "/" not in name and "%" not in name


# MARK: - Field selectors


def split_unescaped(text, separator=","):
    """fields.splitTerms: split on separators that are not escaped with a backslash."""
    parts, current, escaped = [], "", False
    for char in text:
        if escaped:
            current, escaped = current + "\\" + char, False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current + ("\\" if escaped else "")]


def unescape_value(value):
    """fields.UnescapeValue: \\\\, \\, and \\= are escapes; an unescaped , or = is an error."""
    out, index = "", 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            if index + 1 >= len(value) or value[index + 1] not in "\\,=":
                raise bad_request(f"invalid field selector: invalid escape sequence: {value[index:index + 2]}")
            out, index = out + value[index + 1], index + 2
            continue
        if char in ",=":
            raise bad_request(f"invalid field selector: unescaped {char} in value")
        out, index = out + char, index + 1
    return out


def parse_field_selector(text):
    """[(field, operator, value)], as fields.ParseSelector reads `a=b,c!=d` ("==" is "=")."""
    terms = []
    for part in sorted(split_unescaped(text)):
        if part == "":
            continue
        found = next(((index, op) for index in range(len(part)) for op in FIELD_OPERATORS
                      if part.startswith(op, index)), None)
        if found is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        index, op = found
        terms.append((part[:index], "=" if op == "==" else op, unescape_value(part[index + len(op):])))
    return terms


# MARK: - Label selectors


def parse_label_selector(text):
    """[(key, operator, values)] for the usual label selector forms: `k=v`, `k==v`, `k!=v`,
    `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`. Anything else is a 400 (with a
    message of this server's, not the lexer's)."""
    requirements, depth, current = [], 0, ""
    for char in text + ",":
        if char == "," and depth == 0:
            if current.strip():
                requirements.append(parse_requirement(current.strip()))
            elif text.strip():
                raise bad_request(f"unable to parse requirement: found ',' in {text!r}, expected: identifier")
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    return requirements


def parse_requirement(text):
    if match := re.fullmatch(rf"!\s*({LABEL_KEY})", text):
        return match[1], "!", ()
    if match := re.fullmatch(rf"({LABEL_KEY})\s+(in|notin)\s*\(([^()]*)\)", text):
        values = tuple(value.strip() for value in match[3].split(","))
        return match[1], match[2], values
    if match := re.fullmatch(rf"({LABEL_KEY})\s*(==|=|!=)\s*([^\s!=<>(),]*)", text):
        return match[1], "=" if match[2] == "==" else match[2], (match[3],)
    if match := re.fullmatch(rf"({LABEL_KEY})\s*([<>])\s*(-?[0-9]+)", text):
        return match[1], match[2], (match[3],)
    if re.fullmatch(LABEL_KEY, text):
        return text, "exists", ()
    raise bad_request(f"unable to parse requirement: {text!r}")


def label_matches(labels, requirement):
    key, op, values = requirement
    present, value = key in labels, labels.get(key)
    if op == "exists":
        return present
    if op == "!":
        return not present
    if op in ("=", "in"):
        return present and value in values
    if op in ("!=", "notin"):
        return not present or value not in values
    try:  # > and < compare integers; a value that is not one never matches
        return present and (int(value) > int(values[0]) if op == ">" else int(value) < int(values[0]))
    except ValueError:
        return False


# MARK: - ListOptions


@dataclass
class ListOptions:
    """The decoded query of a GET on a collection."""

    watch: bool = False
    allow_bookmarks: bool = False
    resource_version: str = ""
    resource_version_match: str = ""
    send_initial_events: bool | None = None
    timeout_seconds: int | None = None
    limit: int = 0
    continue_token: str = ""
    field_terms: list = field(default_factory=list)
    label_requirements: list = field(default_factory=list)

    @classmethod
    def decode(cls, query):
        """The parameter codec's work: a malformed value is a 400."""
        one = lambda name: query.get(name, [""])[0]  # noqa: E731
        options = cls(watch=bool(go_bool(query.get("watch"))),
                      allow_bookmarks=bool(go_bool(query.get("allowWatchBookmarks"))),
                      resource_version=one("resourceVersion"), resource_version_match=one("resourceVersionMatch"),
                      send_initial_events=go_bool(query.get("sendInitialEvents")),
                      timeout_seconds=go_int(query.get("timeoutSeconds")), limit=go_int(query.get("limit")) or 0,
                      continue_token=one("continue"))
        options.field_terms = parse_field_selector(one("fieldSelector"))
        options.label_requirements = parse_label_selector(one("labelSelector"))
        return options

    @staticmethod
    def requested_name(query):
        """The name requestInfo takes from `fieldSelector=metadata.name=x` for a list or watch, so
        that RBAC rules with resourceNames apply; "" when there is none (or the query does not
        decode: requestInfo then authorises without a name)."""
        try:
            terms = parse_field_selector(query.get("fieldSelector", [""])[0])
        except APIError:
            return ""
        names = [value for name, op, value in terms if name == "metadata.name" and op == "="]
        return names[0] if names and valid_path_segment_name(names[0]) else ""

    def apply_defaults(self, watch_list_enabled):
        """SetListOptionsDefaults: with the WatchList feature (on by default in 1.32), a watch from
        "" or "0" becomes sendInitialEvents=true, resourceVersionMatch=NotOlderThan; with
        allowWatchBookmarks it then ends its initial events with the k8s.io/initial-events-end
        bookmark."""
        if not watch_list_enabled or self.send_initial_events is not None or self.resource_version_match:
            return
        if self.watch and self.resource_version in ("", "0"):
            self.send_initial_events, self.resource_version_match = True, NOT_OLDER_THAN

    def validate(self, watch_list_enabled):
        """ValidateListOptions: a 422 `ListOptions.meta.k8s.io "" is invalid`."""
        causes, match = [], self.resource_version_match
        forbidden = lambda detail: causes.append(("FieldValueForbidden", "resourceVersionMatch",  # noqa: E731
                                                  f"Forbidden: {detail}"))
        if self.watch:
            if self.send_initial_events is not None:
                if match != NOT_OLDER_THAN:
                    forbidden(f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}")
                if not watch_list_enabled:
                    causes.append(("FieldValueForbidden", "sendInitialEvents", "Forbidden: sendInitialEvents is "
                                   "forbidden for watch unless the WatchList feature gate is enabled"))
            if match:
                if self.send_initial_events is None:
                    forbidden("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
                if match != NOT_OLDER_THAN:
                    causes.append(("FieldValueNotSupported", "resourceVersionMatch",
                                   f'Unsupported value: "{match}": supported values: "{NOT_OLDER_THAN}"'))
                if self.continue_token:
                    forbidden("resourceVersionMatch is forbidden when continue is provided")
        else:
            if match:
                if not self.resource_version:
                    forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided")
                if self.continue_token:
                    forbidden("resourceVersionMatch is forbidden when continue is provided")
                if match not in (EXACT, NOT_OLDER_THAN):
                    causes.append(("FieldValueNotSupported", "resourceVersionMatch",
                                   f'Unsupported value: "{match}": supported values: "{EXACT}", "{NOT_OLDER_THAN}", ""'))
                if match == EXACT and self.resource_version == "0":
                    forbidden('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
            if self.send_initial_events is not None:
                causes.append(("FieldValueForbidden", "sendInitialEvents",
                               "Forbidden: sendInitialEvents is forbidden for list"))
        if causes:
            raise invalid("ListOptions", "meta.k8s.io", "", causes)

    def numeric_resource_version(self, resource):
        """The resourceVersion as a number (APIObjectVersioner.ParseResourceVersion; "" is 0), or
        the 422 storeerr.InterpretWatchError makes of a bad one."""
        if self.resource_version == "":
            return 0
        if not re.fullmatch(r"[0-9]+", self.resource_version):
            raise invalid(resource, "", "", [("FieldValueInvalid", "resourceVersion",
                                              f'Invalid value: "{self.resource_version}": strconv.ParseUint: '
                                              f'parsing "{self.resource_version}": invalid syntax')])
        return int(self.resource_version)


class Selection:
    """Which objects a request sees: its namespace ("" for all), its field selector (after the
    kind's field label conversion) and its label selector."""

    def __init__(self, namespace, options: ListOptions, field_labels=None):
        for label, _, _ in options.field_terms:
            if field_labels is None and label not in ("metadata.name", "metadata.namespace"):
                raise bad_request(f'"{label}" is not a known field selector: only "metadata.name", '
                                  '"metadata.namespace"')
            if field_labels is not None and label not in field_labels:
                raise bad_request(f"field label not supported: {label}")
        self.namespace, self.field_terms, self.labels = namespace, options.field_terms, options.label_requirements

    @property
    def empty(self):
        """No selector (the etcd store then reports remainingItemCount)."""
        return not self.field_terms and not self.labels

    def matches(self, obj):
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        if self.namespace not in ("", namespace):
            return False
        fields = {"metadata.name": meta["name"], "metadata.namespace": namespace, "type": obj.get("type", ""),
                  "status.phase": (obj.get("status") or {}).get("phase", "")}
        for label, op, value in self.field_terms:
            if (fields.get(label, "") == value) != (op == "="):
                return False
        labels = meta.get("labels") or {}
        return all(label_matches(labels, requirement) for requirement in self.labels)
