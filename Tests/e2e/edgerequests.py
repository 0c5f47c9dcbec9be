"""Requests for the request-edge tests (test_request_edge.py): raw ones, as bytes with headers in
the order given (repeats kept), and the fuzzer's, which must all be refused: mutations of a valid
JSON registration and of a valid kubeconfig, random names and headers."""

from __future__ import annotations

import base64
import json
import random

import yaml
from kubeapi import ADMIN_TOKEN, READER_TOKEN, KubeAPIServer


# MARK: - Raw requests


def raw_request(method: str, path: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """A request as bytes, headers in the order given (repeats kept); a Content-Length for a body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{name}: {value}" for name, value in headers)]
    if body or method in ("PUT", "POST"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def ca_data(server: KubeAPIServer) -> str:
    return base64.b64encode(server.ca_file.read_bytes()).decode()


# MARK: - Identity headers


IDENTITY_HEADERS = {"X-Remote-User": "admin", "X-Remote-Group": "system:masters", "X-Remote-Extra-Scopes": "all",
                    "Impersonate-User": "admin", "Impersonate-Group": "system:masters", "Impersonate-Uid": "admin-uid",
                    "Impersonate-Extra-Scopes": "all"}


# MARK: - Fuzzing PUT and DELETE /sites/{name}


UNICODE = ["é", "\u200b", "\u202e", "😀", "\u0130", "ｆ", "\ufeff", "\u00a0", "\u2028", "Ω"]
BAD_NAMES = ["UPPER", "-edge", "edge-", "a_b", "a" * 254, "%C3%A9dge", "%00", "edge%00", "a%2Fb", "%2e%2e", "a..b",
             "%20", "edge%0d%0aX-Injected:%201", ".", "e" * 64 + "." + "f" * 64]
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/yaml",
                 "application/x-yaml", "text/yaml", "text/plain", "application/merge-patch+json", "",
                 "application/json, application/yaml", "*/*", "application/yaml; charset=latin1", None]


class Fuzzer:
    """Builds requests that must all be refused: mutations of a valid JSON registration and of a
    valid kubeconfig (each mutation makes it invalid or ambiguous), random names and headers.
    `edge` exists before the run, so a PUT that replaced it would change the document too."""

    def __init__(self, rng: random.Random, api: KubeAPIServer):
        self.rng, self.counter = rng, 0
        self.ca = ca_data(api)
        self.json = {"server": api.url, "certificateAuthorityData": self.ca, "token": "fuzz-token-1",
                     "namespace": "apps"}
        self.kubeconfig = {
            "apiVersion": "v1", "kind": "Config", "current-context": "x",
            "clusters": [{"name": "c", "cluster": {"server": api.url, "certificate-authority-data": self.ca}}],
            "users": [{"name": "u", "user": {"token": "fuzz-token-2"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "apps"}}]}

    # MARK: Values

    def text(self, length: int) -> str:
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(length))

    def nested(self, depth: int) -> str:
        return self.rng.choice(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth])

    def unicode_in(self, value: str) -> str:
        position = self.rng.randrange(len(value) + 1)
        return value[:position] + self.rng.choice(UNICODE) + value[position:]

    def broken_base64(self, value: str) -> str:
        kind = self.rng.randrange(4)
        if kind == 0:  # a character outside the standard alphabet (base64url's too)
            position = self.rng.randrange(len(value))
            return value[:position] + self.rng.choice("!-_*.~ \t") + value[position:]
        if kind == 1:  # padding in the middle
            position = self.rng.randrange(4, len(value) - 4)
            return value[:position] + "==" + value[position:]
        if kind == 2:  # base64 of something that is not PEM
            return base64.b64encode(self.rng.randbytes(self.rng.randrange(1, 2000))).decode()
        return value[: self.rng.randrange(1, len(value) // 4) * 4 - 1]  # cut: a length that is not a multiple of 4

    # MARK: JSON

    def json_body(self) -> tuple[str, bytes]:
        body = dict(self.json)
        kind = self.rng.choice(["wrong type", "huge string", "deep nesting", "unicode", "invalid base64", "NUL",
                                "duplicate key", "unknown field", "missing field", "not an object"])
        raw = None
        if kind == "wrong type":
            field = self.rng.choice(["server", "certificateAuthorityData", "token", "namespace", "user",
                                     "tlsServerName", "bootstrapToken", "tokenRequest", "clientKeyData"])
            choices = [5, -1, 2.5, True, False, [], [body.get(field, "x")], {}, {"value": body.get(field, "x")}]
            if field in ("server", "certificateAuthorityData", "token"):
                choices.append(None)  # a required field; null is absence elsewhere
            if field == "tokenRequest":
                choices = [5, "x", [], True]
            body[field] = self.rng.choice(choices)
        elif kind == "huge string":
            field = self.rng.choice(["certificateAuthorityData", "namespace", "tlsServerName", "user", "server"])
            length = self.rng.choice([300, 5000, 40000, 70000])
            body[field] = ("https://" + self.text(length) + " x") if field == "server" else self.text(length)
        elif kind == "deep nesting":
            field = self.rng.choice(["server", "certificateAuthorityData", "token", "namespace"])
            placeholder = "\u0000NEST\u0000"
            body[field] = placeholder
            raw = json.dumps(body).replace(json.dumps(placeholder), self.nested(self.rng.choice([2, 100, 1000, 20000])))
        elif kind == "unicode":
            field = self.rng.choice(["server", "certificateAuthorityData", "token", "namespace", "user", "tlsServerName"])
            body[field] = self.unicode_in(body.get(field, "edge.example.org"))
            if field == "server":  # into the host, not the path
                body[field] = "https://" + self.unicode_in("edge.example.org") + ":6443"
            raw = json.dumps(body, ensure_ascii=self.rng.random() < 0.5)
            if self.rng.random() < 0.2:  # a lone surrogate, as a JSON escape
                raw = raw.replace('"fuzz-token-1"', '"fuzz-token-1\\ud800"')
                if '\\ud800' not in raw:
                    raw = raw.replace('"apps"', '"ap\\udc00ps"')
        elif kind == "invalid base64":
            body["certificateAuthorityData"] = self.broken_base64(self.ca)
        elif kind == "NUL":
            field = self.rng.choice(["server", "certificateAuthorityData", "token", "namespace", "user"])
            value = body.get(field, "edge")
            position = self.rng.randrange(1, len(value))
            body[field] = value[:position] + "\u0000" + value[position:]
            if self.rng.random() < 0.3:  # a raw NUL byte instead of the escape: not JSON at all
                raw = json.dumps(body).replace("\\u0000", "\u0000")
        elif kind == "duplicate key":
            # Ambiguous whichever copy a parser keeps: the valid value first or last.
            field = self.rng.choice(["server", "certificateAuthorityData", "token", "namespace"])
            bad = json.dumps(self.rng.choice(["not valid", 5, "", "https://other.example:6443 x", "UPPER_CASE"]))
            good = json.dumps(body.pop(field))
            pair = [f'"{field}": {good}', f'"{field}": {bad}']
            self.rng.shuffle(pair)
            raw = "{" + ", ".join([*pair, *(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in body.items())]) + "}"
        elif kind == "unknown field":
            body[self.rng.choice(["tokenFile", "insecureSkipTLSVerify", "exec", "Server", "token "])] = \
                self.rng.choice([True, "/etc/passwd", {"command": "sh"}, "fuzz-token-3"])
        elif kind == "missing field":
            body.pop(self.rng.choice(["server", "certificateAuthorityData", "token"]))
        else:
            raw = self.rng.choice(["", "[]", "null", '"text"', "5", "{", '{"server":', "{}" * 3, "\ufeff{}",
                                   self.rng.randbytes(200).decode("latin-1")])
        text = raw if raw is not None else json.dumps(body)
        return f"json {kind}", text.encode("utf-8", "surrogatepass")

    # MARK: YAML

    def yaml_body(self) -> tuple[str, bytes]:
        document = json.loads(json.dumps(self.kubeconfig))
        cluster = document["clusters"][0]["cluster"]
        user = document["users"][0]["user"]
        context = document["contexts"][0]["context"]
        kind = self.rng.choice(["wrong type", "huge string", "deep nesting", "unicode", "invalid base64", "NUL",
                                "duplicate key", "duplicate entry", "alias bomb", "several documents",
                                "two contexts", "file path", "insecure", "unknown key", "not a mapping"])
        text = None
        if kind == "wrong type":
            target, key = self.rng.choice([(document, "clusters"), (document, "users"), (document, "contexts"),
                                           (cluster, "server"), (user, "token"), (context, "cluster"),
                                           (context, "user"), (document["contexts"][0], "context"),
                                           (cluster, "certificate-authority-data")])
            wrong = [[1, 2], {"a": 1}, [target[key]]] if isinstance(target[key], str) else ["x", 5, True]
            target[key] = self.rng.choice(wrong)
        elif kind == "huge string":
            target, key = self.rng.choice([(cluster, "certificate-authority-data"), (context, "namespace"),
                                           (cluster, "tls-server-name")])
            target[key] = self.text(self.rng.choice([300, 5000, 40000, 70000]))
        elif kind == "deep nesting":
            target, key = self.rng.choice([(cluster, "server"), (user, "token"), (context, "namespace"),
                                           (cluster, "certificate-authority-data")])
            target[key] = "NEST-HERE"
            text = yaml.safe_dump(document).replace("NEST-HERE", self.nested(self.rng.choice([2, 100, 1000, 20000])))
        elif kind == "unicode":
            target, key = self.rng.choice([(user, "token"), (context, "namespace"),
                                           (cluster, "certificate-authority-data")])
            target[key] = self.unicode_in(target[key])
            if self.rng.random() < 0.3:
                cluster["server"] = "https://" + self.unicode_in("edge.example.org") + ":6443"
            text = yaml.safe_dump(document, allow_unicode=self.rng.random() < 0.5)
        elif kind == "invalid base64":
            cluster["certificate-authority-data"] = self.broken_base64(self.ca)
        elif kind == "NUL":
            target, key = self.rng.choice([(user, "token"), (context, "namespace"), (cluster, "server")])
            position = self.rng.randrange(1, len(target[key]))
            target[key] = target[key][:position] + "\u0000" + target[key][position:]  # dumped as "\0"
            text = yaml.safe_dump(document)
            if self.rng.random() < 0.3:  # a raw NUL byte: not YAML
                text = text.replace("\\0", "\u0000")
        elif kind == "duplicate key":
            text = yaml.safe_dump(document).replace("    token: fuzz-token-2\n", self.rng.choice([
                "    token: fuzz-token-2\n    token: fuzz-token-9\n", "    token: bad token\n    token: fuzz-token-2\n"]))
        elif kind == "duplicate entry":
            # Two clusters (or users) of the context's name: client-go refuses such a kubeconfig
            # ("duplicate name"); taking either one is a guess.
            section = self.rng.choice(["clusters", "users"])
            other = json.loads(json.dumps(document[section][0]))
            if section == "clusters":
                other["cluster"]["server"] = "https://other.example:6443"
            else:
                other["user"]["token"] = "fuzz-token-other"
            document[section].insert(self.rng.randrange(2), other)
        elif kind == "alias bomb":
            levels = self.rng.choice([6, 8, 9])
            lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
            lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
            text = yaml.safe_dump(document) + "\n".join(lines) + "\n"
        elif kind == "several documents":
            text = yaml.safe_dump(document) + "---\n" + yaml.safe_dump(document)
        elif kind == "two contexts":
            document["contexts"].append({"name": "y", "context": dict(context)})
        elif kind == "file path":
            target, key, value = self.rng.choice([(cluster, "certificate-authority", "/etc/ssl/ca.crt"),
                                                  (user, "tokenFile", "/var/run/secrets/token"),
                                                  (user, "client-certificate", "/etc/passwd")])
            target[key] = value
        elif kind == "insecure":
            cluster["insecure-skip-tls-verify"] = self.rng.choice([True, "true", "yes", 1])
        elif kind == "unknown key":
            target, key, value = self.rng.choice([(user, "exec", {"command": "sh", "apiVersion": "v1"}),
                                                  (user, "auth-provider", {"name": "gcp"}),
                                                  (user, "username", "admin"), (document, "Clusters", []),
                                                  (cluster, "proxy-url", "http://proxy.example")])
            target[key] = value
        else:
            text = self.rng.choice(["", "- a\n- b\n", "just text", "{", "kubeconfig: [", "null\n", "~\n"])
        if text is None:
            text = yaml.safe_dump(document)
        return f"yaml {kind}", text.encode("utf-8", "surrogatepass")

    # MARK: Requests

    def name(self, method: str) -> str:
        self.counter += 1
        choices = [f"fz-{self.counter}", "central", self.rng.choice(BAD_NAMES)]
        if method == "PUT":
            choices += ["edge", "edge"]  # replacing the site that exists must be refused too
        return self.rng.choice(choices)

    def request(self) -> tuple[str, bytes]:
        """(what it is, the request's bytes)."""
        method = self.rng.choice(["PUT"] * 5 + ["DELETE"])
        path = f"/sites/{self.name(method)}"
        as_yaml = self.rng.random() < 0.4
        kind, body = self.yaml_body() if as_yaml else self.json_body()
        if method == "DELETE":
            kind, body = "delete", body if self.rng.random() < 0.3 else b""
        headers = []
        token = self.rng.choices([ADMIN_TOKEN, READER_TOKEN, None, "not-a-token"], weights=[85, 5, 5, 5])[0]
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        matching = "application/yaml" if as_yaml else "application/json"
        content_type = matching if self.rng.random() < 0.6 else self.rng.choice(CONTENT_TYPES)
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        if self.rng.random() < 0.05:
            headers.append(("Content-Type", self.rng.choice(CONTENT_TYPES[:-1])))
        if self.rng.random() < 0.05:
            headers.append(("Authorization", f"Bearer {ADMIN_TOKEN}"))
        if self.rng.random() < 0.1:
            headers += self.rng.sample(sorted(IDENTITY_HEADERS.items()), 2)
        if self.rng.random() < 0.05:
            headers.append(("X-Fuzz", self.text(self.rng.randrange(1, 4000))))
        self.rng.shuffle(headers)
        if self.rng.random() < 0.15 and body:  # chunked instead of a length
            pieces = [body[i:i + 4096] for i in range(0, len(body), 4096)]
            framed = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
            data = raw_request(method, path, headers + [("Transfer-Encoding", "chunked")])
            data = data.replace(b"Content-Length: 0\r\n", b"") + framed
        else:
            data = raw_request(method, path, headers, body)
        return f"{method} {kind}", data
