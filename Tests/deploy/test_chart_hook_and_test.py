"""The publish hook (its Job, token, URL and curl command, run in a real shell with stand-ins) and
the `helm test` pod, and turning either off."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from rendering import (DEPLOYER_NAME, FULLNAME, Rendered, SCENARIOS, assert_pod_security, assert_resources,
                       auth_token_audiences, container_of, curl_tokens)


TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
# Where the publish hook mounts its token for the service's audience (a projected volume).
AUDIENCE_TOKEN_FILE = "/var/run/secrets/tokens/kubeconfig-service"


def option_value(tokens: list[str], option: str) -> str:
    assert tokens.count(option) == 1, (option, tokens)
    return tokens[tokens.index(option) + 1]


def service_base_url(rendered: Rendered) -> str:
    """Where the hook and the test must reach the service: the Service, or sidecar.url."""
    if rendered.values["mode"] == "sidecar":
        return rendered.values["sidecar"]["url"].rstrip("/")
    service = rendered.one("Service")
    return f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"


# --------------------------------------------------------------------------- publish hook


@pytest.mark.parametrize("scenario", ["default", "renamed", "auth-none", "audience-off", "audiences-two"])
def test_publish_hook_job(render, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    values = rendered.values
    job = rendered.one("Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"post-install", "post-upgrade"}
    assert int(annotations["helm.sh/hook-weight"]) >= 0
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {
        "before-hook-creation", "hook-succeeded"}

    spec = job["spec"]
    assert spec["backoffLimit"] >= 0
    assert 0 < spec["activeDeadlineSeconds"] < 300  # fails before `helm install`'s default 5m timeout
    assert spec["ttlSecondsAfterFinished"] > 0
    pod_spec = spec["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    audiences = auth_token_audiences(values)
    # A token for the service's audience when callers need one (projected, and no other), else
    # the automounted one.
    assert pod_spec["automountServiceAccountToken"] is (not audiences)
    token_file = AUDIENCE_TOKEN_FILE if audiences else TOKEN_FILE
    if audiences:
        assert pod_spec["volumes"] == [{"name": "token", "projected": {"sources": [{"serviceAccountToken": {
            "path": "kubeconfig-service", "audience": audiences[0], "expirationSeconds": 600}}]}}]
        assert container_of(pod_spec)["volumeMounts"] == [
            {"name": "token", "mountPath": "/var/run/secrets/tokens", "readOnly": True}]
    else:
        assert "volumes" not in pod_spec and "volumeMounts" not in container_of(pod_spec)
    assert pod_spec["serviceAccountName"] != rendered.one("Deployment")["spec"]["template"]["spec"][
        "serviceAccountName"]
    assert_pod_security(pod_spec)
    container = container_of(pod_spec)
    assert_resources(container["resources"])
    assert re.fullmatch(r"curlimages/curl:\d+\.\d+\.\d+", container["image"]), container["image"]

    tokens = curl_tokens(container)
    for flag in ("--fail", "--silent", "--show-error", "--retry-connrefused", "--retry-all-errors"):
        assert flag in tokens, flag
    assert option_value(tokens, "--retry") == str(values["hook"]["retries"])
    assert int(option_value(tokens, "--retry")) > 0
    assert option_value(tokens, "--retry-delay") == "2"
    assert option_value(tokens, "-X") == "POST"
    assert option_value(tokens, "-H") == f"Authorization: Bearer $(cat {token_file})"
    assert tokens[-1] == f"{service_base_url(rendered)}/sites/{values['location']}"


def test_publish_hook_url_literal(render) -> None:
    assert curl_tokens(container_of(render(SCENARIOS["renamed"]).one("Job")["spec"]["template"]["spec"]))[-1] \
        == "http://kcs:9090/sites/edge1"
    assert curl_tokens(container_of(render().one("Job")["spec"]["template"]["spec"]))[-1] \
        == f"http://{FULLNAME}:8080/sites/central"


def test_publish_hook_command_runs_in_a_shell(default: Rendered, tmp_path: Path) -> None:
    """Run the hook's real shell command with stand-ins for cat and curl.

    Proves the quoting: the token ends up inside one Authorization header argument.
    """
    container = container_of(default.one("Job")["spec"]["template"]["spec"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cat").write_text(
        f'#!/bin/sh\n[ "$1" = "{AUDIENCE_TOKEN_FILE}" ] || exit 9\nprintf "%s" "tok.en-123"\n')
    (bin_dir / "curl").write_text(
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n")
    for tool in ("cat", "curl"):
        (bin_dir / tool).chmod(0o755)
    result = subprocess.run(
        ["/bin/sh", *container["command"][1:]], capture_output=True, text=True, timeout=30,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=False)
    assert result.returncode == 0, result.stderr
    argv = result.stdout.splitlines()
    assert "Authorization: Bearer tok.en-123" in argv
    assert argv[argv.index("-X") + 1] == "POST"
    assert argv[-1] == f"http://{FULLNAME}:8080/sites/central"


def test_hook_and_test_can_be_disabled(render) -> None:
    rendered = render(SCENARIOS["hook-and-test-off"])
    assert rendered.of_kind("Job") == []
    assert rendered.of_kind("Pod") == []
    assert sorted(sa["metadata"]["name"] for sa in rendered.of_kind("ServiceAccount")) == \
        [FULLNAME, DEPLOYER_NAME]
    assert [r["metadata"]["name"] for r in rendered.of_kind("Role")] == [FULLNAME]
    assert [b["metadata"]["name"] for b in rendered.of_kind("RoleBinding")] == [FULLNAME]
    assert rendered.of_kind("Deployment")  # the service itself stays


# --------------------------------------------------------------------------- helm test


@pytest.mark.parametrize("scenario", ["default", "renamed"])
def test_helm_test_pod(render, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    pod = rendered.one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec.get("automountServiceAccountToken") is False  # /healthz needs no credentials
    assert_pod_security(spec)
    container = container_of(spec)
    assert_resources(container["resources"])
    command = container["command"]
    assert command[0] == "curl"
    assert "--fail" in command
    assert command[-1] == f"{service_base_url(rendered)}/healthz"
