"""The chart's values: `helm lint --strict` of every scenario, every rendered object validated
strictly against two Kubernetes versions (kubernetes-validate), values.schema.json's refusals
and limits, and the templates' own checks without the schema (`--skip-schema-validation`).
Scenarios, rendering and what the values mean are in rendering.py, fixtures in conftest.py."""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm  # PyPI: helm-python-sdk (Helm v4's engine, no helm binary)
import kubernetes_validate  # PyPI: kubernetes-validate
import pytest
from rendering import (CHART_DIR, FULLNAME, KUBE_VERSIONS, NAMESPACE, RELEASE, Rendered, SCENARIOS, container_of,
                       notes_container, notes_pod_spec, parse_args, render_chart, resolve_version, service_role,
                       token_rule, validate_strict)


# --------------------------------------------------------------------------- helm lint


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_helm_lint_strict_is_clean(scenario: str) -> None:
    report = helm.lint(CHART_DIR, SCENARIOS[scenario], strict=True, namespace=NAMESPACE,
                       kube_version="v1.30.0")
    assert report["total_charts_linted"] == 1
    assert report["messages"] == []
    assert report["errors"] == []


def test_helm_lint_reports_bad_values() -> None:
    report = helm.lint(CHART_DIR, {"auth": "token"}, strict=True, namespace=NAMESPACE,
                       kube_version="v1.30.0")
    assert report["errors"]
    assert any("/auth" in message["error"] and message["severity"] == 3
               for message in report["messages"]), report


# --------------------------------------------------------------------------- rendering


def test_kube_versions_are_shipped_by_kubernetes_validate() -> None:
    resolved = [resolve_version(v) for v in KUBE_VERSIONS]
    assert resolved[0] == "1.30.0"
    assert resolved[1] == kubernetes_validate.latest_version()
    assert resolved[0] != resolved[1]
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    # validate() falls back to an older schema when it lacks the version: it must not here.
    for version in KUBE_VERSIONS:
        assert validate_strict(config_map, version) == \
            ".".join(resolve_version(version).split(".")[:2])


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_rendered_objects_validate_strictly(render, scenario: str, version: str) -> None:
    rendered = render(SCENARIOS[scenario])
    assert rendered.objects
    for obj in rendered.objects:
        if obj["apiVersion"] == "monitoring.coreos.com/v1":
            # A CRD (Prometheus Operator): kubernetes-validate ships no schema for it. Its
            # metadata is checked as an ObjectMeta here, the rest by hand in test_alerts.py.
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):
                validate_strict(obj, version)
            assert obj["kind"] == "PrometheusRule", obj["kind"]
            obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]}
        try:
            validate_strict(obj, version)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} ({version}): "
                        f"{'.'.join(map(str, error.path))}: {error.message}")


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("scenario", ["sidecar", "sidecar-with-url", "sidecar-issued-token-secret"])
def test_sidecar_container_from_notes_validates_in_a_pod(render, scenario: str, version: str) -> None:
    rendered = render(SCENARIOS[scenario])
    pod_spec = notes_pod_spec(rendered.notes)
    assert pod_spec["serviceAccountName"] == "dcae-cloudify-manager"
    assert pod_spec["automountServiceAccountToken"] is True
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "cloudify-manager"},
           "spec": pod_spec}
    validate_strict(pod, version)


def test_strict_validation_rejects_unknown_fields(default: Rendered) -> None:
    deployment = json.loads(json.dumps(default.one("Deployment")))
    validate_strict(deployment, KUBE_VERSIONS[0])
    container_of(deployment["spec"]["template"]["spec"])["readinesProbe"] = {"tcpSocket": {"port": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(deployment, KUBE_VERSIONS[0])
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict({**default.one("ConfigMap"), "date": {}}, KUBE_VERSIONS[0])


# --------------------------------------------------------------------------- values.schema.json


BAD_VALUES = {
    "auth-unknown": {"auth": "token"},
    "mode-unknown": {"mode": "daemonset"},
    "refresh-negative": {"refreshInterval": -1},
    "refresh-string": {"refreshInterval": "60"},
    "api-timeout-zero": {"apiTimeout": 0},
    "api-timeout-too-long": {"apiTimeout": 301},
    "api-timeout-string": {"apiTimeout": "10"},
    "port-zero": {"port": 0},
    "port-too-high": {"port": 65536},
    "port-string": {"port": "8080"},
    "threads-zero": {"threads": 0},
    "threads-too-many": {"threads": 65},
    "log-format-unknown": {"logFormat": "xml"},
    "log-level-unknown": {"logLevel": "verbose"},
    "location-empty": {"location": ""},
    "location-path": {"location": "a/b"},
    "user-empty": {"user": ""},
    "configmap-name-empty": {"configMap": {"name": ""}},
    "configmap-name-invalid": {"configMap": {"name": "Kube_Config"}},
    "configmap-key-empty": {"configMap": {"key": ""}},
    "configmap-key-slash": {"configMap": {"key": "a/b"}},
    "configmap-create-string": {"configMap": {"create": "yes"}},
    "image-repository-empty": {"image": {"repository": ""}},
    "pull-policy-unknown": {"image": {"pullPolicy": "Sometimes"}},
    "unknown-key": {"replicas": 2},
    "resources-without-limits": {"resources": {"limits": None}},
    "hook-retries-negative": {"hook": {"retries": -1}},
    "hook-tag-empty": {"hook": {"image": {"tag": ""}}},
    "test-enabled-string": {"test": {"enabled": "true"}},
    "sidecar-url-no-scheme": {"sidecar": {"url": "dcae-cloudify-manager:8080"}},
    "sidecar-url-with-path": {"sidecar": {"url": "http://dcae-cloudify-manager:8080/x"}},
    "probe-period-zero": {"probes": {"startup": {"periodSeconds": 0}}},
    "storage-unknown": {"storage": "etcd"},
    "storage-lowercase": {"storage": "configmap"},
    "secret-name-invalid": {"secret": {"name": "Kube_Config"}},
    "secret-key-slash": {"secret": {"key": "a/b"}},
    "secret-unknown-key": {"secret": {"type": "Opaque"}},
    "credentials-unknown-key": {"credentials": {"role": "edit"}},
    "credentials-account-invalid": {"credentials": {"serviceAccount": "Cloudify Manager"}},
    "token-expiration-too-short": {"credentials": {"expirationSeconds": 599}},
    "token-expiration-string": {"credentials": {"expirationSeconds": "3600"}},
    "token-expiration-too-long": {"credentials": {"expirationSeconds": 2**32 + 1}},
    "token-audiences-string": {"credentials": {"audiences": "cloudify"}},
    "token-audience-empty": {"credentials": {"audiences": [""]}},
    "token-audience-twice": {"credentials": {"audiences": ["a", "a"]}},
    "auth-token-audiences-string": {"authTokenAudiences": "kubeconfig-service"},
    "auth-token-audience-empty": {"authTokenAudiences": [""]},
    "auth-token-audience-space": {"authTokenAudiences": ["kubeconfig service"]},
    "auth-token-audience-twice": {"authTokenAudiences": ["a", "a"]},
    "auth-token-audience-number": {"authTokenAudiences": [5]},
    "pdb-max-unavailable-zero": {"podDisruptionBudget": {"maxUnavailable": 0}},
    "pdb-unknown-key": {"podDisruptionBudget": {"minAvailable": 1}},
    "site-probe-interval-negative": {"siteProbes": {"interval": -1}},
    "site-probe-interval-string": {"siteProbes": {"interval": "60"}},
    "site-probe-concurrency-zero": {"siteProbes": {"concurrency": 0}},
    "site-probe-concurrency-too-many": {"siteProbes": {"concurrency": 65}},
    "site-probes-unknown-key": {"siteProbes": {"timeout": 5}},
    "prometheus-rule-unknown-key": {"prometheusRule": {"enable": True}},
    "prometheus-rule-enabled-string": {"prometheusRule": {"enabled": "true"}},
    "prometheus-rule-for-not-a-duration": {"prometheusRule": {"siteDown": {"for": "5 minutes"}}},
    "prometheus-rule-for-unit-order": {"prometheusRule": {"siteDown": {"for": "5m1h"}}},
    "prometheus-rule-for-number": {"prometheusRule": {"siteDown": {"for": 300}}},
    "prometheus-rule-window-empty": {"prometheusRule": {"siteCertificateExpiry": {"window": ""}}},
    "prometheus-rule-window-ms": {"prometheusRule": {"siteTokenExpiry": {"window": "500ms"}}},
    "prometheus-rule-severity-empty": {"prometheusRule": {"siteDown": {"severity": ""}}},
    "prometheus-rule-alert-unknown-key": {"prometheusRule": {"siteDown": {"window": "5m"}}},
    "prometheus-rule-alert-label-name": {"prometheusRule": {"alertLabels": {"team-name": "dcae"}}},
    "prometheus-rule-alert-annotation-name": {"prometheusRule": {"alertAnnotations": {"run.book": "x"}}},
    "prometheus-rule-runbook-not-a-url": {"prometheusRule": {"runbookUrl": "README.md"}},
    "prometheus-rule-runbook-with-anchor": {"prometheusRule": {"runbookUrl": "https://x.example/a#b"}},
    "prometheus-rule-selector-braces": {"prometheusRule": {"seriesSelector": '{namespace="onap"}'}},
    "prometheus-rule-stale-intervals-zero": {"prometheusRule": {"publicationStale": {"refreshIntervals": 0}}},
    "prometheus-rule-label-number": {"prometheusRule": {"labels": {"release": 1}}},
    "prometheus-rule-not-renewing-window": {"prometheusRule": {"managedSitesNotRenewing": {"window": "1h"}}},
    "prometheus-rule-not-renewing-for-number": {"prometheusRule": {"managedSitesNotRenewing": {"for": 900}}},
    "prometheus-rule-repairs-window-ms": {"prometheusRule": {"siteCredentialsRepaired": {"window": "500ms"}}},
    "prometheus-rule-repairs-severity-empty": {"prometheusRule": {"siteCredentialsRepaired": {"severity": ""}}},
    "site-credentials-unknown-key": {"siteCredentials": {"create": True}},
    "site-credentials-enabled-string": {"siteCredentials": {"enabled": "false"}},
    "site-credentials-name-invalid": {"siteCredentials": {"secretName": "Site_Credentials"}},
    "site-credentials-name-slash": {"siteCredentials": {"secretName": "a/b"}},
    "site-credentials-keep-string": {"siteCredentials": {"keepOnUninstall": "no"}},
    "credential-grace-period-too-short": {"siteCredentials": {"credentialGracePeriod": 1}},
    "credential-grace-period-too-long": {"siteCredentials": {"credentialGracePeriod": 3601}},
    "credential-grace-period-string": {"siteCredentials": {"credentialGracePeriod": "30"}},
    "credential-grace-period-fraction": {"siteCredentials": {"credentialGracePeriod": 2.5}},
    "credential-grace-period-null": {"siteCredentials": {"credentialGracePeriod": None}},
    "watch-enabled-string": {"watch": {"enabled": "false"}},
    "watch-enabled-null": {"watch": {"enabled": None}},
    "watch-unknown-key": {"watch": {"resync": 60}},
    "watch-not-an-object": {"watch": False},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=list(BAD_VALUES))
def test_schema_rejects_bad_values(chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


@pytest.mark.parametrize("values, flag, value", [
    ({"apiTimeout": 300}, "--api-timeout", "300"),
    ({"apiTimeout": 0.5}, "--api-timeout", "0.5"),
    ({"refreshInterval": 0}, "--refresh-interval", "0"),
    ({"port": 1}, "--port", "1"),
    ({"port": 65535}, "--port", "65535"),
    ({"threads": 1}, "--threads", "1"),
    ({"threads": 64}, "--threads", "64"),
    ({"location": "site_2.b"}, "--location", "site_2.b"),
    ({"configMap": {"name": "a.b-c", "key": "kube_config.yaml"}}, "--key", "kube_config.yaml"),
    ({"credentials": {"expirationSeconds": 600}}, "--token-expiration", "600"),
    ({"credentials": {"expirationSeconds": 86400}}, "--token-expiration", "86400"),
    ({"credentials": {"expirationSeconds": 2**32}}, "--token-expiration", str(2**32)),
    ({"location": "l" * 57}, "--location", "l" * 57),
    ({"storage": "secret", "secret": {"name": "a.b-c", "key": "kube_config.yaml"}}, "--secret", "a.b-c"),
    ({"siteProbes": {"interval": 0}}, "--site-probe-interval", "0"),
    ({"siteProbes": {"interval": 86400}}, "--site-probe-interval", "86400"),
    ({"siteProbes": {"concurrency": 1}}, "--site-probe-concurrency", "1"),
    ({"siteProbes": {"concurrency": 64}}, "--site-probe-concurrency", "64"),
    ({"siteCredentials": {"credentialGracePeriod": 2}}, "--credential-grace-period", "2"),
    ({"siteCredentials": {"credentialGracePeriod": 3600}}, "--credential-grace-period", "3600"),
])
def test_schema_accepts_the_limits(render, values: dict[str, Any], flag: str, value: str) -> None:
    container = container_of(render(values).one("Deployment")["spec"]["template"]["spec"])
    assert parse_args(container["args"])[flag] == value


@pytest.mark.parametrize("values, message", [
    ({"mode": "daemonset"}, 'mode must be deployment or sidecar, not "daemonset"'),
    ({"auth": "token"}, 'auth must be kubernetes or none, not "token"'),
    ({"logFormat": "xml"}, 'logFormat must be text or json, not "xml"'),
    # Checked even when the template that includes the checks creates nothing.
    ({"mode": "sidecar", "configMap": {"create": False}, "auth": "basic"},
     'auth must be kubernetes or none, not "basic"'),
    ({"storage": "etcd"}, 'storage must be configMap or secret, not "etcd"'),
    ({"credentials": {"expirationSeconds": 60}},
     "credentials.expirationSeconds must be at least 600, not 60"),
    ({"siteProbes": {"interval": -5}}, "siteProbes.interval must be 0 or more seconds, not -5"),
    ({"siteProbes": {"concurrency": 0}}, "siteProbes.concurrency must be between 1 and 64, not 0"),
    ({"siteProbes": {"concurrency": 65}}, "siteProbes.concurrency must be between 1 and 64, not 65"),
    ({"prometheusRule": {"enabled": True, "siteDown": {"for": "5 minutes"}}},
     'prometheusRule.siteDown.for must be a Prometheus duration such as 5m, 1h30m or 7d, not "5 minutes"'),
    ({"prometheusRule": {"enabled": True, "siteCertificateExpiry": {"window": "0s"}}},
     "prometheusRule.siteCertificateExpiry.window must be more than 0"),
    ({"prometheusRule": {"enabled": True, "interval": "1m1h"}},
     'prometheusRule.interval must be a Prometheus duration such as 5m, 1h30m or 7d, not "1m1h"'),
    ({"prometheusRule": {"enabled": True, "publicationStale": {"refreshIntervals": 0}}},
     "prometheusRule.publicationStale.refreshIntervals must be at least 1, not 0"),
    ({"siteCredentials": {"credentialGracePeriod": 1}},
     "siteCredentials.credentialGracePeriod must be between 2 and 3600 seconds, not 1"),
    ({"siteCredentials": {"credentialGracePeriod": 3601}},
     "siteCredentials.credentialGracePeriod must be between 2 and 3600 seconds, not 3601"),
    ({"prometheusRule": {"enabled": True, "managedSitesNotRenewing": {"for": "15 minutes"}}},
     'prometheusRule.managedSitesNotRenewing.for must be a Prometheus duration such as 5m, 1h30m or 7d, '
     'not "15 minutes"'),
    ({"prometheusRule": {"enabled": True, "siteCredentialsRepaired": {"window": "0s"}}},
     "prometheusRule.siteCredentialsRepaired.window must be more than 0"),
], ids=["mode", "auth", "log-format", "auth-sidecar-configmap-elsewhere", "storage",
        "token-expiration", "site-probe-interval", "site-probe-concurrency-zero",
        "site-probe-concurrency-too-many", "alert-for", "alert-window-zero", "rule-interval",
        "stale-intervals", "grace-period-too-short", "grace-period-too-long", "not-renewing-for",
        "repairs-window-zero"])
def test_templates_check_values_without_the_schema(schemaless_chart, values: dict[str, Any],
                                                   message: str) -> None:
    """`helm install --skip-schema-validation`: the templates still refuse these values."""
    with pytest.raises(helm.HelmRenderError) as caught:
        schemaless_chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert message in str(caught.value)


def test_schemaless_copy_renders_good_values(schemaless_chart) -> None:
    # So that the failures above come from the checks, not from the copy.
    for values in SCENARIOS.values():
        rendered = render_chart(schemaless_chart, values)
        assert rendered.objects


@pytest.mark.parametrize("values, message", [
    ({"credentials": {"serviceAccount": FULLNAME}},
     f'credentials.serviceAccount must name the consumer\'s account (Cloudify Manager\'s), not the '
     f'service\'s own "{FULLNAME}"'),
    ({"serviceAccount": {"create": False, "name": "shared"}, "credentials": {"serviceAccount": "shared"}},
     'not the service\'s own "shared"'),
    ({"credentials": {"serviceAccount": "dcae-cloudify-manager", "clusterRole": "edit"}},
     "credentials.clusterRole is bound only to the account the chart creates"),
    ({"mode": "sidecar", "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"},
      "credentials": {"clusterRole": "edit"}},
     "credentials.clusterRole is bound only to the account the chart creates"),
    ({"mode": "sidecar", "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"},
      "credentials": {"audiences": ["cloudify"]}},
     "credentials.audiences apply only to issued tokens"),
    ({"location": "l" * 58}, "location must be at most 57 characters with an issued token"),
    ({"auth": "none", "authTokenAudiences": ["kubeconfig-service"]},
     "authTokenAudiences apply only with auth: kubernetes"),
    # The service renews an issued token with 20-25% of its lifetime left: a window at least
    # that long would have the alert fire for every healthy token.
    ({"prometheusRule": {"enabled": True, "publishedTokenExpiry": {"window": "12m"}}},
     "prometheusRule.publishedTokenExpiry.window (12m = 720s) must be below 20% of "
     "credentials.expirationSeconds (3600)"),
    ({"credentials": {"expirationSeconds": 600}, "prometheusRule": {"enabled": True}},
     "prometheusRule.publishedTokenExpiry.window (5m = 300s) must be below 20% of "
     "credentials.expirationSeconds (600)"),
], ids=["deployment-own-account", "deployment-own-named-account", "cluster-role-for-named-account",
        "cluster-role-in-sidecar-mode", "audiences-for-the-pod-token", "location-too-long-to-record",
        "auth-token-audience-without-auth",
        "token-alert-window-past-renewal", "token-alert-window-short-lifetime"])
def test_templates_refuse_contradicting_credentials(chart, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert message in str(caught.value)


def test_sidecar_may_issue_its_own_accounts_token(render) -> None:
    """Sidecar mode: a token issued for the pod's own account (own lifetime and audiences) is
    allowed; only deployment mode must publish another identity."""
    rendered = render({"mode": "sidecar", "serviceAccount": {"create": False, "name": "cm"},
                       "credentials": {"serviceAccount": "cm"}})
    assert service_role(rendered)["rules"][1] == token_rule("cm")


def test_long_location_is_fine_with_the_pods_own_token(render) -> None:
    """Only an issued token's record limits the location (to 57 characters)."""
    rendered = render({**SCENARIOS["sidecar"], "location": "l" * 63})
    assert parse_args(notes_container(rendered.notes)["args"])["--location"] == "l" * 63


def test_sidecar_without_service_account_name_fails(chart) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render({"mode": "sidecar", "serviceAccount": {"create": False}},
                     name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert "serviceAccount.name is required when serviceAccount.create is false" in str(caught.value)
