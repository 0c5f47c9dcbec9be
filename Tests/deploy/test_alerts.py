"""The chart's alerts: its PrometheusRule, rendered with Helm's own engine and checked by
Prometheus's own promtool.

Run: python3 -m pytest -q Tests/deploy

Needs, besides what the chart's other tests need (conftest.py): `promtool`, from Debian's `prometheus` package
(scripts/install-test-deps.sh installs it).

The PrometheusRule's spec is exactly a Prometheus rules file (`groups:`). For each set of values
it is written to rules.yaml in a temporary folder, then

- ``promtool check rules --lint=all --lint-fatal rules.yaml`` must pass, and
- ``promtool test rules alerts-test.yaml`` runs the unit tests alerting.py builds: synthetic series (the
  service's metrics as Prometheus would have scraped them) and, at given times, exactly which
  alerts fire, with their labels and annotations (the annotations' Prometheus templates
  expanded: the expected text is the rule's own with each ``{{ ... }}`` replaced by what it must
  give, so that a template that does not expand as intended fails).

kubernetes-validate has no schema for the PrometheusRule CRD: its shape is checked by hand.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from alerting import (ALERTS, CRD_DURATION, CUSTOM, DEFAULT_UNIT_TESTS, ENABLED, LABEL_NAME, MANAGED_SITES_ALERTS,
                      METRICS, STANDARD_LABELS, at, check_rules, custom, firing, pod, prometheus_rules, promtool,
                      rules_by_alert, run_unit_tests, site_down, the_rule)
from rendering import ALERTS_DOC, FULLNAME, NAMESPACE, RELEASE


# --------------------------------------------------------------------------- tests


def test_promtool_is_installed() -> None:
    result = promtool("--version", cwd=Path.cwd())
    assert result.returncode == 0
    assert re.search(r"promtool, version 2\.\d+", result.stdout + result.stderr), result.stdout


@pytest.mark.parametrize("values", [
    {}, {"mode": "sidecar", "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"}},
    {"storage": "secret"}, {"siteProbes": {"interval": 0}},
], ids=["default", "sidecar", "secret", "probes-off"])
def test_off_by_default(chart, values: dict[str, Any]) -> None:
    assert prometheus_rules(chart, values) == []


@pytest.mark.parametrize("values", [ENABLED, CUSTOM], ids=["enabled", "custom"])
def test_prometheus_rule_shape(chart, values: dict[str, Any]) -> None:
    """What the CRD requires (kubernetes-validate has no schema for it), checked by hand."""
    rule = the_rule(chart, values)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert set(rule) == {"apiVersion", "kind", "metadata", "spec"}
    metadata = rule["metadata"]
    assert metadata["name"] == FULLNAME
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", metadata["name"])
    assert "namespace" not in metadata  # the release's, as every object of the chart
    labels = metadata["labels"]
    for label in STANDARD_LABELS:
        assert label in labels, label
    assert labels["app.kubernetes.io/instance"] == RELEASE
    assert labels["app.kubernetes.io/name"] == "kubeconfig-service"
    assert labels["app.kubernetes.io/component"] == "alerts"
    wanted = values["prometheusRule"]
    for key, value in wanted.get("labels", {}).items():
        assert labels[key] == value
    assert metadata.get("annotations", {}) == wanted.get("annotations", {})
    assert all(isinstance(v, str) for v in {**labels, **metadata.get("annotations", {})}.values())

    groups = rule["spec"]["groups"]
    assert len(groups) == 1
    group = groups[0]
    assert group["name"] == FULLNAME
    assert set(group) <= {"name", "interval", "rules"}
    assert group.get("interval") == (wanted.get("interval") or None)
    for item in group["rules"]:
        assert set(item) <= {"alert", "expr", "for", "labels", "annotations"}, item
        assert item["alert"] in ALERTS
        assert isinstance(item["expr"], str) and item["expr"]
        assert CRD_DURATION.fullmatch(item.get("for", "0")), item
        assert item["labels"]["severity"] in ("info", "warning", "critical")
        assert {"summary", "description"} <= set(item["annotations"])
        for name, text in {**item["labels"], **item["annotations"]}.items():
            assert LABEL_NAME.fullmatch(name), name
            assert isinstance(text, str) and text
        # Only the service's metrics, each narrowed by seriesSelector when one is set.
        names = set(re.findall(r"\bkubeconfig_\w+", item["expr"]))
        assert names and names <= METRICS, names
        if wanted.get("seriesSelector"):
            selectors = re.findall(r"\bkubeconfig_\w+(\{[^}]*\})?", item["expr"])
            assert all(wanted["seriesSelector"] in s for s in selectors), item["expr"]
    assert [item["alert"] for item in group["rules"]] == list(ALERTS)


def test_default_alerts(chart) -> None:
    """The expressions, `for`s and severities of the defaults, spelled out."""
    rules = rules_by_alert(the_rule(chart, ENABLED)["spec"])
    assert {name: (rule["expr"], rule.get("for"), rule["labels"]) for name, rule in rules.items()} == {
        "KubeconfigSiteDown": ("kubeconfig_site_up == 0", "5m", {"severity": "warning"}),
        "KubeconfigSiteCertificateExpiring": (
            "kubeconfig_site_certificate_expiry_timestamp_seconds > 0 and "
            "kubeconfig_site_certificate_expiry_timestamp_seconds - time() < 604800",
            "10m", {"severity": "warning"}),
        "KubeconfigSiteTokenExpiring": (
            'kubeconfig_site_token_expiry_timestamp_seconds{site!="central"} > 0 and '
            'kubeconfig_site_token_expiry_timestamp_seconds{site!="central"} - time() < 300',
            None, {"severity": "critical"}),
        "KubeconfigPublishedTokenExpiring": (
            "kubeconfig_token_expiry_timestamp_seconds > 0 and "
            "kubeconfig_token_expiry_timestamp_seconds - time() < 300",
            None, {"severity": "critical"}),
        "KubeconfigPublicationsFailing": (
            'sum without (result) (increase(kubeconfig_publications_total{result="failed"}[15m])) > 0 '
            'unless sum without (result) '
            '(increase(kubeconfig_publications_total{result=~"changed|unchanged"}[15m])) > 0',
            "5m", {"severity": "warning"}),
        "KubeconfigPublicationStale": (
            "time() - (kubeconfig_last_success_timestamp_seconds > 0) > 600", None, {"severity": "warning"}),
        "KubeconfigManagedSitesNotRenewing": (
            "max(kubeconfig_managed_sites_not_renewing) > 0", "15m", {"severity": "warning"}),
        "KubeconfigSiteCredentialsRepaired": (
            "increase(kubeconfig_site_credential_repairs_total[1h]) > 0", None, {"severity": "info"}),
        "KubeconfigSiteBootstrapExpiring": (
            "kubeconfig_site_bootstrap_expiry_timestamp_seconds > 0 and "
            "kubeconfig_site_bootstrap_expiry_timestamp_seconds - time() < 604800 "
            "unless kubeconfig_site_bootstrap_renewal_timestamp_seconds",
            "10m", {"severity": "warning"}),
        "KubeconfigSiteBootstrapNotRenewing": (
            "time() - (kubeconfig_site_bootstrap_renewal_timestamp_seconds > 0) > 900", None, {"severity": "warning"}),
    }
    for rule in rules.values():
        assert set(rule["annotations"]) == {"summary", "description"}


@pytest.mark.parametrize("values", [
    ENABLED, CUSTOM,
    {**ENABLED, "mode": "sidecar", "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"}},
    {**ENABLED, "refreshInterval": 0},
    {"prometheusRule": {"enabled": True, "siteDown": {"enabled": False},
                        "publicationsFailing": {"enabled": False}}},
    {**ENABLED, "siteCredentials": {"enabled": False}},
], ids=["enabled", "custom", "sidecar", "no-refresh", "some-off", "site-credentials-off"])
def test_promtool_check_rules(chart, tmp_path: Path, values: dict[str, Any]) -> None:
    check_rules(tmp_path, the_rule(chart, values))


@pytest.mark.parametrize("unit_test", DEFAULT_UNIT_TESTS.values(), ids=list(DEFAULT_UNIT_TESTS))
def test_promtool_unit_tests_with_defaults(chart, tmp_path: Path, unit_test) -> None:
    rule = the_rule(chart, ENABLED)
    result = run_unit_tests(tmp_path, rule, [unit_test(rules_by_alert(rule["spec"]))])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_promtool_unit_tests_with_custom_values(chart, tmp_path: Path) -> None:
    rule = the_rule(chart, CUSTOM)
    result = run_unit_tests(tmp_path, rule, [custom(rules_by_alert(rule["spec"]))])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_wrong_expectation(chart, tmp_path: Path) -> None:
    """The unit tests are not vacuous: an alert expected where none fires, a missing one, or a
    wrong annotation each fail."""
    rule = the_rule(chart, ENABLED)
    rules = rules_by_alert(rule["spec"])
    good = site_down(rules)
    wrong_time = {**good, "alert_rule_test": [{**good["alert_rule_test"][2], "eval_time": "4m"}]}
    missing = {**good, "alert_rule_test": [{**good["alert_rule_test"][2], "exp_alerts": []}]}
    annotation = firing(rules, "KubeconfigSiteDown", {**pod("a"), "site": "edge1", "severity": "warning"})
    annotation["exp_annotations"]["summary"] = "Site {{ $labels.site }} of the published kubeconfig is down"
    wrong_annotation = {**good, "alert_rule_test": [at("12m", "KubeconfigSiteDown", annotation)]}
    for case in (wrong_time, missing, wrong_annotation):
        result = run_unit_tests(tmp_path, rule, [case])
        assert result.returncode != 0, case
        assert "FAILED" in result.stdout + result.stderr


def test_stale_alert_needs_a_refresh_interval(chart) -> None:
    """With refreshInterval 0 nothing publishes periodically: no success to expect."""
    rules = rules_by_alert(the_rule(chart, {**ENABLED, "refreshInterval": 0})["spec"])
    assert set(rules) == set(ALERTS) - {"KubeconfigPublicationStale"}


def test_alerts_can_be_turned_off_one_by_one(chart) -> None:
    keys = ["siteDown", "siteCertificateExpiry", "siteTokenExpiry", "publishedTokenExpiry",
            "publicationsFailing", "publicationStale", "managedSitesNotRenewing", "siteCredentialsRepaired",
            "siteBootstrapExpiry", "siteBootstrapNotRenewing"]
    for key, alert in zip(keys, ALERTS):
        values = {"prometheusRule": {"enabled": True, key: {"enabled": False}}}
        rules = rules_by_alert(the_rule(chart, values)["spec"])
        assert set(rules) == set(ALERTS) - {alert}, key


@pytest.mark.parametrize("values", [
    {**ENABLED, "siteCredentials": {"enabled": False}},
    {**ENABLED, "mode": "sidecar", "serviceAccount": {"create": False, "name": "dcae-cloudify-manager"},
     "siteCredentials": {"enabled": False}},
], ids=["deployment", "sidecar"])
def test_managed_sites_alerts_need_the_credentials_secret(chart, values: dict[str, Any]) -> None:
    """Without siteCredentials.enabled there are no managed sites: nothing to renew or repair."""
    rules = rules_by_alert(the_rule(chart, values)["spec"])
    assert set(rules) == set(ALERTS) - MANAGED_SITES_ALERTS


def test_managed_sites_alerts_name_the_secret_and_grace_period(chart) -> None:
    values = {**ENABLED, "siteCredentials": {"secretName": "edge.bootstrap-credentials",
                                             "credentialGracePeriod": 120}}
    rules = rules_by_alert(the_rule(chart, values)["spec"])
    not_renewing = rules["KubeconfigManagedSitesNotRenewing"]["annotations"]["description"]
    assert f"Secret {NAMESPACE}/edge.bootstrap-credentials holds no registration" in not_renewing
    for code in ("SiteCredentialMissing", "SiteConflict", "401 or 403", "renewalError",
                 "managedSites.notRenewing"):
        assert code in not_renewing, code
    repaired = rules["KubeconfigSiteCredentialsRepaired"]["annotations"]["description"]
    assert f"Secret {NAMESPACE}/edge.bootstrap-credentials ({{{{ $labels.kind }}}})" in repaired
    assert "older than the grace period (120s)" in repaired


def test_alerts_doc_has_each_alert_with_its_expression_and_a_runbook_section(chart) -> None:
    """runbook_url points at deploy/docs/ALERTS.md#<alert in lower case>: each alert has its
    section under "Runbooks" there, and its row in the table of expressions is the rendered
    default."""
    text = ALERTS_DOC.read_text()
    runbooks = text[text.index("\n## Runbooks\n"):]
    for alert, rule in rules_by_alert(the_rule(chart, ENABLED)["spec"]).items():
        assert f"\n### {alert}\n" in runbooks, alert
        expr = rule["expr"].replace("|", "\\|")
        assert f"| `{alert}` | `{expr}`" in text, alert


def test_published_token_alert_follows_the_token_source(chart) -> None:
    sidecar = {**ENABLED, "mode": "sidecar", "serviceAccount": {"create": False, "name": "cm"}}
    description = rules_by_alert(the_rule(chart, sidecar)["spec"])[
        "KubeconfigPublishedTokenExpiring"]["annotations"]["description"]
    assert "the kubelet rotates the pod's token" in description
    issued = {**sidecar, "credentials": {"serviceAccount": "cloudify"}}
    description = rules_by_alert(the_rule(chart, issued)["spec"])[
        "KubeconfigPublishedTokenExpiring"]["annotations"]["description"]
    assert f"ServiceAccount {NAMESPACE}/cloudify" in description
    # The pod's own token is not renewed by the service: no window limit applies.
    the_rule(chart, {**sidecar, "prometheusRule": {"enabled": True,
                                                   "publishedTokenExpiry": {"window": "1h"}}})


def test_longer_token_lifetime_allows_a_longer_window(chart) -> None:
    values = {"credentials": {"expirationSeconds": 86400},
              "prometheusRule": {"enabled": True, "publishedTokenExpiry": {"window": "4h"}}}
    expr = rules_by_alert(the_rule(chart, values)["spec"])["KubeconfigPublishedTokenExpiring"]["expr"]
    assert expr.endswith("- time() < 14400")


@pytest.mark.parametrize("window, seconds", [
    ("90s", 90), ("1h30m", 5400), ("7d", 604800), ("2w", 1209600), ("1y", 31536000), ("1d12h", 129600),
])
def test_durations_in_seconds(chart, window: str, seconds: int) -> None:
    rules = rules_by_alert(the_rule(chart, {"prometheusRule": {
        "enabled": True, "siteCertificateExpiry": {"window": window}}})["spec"])
    assert rules["KubeconfigSiteCertificateExpiring"]["expr"].endswith(f"- time() < {seconds}")
    assert rules["KubeconfigSiteCertificateExpiring"]["annotations"]["summary"].endswith(f"within {window}")


def test_notes_mention_the_alerts(chart) -> None:
    manifests = chart.render(ENABLED, name=RELEASE, namespace=NAMESPACE, is_install=True)
    notes = next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))
    assert f"PrometheusRule {NAMESPACE}/{FULLNAME}" in notes
    assert "GET /metrics" in notes
    plain = chart.render({}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert "PrometheusRule" not in next(text for path, text in plain.items() if path.endswith("NOTES.txt"))
