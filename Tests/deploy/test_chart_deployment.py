"""The Deployment (its container, arguments, watch, resources, scheduling, security contexts),
the Service, and several replicas with a PodDisruptionBudget."""

from __future__ import annotations

import pytest
from rendering import (CONFIGMAP, DEPLOYER_NAME, FULLNAME, NAMESPACE, Rendered, SCENARIOS, SECRET, assert_pod_security,
                       assert_resources, container_of, document, document_rule, expected_args, notes_container,
                       parse_args, service_role)


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    assert selector, "an empty selector selects everything"
    return all(labels.get(key) == value for key, value in selector.items())


# --------------------------------------------------------------------------- Deployment


@pytest.mark.parametrize("scenario", ["default", "renamed", "auth-none", "not-kept-and-scheduling",
                                      "watch-off"])
def test_deployment_container(render, chart, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    values = rendered.values
    deployment = rendered.one("Deployment")
    pod_spec = deployment["spec"]["template"]["spec"]
    container = container_of(pod_spec)
    port = values["port"]

    tag = values["image"]["tag"] or chart.metadata["appVersion"]
    assert container["image"] == f"{values['image']['repository']}:{tag}"
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": port}
    assert container["startupProbe"]["httpGet"]["path"] in ("/livez", "/healthz")
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 30
    assert "env" not in container  # KUBERNETES_SERVICE_* are injected by the kubelet
    assert_resources(container["resources"])
    assert pod_spec["automountServiceAccountToken"] is True
    assert_pod_security(pod_spec)
    assert parse_args(container["args"]) == expected_args(values)


def test_deployment_args_literal(render) -> None:
    # Spelled out, so that a template and this file cannot drift together.
    container = container_of(render(SCENARIOS["renamed"]).one("Deployment")["spec"]["template"]["spec"])
    assert container["args"] == [
        "serve",
        "--namespace", NAMESPACE,
        "--location", "edge1",
        "--user", "admin01",
        "--configmap", "edge-kubeconfig",
        "--key", "config.yaml",
        "--token-service-account", "kcs-deployer",
        "--token-expiration", "3600",
        "--address", "0.0.0.0",
        "--port", "9090",
        "--auth", "kubernetes",
        "--auth-token-audience", "kcs",
        "--refresh-interval", "300",
        "--site-probe-interval", "30",
        "--site-probe-concurrency", "4",
        "--credentials-secret", "kcs-site-credentials",
        "--credential-grace-period", "30",
        "--max-credential-expiration", "3600",
        "--credential-requests-per-minute", "30",
        "--log-format", "json",
        "--log-level", "debug",
        "--threads", "4",
        "--api-timeout", "15",
    ]
    assert container["image"] == "registry.example.org/onap/kubeconfig-service:1.2.3"
    assert container["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("scenario", ["default", "secret", "sidecar-issued-token-secret"])
def test_watch_is_on_by_default(render, scenario: str) -> None:
    """Watching is the service's default: no flag either way, and list/watch on the document's
    object by name."""
    rendered = render(SCENARIOS[scenario])
    if rendered.values["mode"] == "sidecar":
        args = notes_container(rendered.notes)["args"]
    else:
        args = container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"]
    assert "--no-watch" not in args and "--watch" not in args
    resource, name, _ = document(rendered.values)
    assert service_role(rendered)["rules"][0] == document_rule(resource, name)


@pytest.mark.parametrize("extra", [{}, {"storage": "secret"}, SCENARIOS["sidecar-issued-token-secret"]],
                         ids=["configmap", "secret", "sidecar-secret"])
def test_watch_disabled_passes_no_watch_and_drops_the_verbs(render, extra) -> None:
    rendered = render({**extra, "watch": {"enabled": False}})
    if rendered.values["mode"] == "sidecar":
        args = notes_container(rendered.notes)["args"]
    else:
        args = container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"]
    # Spelled out where it goes: a switch, right after the periodic pass it leaves alone.
    index = args.index("--refresh-interval")
    assert args[index:index + 4] == ["--refresh-interval", "60", "--no-watch", "--site-probe-interval"]
    assert args.count("--no-watch") == 1 and "--watch" not in args
    resource, name, _ = document(rendered.values)
    assert service_role(rendered)["rules"][0] == document_rule(resource, name, watch=False)
    for role in rendered.of_kind("Role"):
        for rule in role["rules"]:
            assert not {"list", "watch"} & set(rule["verbs"]), (role["metadata"]["name"], rule)


# The flags that change with the storage and the token source, spelled out per scenario.
@pytest.mark.parametrize("scenario, flags", [
    ("default", ["--configmap", CONFIGMAP, "--key", "kubeconfig",
                 "--token-service-account", DEPLOYER_NAME, "--token-expiration", "3600"]),
    ("secret", ["--secret", SECRET, "--key", "kubeconfig",
                "--token-service-account", DEPLOYER_NAME, "--token-expiration", "3600"]),
    ("deployer-bound", ["--configmap", CONFIGMAP, "--key", "kubeconfig",
                        "--token-service-account", DEPLOYER_NAME, "--token-expiration", "7200",
                        "--token-audience", "https://kubernetes.default.svc",
                        "--token-audience", "cloudify"]),
    ("consumer-account", ["--configmap", CONFIGMAP, "--key", "kubeconfig",
                          "--token-service-account", "dcae-cloudify-manager",
                          "--token-expiration", "3600"]),
    ("sidecar", ["--configmap", CONFIGMAP, "--key", "kubeconfig"]),
    ("sidecar-issued-token-secret", ["--secret", SECRET, "--key", "kubeconfig",
                                     "--token-service-account", "dcae-cloudify-deployer",
                                     "--token-expiration", "600", "--token-audience", "cloudify"]),
])
def test_document_and_token_args_literal(render, scenario: str, flags: list[str]) -> None:
    rendered = render(SCENARIOS[scenario])
    if rendered.values["mode"] == "sidecar":
        args = notes_container(rendered.notes)["args"]
    else:
        args = container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"]
    assert args[:7] == ["serve", "--namespace", NAMESPACE, "--location", "central", "--user", "user00"]
    assert args[7:7 + len(flags)] == flags
    assert args[7 + len(flags)] == "--address"


def test_default_resources_are_small(default: Rendered) -> None:
    resources = container_of(default.one("Deployment")["spec"]["template"]["spec"])["resources"]
    assert resources == {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}


def test_scheduling_and_pod_metadata(render) -> None:
    rendered = render(SCENARIOS["not-kept-and-scheduling"])
    values = SCENARIOS["not-kept-and-scheduling"]
    template = rendered.one("Deployment")["spec"]["template"]
    spec = template["spec"]
    assert spec["nodeSelector"] == values["nodeSelector"]
    assert spec["tolerations"] == values["tolerations"]
    assert spec["affinity"] == values["affinity"]
    assert spec["imagePullSecrets"] == values["imagePullSecrets"]
    assert template["metadata"]["annotations"] == values["podAnnotations"]
    assert template["metadata"]["labels"]["example.org/team"] == "dcae"
    assert rendered.get("ServiceAccount", FULLNAME)["metadata"]["annotations"] == {"example.org/sa": "yes"}
    job_spec = rendered.one("Job")["spec"]["template"]["spec"]
    assert job_spec["nodeSelector"] == values["nodeSelector"]
    assert job_spec["tolerations"] == values["tolerations"]


def test_default_has_no_scheduling_constraints(default: Rendered) -> None:
    spec = default.one("Deployment")["spec"]["template"]["spec"]
    assert not {"nodeSelector", "tolerations", "affinity", "imagePullSecrets"} & set(spec)


def test_security_context_overrides_apply(render) -> None:
    rendered = render({"securityContext": {"runAsUser": 70000, "runAsGroup": 70000},
                       "podSecurityContext": {"fsGroup": 70000}})
    spec = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert container_of(spec)["securityContext"]["runAsUser"] == 70000
    assert container_of(spec)["securityContext"]["readOnlyRootFilesystem"] is True  # merged, not replaced
    assert spec["securityContext"]["fsGroup"] == 70000
    assert spec["securityContext"]["runAsNonRoot"] is True


# --------------------------------------------------------------------------- Service


@pytest.mark.parametrize("scenario", ["default", "renamed"])
def test_service(render, scenario: str) -> None:
    rendered = render(SCENARIOS[scenario])
    service = rendered.one("Service")
    deployment = rendered.one("Deployment")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": rendered.values["port"],
                                         "targetPort": "http", "protocol": "TCP"}]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(service["spec"]["selector"], pod_labels)
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # Neither the Service nor the ReplicaSet (which adopts matching orphan Pods) may pick
    # up the hook's or the test's Pods.
    for aux_labels in (rendered.one("Job")["spec"]["template"]["metadata"]["labels"],
                       rendered.one("Pod")["metadata"]["labels"]):
        assert not selects(service["spec"]["selector"], aux_labels)
        assert not selects(deployment["spec"]["selector"]["matchLabels"], aux_labels)


# --------------------------------------------------------------------------- replicas


def test_several_replicas_with_a_disruption_budget(render) -> None:
    rendered = render(SCENARIOS["replicas"])
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    # Nothing ties the service to one pod: no volumes to share, no Recreate rollout, and the hook
    # and the test go through the Service.
    assert "volumes" not in deployment["spec"]["template"]["spec"]
    assert deployment["spec"].get("strategy", {}).get("type", "RollingUpdate") == "RollingUpdate"
    budget = rendered.one("PodDisruptionBudget")
    assert budget["metadata"]["name"] == FULLNAME
    assert budget["spec"] == {"maxUnavailable": 1,
                              "selector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}}
    assert not selects(budget["spec"]["selector"]["matchLabels"],
                       rendered.one("Job")["spec"]["template"]["metadata"]["labels"])
    # Every replica publishes the same identity's token into the same object.
    assert parse_args(container_of(deployment["spec"]["template"]["spec"])["args"]) == \
        expected_args(rendered.values)


def test_disruption_budget_only_when_enabled_in_deployment_mode(render) -> None:
    assert render().of_kind("PodDisruptionBudget") == []
    sidecar = {**SCENARIOS["sidecar"], "podDisruptionBudget": {"enabled": True}}
    assert render(sidecar).of_kind("PodDisruptionBudget") == []
    percent = render({"podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}})
    assert percent.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == "50%"
