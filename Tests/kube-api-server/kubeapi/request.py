"""What every API operation is handed: one authenticated request, its body decoded as
kube-apiserver decodes a create or update (JSON by default, YAML, or protobuf as kubectl sends
it), and timestamps."""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field

import yaml

from .protobuf import PROTOBUF, ProtobufError, decode_object
from .status import bad_request, unsupported_media_type

JSON, YAML = "application/json", "application/yaml"


@dataclass
class Request:
    """One API request, authenticated."""

    method: str
    path: str
    query: dict
    content_type: str
    body: bytes
    user: dict
    host: str
    log: dict = field(default_factory=dict)  # what an operation adds to the request log's entry


    def param(self, name):
        return self.query.get(name, [""])[0]


def media_type(header):
    return (header or "").split(";")[0].strip().lower()


def parse_object(req):
    """The body of a create or update: JSON (the default), YAML or protobuf, as kube-apiserver accepts."""
    kind = media_type(req.content_type) or JSON
    if kind not in (JSON, YAML, PROTOBUF):
        raise unsupported_media_type([JSON, YAML, PROTOBUF])
    if kind == PROTOBUF:
        try:
            return decode_object(req.body)
        except (ProtobufError, UnicodeDecodeError) as error:
            raise bad_request(f"couldn't decode the protobuf body: {error}")
    try:
        obj = json.loads(req.body) if kind == JSON else yaml.safe_load(req.body)
    except (ValueError, yaml.YAMLError) as error:
        raise bad_request(f"couldn't get version/kind; json parse error: {error}")
    if not isinstance(obj, dict):
        raise bad_request("couldn't get version/kind; json parse error: the body is not a JSON object")
    return obj


def rfc3339(seconds: float | None = None) -> str:
    """A timestamp as Kubernetes writes them, now by default."""
    moment = datetime.datetime.fromtimestamp(time.time() if seconds is None else seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
