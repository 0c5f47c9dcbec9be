"""`--refresh-interval SECONDS` (issue 3): each pass re-reads the service account's token and CA
(following kubelet's `..data` symlink swap) and republishes when they changed, repairs entries
someone removed or altered in the ConfigMap, and writes nothing when nothing changed. 60 s by
default; 0 disables the passes.

Run: KUBECONFIG_SERVICE_BIN=... python3 -m pytest -q Tests/e2e/test_rotation.py
"""

from __future__ import annotations

import base64
import datetime
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from kubeapi.tokens import write_atomic_volume
from loopback import wait_until
from support import CONFIGMAP, NAMESPACE, configmap_calls, stored_document, token_fingerprint

KEY = "kubeconfig"


# MARK: - Helpers


def entry(document: dict, section: str, name: str) -> dict | None:
    return next((item for item in document.get(section) or [] if item.get("name") == name), None)


def published_token(api, user: str = "user00") -> str | None:
    found = entry(stored_document(api), "users", user)
    return found and (found.get("user") or {}).get("token")


def published_ca(api, location: str = "central") -> bytes | None:
    found = entry(stored_document(api), "clusters", location)
    data = found and (found.get("cluster") or {}).get("certificate-authority-data")
    return base64.b64decode(data) if data else None


def swap_service_account_files(sa_dir: Path, **replacements: str) -> None:
    """What kubelet's AtomicWriter does (kubeapi.tokens.write_atomic_volume): the files in a new
    timestamped folder, then one atomic rename of the `..data` symlink onto it."""
    current = {name: (sa_dir / name).read_text() for name in ("token", "ca.crt", "namespace")}
    current.update({name.replace("_", "."): value for name, value in replacements.items()})
    write_atomic_volume(sa_dir, {name: (text, 0o644) for name, text in current.items()})


def new_ca_certificate(directory: Path) -> str:
    key, cert = directory / "extra-ca.key", directory / "extra-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=rotated-extra-ca"],
                   check=True, capture_output=True)
    return cert.read_text()


def other_site(document: dict | None = None) -> dict:
    """A document holding another site's entries (and whatever `document` has)."""
    document = dict(document or {"apiVersion": "v1", "kind": "Config", "preferences": {}})
    document["clusters"] = [*(document.get("clusters") or []),
                            {"name": "edge", "cluster": {"server": "https://edge.example:6443"}}]
    document["users"] = [*(document.get("users") or []), {"name": "user01", "user": {"token": "edge-token"}}]
    document["contexts"] = [*(document.get("contexts") or []),
                            {"name": "edge", "context": {"cluster": "edge", "user": "user01"}}]
    return document


# MARK: - Token and CA rotation


def test_rotated_token_reaches_the_configmap(serve, api):
    """kubelet-style rotation (new folder, `..data` swapped) and the old token revoked: the next
    pass publishes the new token, and uses it to do so."""
    service = serve("--auth", "none", "--refresh-interval", "1")
    service.wait_ready()
    assert published_token(api) == api.token.strip()
    new_token = api.rotate_token(invalidate_old=True)
    took = wait_until(lambda: published_token(api) == new_token, timeout=8)
    assert took is not None, "the rotated token did not reach the ConfigMap within 8 s"
    print(f"\nMEASURE rotated token in the ConfigMap after {took:.2f} s")
    assert took <= 5, f"the rotated token reached the ConfigMap after {took:.1f} s"
    status = service.request("GET", "/status").json()
    assert status["tokenFingerprint"] == token_fingerprint(new_token)
    patches = configmap_calls(api, "PATCH")
    assert patches[-1]["code"] == 200 and patches[-1]["user"] == f"system:serviceaccount:{NAMESPACE}:kubeconfig-service"


def test_rotated_ca_reaches_the_configmap(serve, api, tmp_path):
    """The CA bundle gains a certificate (a CA rotation's first step), swapped in like kubelet does."""
    service = serve("--auth", "none", "--refresh-interval", "1")
    service.wait_ready()
    old_bundle = api.ca_file.read_text()
    assert published_ca(api) == old_bundle.encode()
    bundle = old_bundle + new_ca_certificate(tmp_path)
    swap_service_account_files(api.sa_dir, ca_crt=bundle)
    took = wait_until(lambda: published_ca(api) == bundle.encode(), timeout=8)
    assert took is not None, "the new CA bundle did not reach the ConfigMap within 8 s"
    assert took <= 5
    assert published_token(api) == api.token.strip()
    # The service keeps working with the new bundle (it still vouches for the API server).
    assert service.request("POST", "/sites/central").status == 200


def test_refresh_interval_zero_disables_the_passes(serve, api):
    service = serve("--auth", "none", "--refresh-interval", "0")
    service.wait_ready()
    old_token = api.token.strip()
    api.requests(clear=True)
    api.rotate_token()
    time.sleep(3)  # absence of activity: nothing to poll for
    assert configmap_calls(api) == [], "a pass ran with --refresh-interval 0"
    assert published_token(api) == old_token
    status = service.request("GET", "/status").json()
    assert status.get("nextRefresh") is None, status


def test_refresh_interval_defaults_to_60_seconds(serve, api):
    service = serve("--auth", "none")
    service.wait_ready()
    status = service.request("GET", "/status").json()
    parse = lambda text: datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    delay = (parse(status["nextRefresh"]) - parse(status["lastSuccess"])).total_seconds()
    assert 58 <= delay <= 62, f"next pass {delay} s after the last success"


# MARK: - Drift


@pytest.mark.parametrize("drift", ["removed", "altered"])
def test_a_pass_repairs_our_entries(serve, api, drift):
    service = serve("--auth", "none", "--refresh-interval", "1")
    service.wait_ready()
    good = stored_document(api)
    if drift == "removed":
        damaged = other_site()
    else:
        damaged = other_site(good)
        entry(damaged, "clusters", "central")["cluster"]["server"] = "https://attacker.invalid:6443"
        entry(damaged, "users", "user00")["user"]["token"] = "stale-token"
    api.put_configmap(NAMESPACE, CONFIGMAP, {KEY: yaml.safe_dump(damaged), "unrelated": "kept"})

    def repaired():
        document = stored_document(api)
        return entry(document, "clusters", "central") == entry(good, "clusters", "central") \
            and entry(document, "users", "user00") == entry(good, "users", "user00") \
            and entry(document, "contexts", "central") == entry(good, "contexts", "central")

    took = wait_until(repaired, timeout=8)
    assert took is not None, f"entries {drift} in the ConfigMap were not repaired within 8 s"
    document = stored_document(api)
    assert entry(document, "clusters", "edge") is not None, "the repair lost another site"
    assert entry(document, "users", "user01") is not None
    assert api.get_configmap(NAMESPACE, CONFIGMAP)["data"]["unrelated"] == "kept"


def test_passes_write_nothing_when_nothing_changed(serve, api):
    service = serve("--auth", "none", "--refresh-interval", "1")
    service.wait_ready()
    version = api.get_configmap(NAMESPACE, CONFIGMAP)["metadata"]["resourceVersion"]
    api.requests(clear=True)
    assert wait_until(lambda: len(configmap_calls(api, "GET")) >= 3, timeout=8) is not None, "fewer than 3 passes in 8 s"
    writes = [call for call in configmap_calls(api) if call["method"] != "GET"]
    assert writes == [], f"unchanged passes wrote: {[call['method'] for call in writes]}"
    assert api.get_configmap(NAMESPACE, CONFIGMAP)["metadata"]["resourceVersion"] == version
    outcomes = [line.get("outcome") for line in service.log_entries() if line.get("msg") == "publication succeeded"]
    assert outcomes[0] == "changed" and set(outcomes[1:]) == {"unchanged"}, outcomes
