"""The chart and the binary agree: the Deployment Helm renders, with exactly the rights its Roles
and bindings grant, runs the real binary to a published, issued token against the local API test
server. A flag the binary does not take, or a right the chart forgot, fails here.

Run after the binary is built (scripts/test.sh does): KUBECONFIG_SERVICE_BIN names it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import helm_python as helm  # PyPI: helm-python-sdk (Helm v4's engine, no helm binary)
import pytest
import yaml

from kubeapi import ADMIN_TOKEN, KubeAPIServer
from support import Service

CHART_DIR = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "kubeconfig-service"
RELEASE, NAMESPACE = "dcae", "onap"
FULLNAME = f"{RELEASE}-kubeconfig-service"
DEPLOYER = f"{FULLNAME}-deployer"
# What system:auth-delegator grants, for a ClusterRoleBinding to it.
AUTH_DELEGATOR = [{"verbs": ["create"], "resources": ["tokenreviews", "subjectaccessreviews"]}]


@pytest.fixture(scope="module")
def chart():
    loaded = helm.Chart.load(CHART_DIR)
    yield loaded
    loaded.close()


def render(chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [document for path, text in sorted(manifests.items()) if path.endswith(".yaml")
            for document in yaml.safe_load_all(text) if document]


def rules_granted(objects: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    """The Roles bound to `user` by RoleBindings, and auth-delegator by a ClusterRoleBinding, as
    the API test server's rules (it has no Role objects of its own)."""
    roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Role"}
    granted = []
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        bound = any(f"system:serviceaccount:{s.get('namespace', NAMESPACE)}:{s['name']}" == user
                    for s in binding["subjects"] if s["kind"] == "ServiceAccount")
        if not bound:
            continue
        reference = binding["roleRef"]
        if reference["kind"] == "ClusterRole":
            assert reference["name"] == "system:auth-delegator", reference
            granted += [{"user": user, **rule} for rule in AUTH_DELEGATOR]
            continue
        for rule in roles[reference["name"]]["rules"]:
            assert rule["apiGroups"] == [""], rule
            granted.append({"user": user, "verbs": rule["verbs"], "resources": rule["resources"],
                            "namespaces": [NAMESPACE],
                            **({"resourceNames": rule["resourceNames"]} if "resourceNames" in rule else {})})
    return granted


def service_args(objects: list[dict[str, Any]]) -> list[str]:
    """The container's args, less what the test sets itself (where to listen, how to log)."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "serve", args
    kept, skip = [], {"--address", "--port", "--log-format"}
    pairs = iter(args[1:])
    for flag in pairs:
        value = next(pairs)
        if flag not in skip:
            kept += [flag, value]
    return kept


@pytest.mark.parametrize("values, document_object", [
    ({}, ("configmaps", "multisite-kubeconfig-configmap")),
    ({"storage": "secret"}, ("secrets", "multisite-kubeconfig-secret")),
])
def test_the_rendered_deployment_publishes_an_issued_token_with_only_the_charts_rights(
        chart, tmp_path, values, document_object):
    objects = render(chart, values)
    service_user = f"system:serviceaccount:{NAMESPACE}:{FULLNAME}"
    rules = [{"group": "system:masters", "verbs": ["*"], "resources": ["*"]},
             *rules_granted(objects, service_user)]
    accounts = [o["metadata"]["name"] for o in objects if o["kind"] == "ServiceAccount"]
    assert DEPLOYER in accounts, accounts
    api = KubeAPIServer(tmp_path / "api", config={
        "serviceAccount": {"namespace": NAMESPACE, "name": FULLNAME}, "defaultRules": False, "rules": rules,
        "serviceAccounts": [{"namespace": NAMESPACE, "name": name} for name in accounts if name != FULLNAME],
    }).start()
    service = None
    try:
        resource, name = document_object
        # The chart creates the object empty; the test server stands in for Helm.
        (api.put_secret if resource == "secrets" else api.put_configmap)(NAMESPACE, name, {})
        service = Service(api, *service_args(objects)).start()
        service.wait_ready(timeout=20)
        stored = api.request("GET", f"/api/v1/namespaces/{NAMESPACE}/{resource}/{name}", token=ADMIN_TOKEN).json()
        text = stored["data"]["kubeconfig"]
        document = yaml.safe_load(base64.b64decode(text) if resource == "secrets" else text)
        token = document["users"][0]["user"]["token"]
        review = api.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", token=ADMIN_TOKEN,
                             body={"spec": {"token": token}}).json()["status"]
        assert review["user"]["username"] == f"system:serviceaccount:{NAMESPACE}:{DEPLOYER}"
        status = service.request("GET", "/status", token=ADMIN_TOKEN).json()
        assert status["tokenSource"] == "TokenRequest" and status.get("lastError") is None, json.dumps(status)
        # Nothing the service asked for was refused: its rights are enough, as rendered.
        refused = [entry for entry in api.requests() if entry["user"] == service_user and entry["code"] == 403]
        assert refused == [], refused
    finally:
        if service is not None:
            service.stop()
        api.stop()
