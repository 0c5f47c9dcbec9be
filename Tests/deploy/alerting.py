"""The chart's PrometheusRule as test_alerts.py checks it: the alerts and metrics it must have,
the values that enable and customise it, the rule read from an offline render, its rules file,
promtool's `check rules` and `test rules` runs, and the unit tests given to promtool (synthetic
series and, at given times, exactly which alerts fire, with their labels and annotations), one
builder per alert and one for CUSTOM's values."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from rendering import FULLNAME, NAMESPACE, PROMETHEUS_RULE, render_chart


ALERTS = ("KubeconfigSiteDown", "KubeconfigSiteCertificateExpiring", "KubeconfigSiteTokenExpiring",
          "KubeconfigPublishedTokenExpiring", "KubeconfigPublicationsFailing",
          "KubeconfigPublicationStale", "KubeconfigManagedSitesNotRenewing",
          "KubeconfigSiteCredentialsRepaired", "KubeconfigSiteBootstrapExpiring",
          "KubeconfigSiteBootstrapNotRenewing")
# The alerts about managed sites: only with siteCredentials.enabled.
MANAGED_SITES_ALERTS = {"KubeconfigManagedSitesNotRenewing", "KubeconfigSiteCredentialsRepaired",
                        "KubeconfigSiteBootstrapExpiring", "KubeconfigSiteBootstrapNotRenewing"}
# The series the service exposes at GET /metrics that the alerts may read.
METRICS = {"kubeconfig_site_up", "kubeconfig_site_token_expiry_timestamp_seconds",
           "kubeconfig_site_certificate_expiry_timestamp_seconds", "kubeconfig_publications_total",
           "kubeconfig_last_success_timestamp_seconds", "kubeconfig_token_expiry_timestamp_seconds",
           "kubeconfig_managed_sites_not_renewing", "kubeconfig_site_credential_repairs_total",
           "kubeconfig_site_bootstrap_expiry_timestamp_seconds",
           "kubeconfig_site_bootstrap_renewal_timestamp_seconds"}
# The Prometheus Operator CRD's pattern for `for` (monitoring.coreos.com/v1 Duration).
CRD_DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
                          r"(([0-9]+)s)?(([0-9]+)ms)?)$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
STANDARD_LABELS = ("helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance",
                   "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of")

ENABLED = {"prometheusRule": {"enabled": True}}
# Every knob turned, another location and refresh interval.
CUSTOM = {
    "location": "paris",
    "refreshInterval": 120,
    "prometheusRule": {
        **PROMETHEUS_RULE,
        "siteCertificateExpiry": {"window": "30d", "for": "0s"},
        "siteTokenExpiry": {"window": "1h", "severity": "warning"},
        "publicationStale": {"refreshIntervals": 3},
        "managedSitesNotRenewing": {"for": "5m", "severity": "critical"},
        "siteCredentialsRepaired": {"window": "30m", "severity": "warning"},
    },
}


# --------------------------------------------------------------------------- helpers


def prometheus_rules(chart: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The PrometheusRules of an offline render (`chart`: conftest.py's fixture)."""
    return [o for o in render_chart(chart, values).objects if o["kind"] == "PrometheusRule"]


def the_rule(chart: Any, values: dict[str, Any]) -> dict[str, Any]:
    found = prometheus_rules(chart, values)
    assert len(found) == 1, found
    return found[0]


def rules_by_alert(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rules = [rule for group in spec["groups"] for rule in group["rules"]]
    by_alert = {rule["alert"]: rule for rule in rules}
    assert len(by_alert) == len(rules), "an alert name twice"
    return by_alert


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not found: apt-get install prometheus (scripts/install-test-deps.sh)"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


def write_rules_file(folder: Path, rule: dict[str, Any]) -> Path:
    """The PrometheusRule's spec as a plain Prometheus rules file."""
    assert set(rule["spec"]) == {"groups"}, rule["spec"]
    path = folder / "rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    return path


def check_rules(folder: Path, rule: dict[str, Any]) -> None:
    write_rules_file(folder, rule)
    result = promtool("check", "rules", "--lint=all", "--lint-fatal", "rules.yaml", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules_by_alert(rule['spec']))} rules found" in result.stdout, result.stdout


def run_unit_tests(folder: Path, rule: dict[str, Any],
                   tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    write_rules_file(folder, rule)
    (folder / "alerts-test.yaml").write_text(yaml.safe_dump(
        {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}, sort_keys=False))
    return promtool("test", "rules", "alerts-test.yaml", cwd=folder)


def expand(template: str, labels: dict[str, str], values: dict[str, str]) -> str:
    """A Prometheus annotation template as it must expand: {{ $labels.NAME }} from the labels,
    anything else ({{ $value | humanize... }}) from `values`, which must name it."""
    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("$labels."):
            return labels[expression.removeprefix("$labels.")]
        return values[expression]
    return re.sub(r"\{\{ (.+?) \}\}", replace, template)


def firing(rules: dict[str, dict[str, Any]], alert: str, labels: dict[str, str],
           **values: str) -> dict[str, Any]:
    """An expected alert: its labels (the series', the rule's) and its expanded annotations."""
    annotations = {name: expand(text, labels, values)
                   for name, text in rules[alert]["annotations"].items()}
    return {"exp_labels": labels, "exp_annotations": annotations}


def at(time: str, alert: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": time, "alertname": alert, "exp_alerts": list(alerts)}


def series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def pod(name: str, **labels: str) -> dict[str, str]:
    """The labels a scrape gives a replica's series (a ServiceMonitor's, in part)."""
    return {"namespace": NAMESPACE, "pod": f"{FULLNAME}-{name}", **labels}


# Times below are minutes from 0 (promtool's clock starts at the epoch): a timestamp gauge's
# value is seconds since 0, so 518400 is 6 days after the test starts.
def stamp(seconds: int) -> str:
    """Prometheus's humanizeTimestamp of `seconds` since the epoch."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"1970-01-{days + 1:02d} {hours:02d}:{minutes:02d}:{secs:02d} +0000 UTC"


# --------------------------------------------------------------------------- the unit tests


def site_down(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """kubeconfig_site_up == 0 for 5m fires; shorter outages do not; a site removed from the
    document (its series gone: Prometheus marks them stale) does not, and stops alerting."""
    up = "kubeconfig_site_up"
    a = pod("a")
    severity = {"severity": "warning"}
    edge1 = {**a, "site": "edge1", **severity}
    edge4 = {**a, "site": "edge4", **severity}
    expected_summary = "Site edge1 of the published kubeconfig is down"
    assert firing(rules, "KubeconfigSiteDown", edge1)["exp_annotations"]["summary"] == expected_summary
    return {
        "interval": "1m",
        "input_series": [
            series(up, {**a, "site": "central"}, "1x14"),
            series(up, {**a, "site": "edge1"}, "1 1 0x12"),          # down from 2m on
            series(up, {**a, "site": "edge2"}, "1 0 0 0 1x10"),      # down from 1m to 3m only
            series(up, {**a, "site": "edge3"}, "0 0 0 0 stale"),     # down, removed at 4m
            series(up, {**a, "site": "edge4"}, "0x9 stale"),         # down, removed at 10m
        ],
        "alert_rule_test": [
            at("4m", "KubeconfigSiteDown"),  # nothing down for 5m yet (edge3 gone)
            at("6m", "KubeconfigSiteDown", firing(rules, "KubeconfigSiteDown", edge4)),
            at("8m", "KubeconfigSiteDown", firing(rules, "KubeconfigSiteDown", edge1),
               firing(rules, "KubeconfigSiteDown", edge4)),
            at("12m", "KubeconfigSiteDown", firing(rules, "KubeconfigSiteDown", edge1)),
        ],
    }


def certificate_expiry(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A CA or client certificate expiring within 7d fires (after 10m); one 8 days off does
    not; an expired one does; a renewed one stops; an unknown (0) expiry never fires."""
    name = "kubeconfig_site_certificate_expiry_timestamp_seconds"
    alert = "KubeconfigSiteCertificateExpiring"
    a = pod("a")
    edge1_ca = {**a, "site": "edge1", "certificate": "ca"}
    edge2_client = {**a, "site": "edge2", "certificate": "client"}
    edge3_ca = {**a, "site": "edge3", "certificate": "ca"}
    warning = {"severity": "warning"}
    assert firing(rules, alert, {**edge1_ca, **warning}, **{
        "$value | humanizeTimestamp": stamp(518400)})["exp_annotations"]["summary"] == \
        "The ca certificate of site edge1 expires within 7d"
    return {
        "interval": "1m",
        "input_series": [
            series(name, edge1_ca, "518400x20"),                              # 6 days: inside
            series(name, {**a, "site": "edge1", "certificate": "client"}, "691200x20"),  # 8 days
            series(name, edge2_client, "100x20"),                             # expired at 100 s
            series(name, edge3_ca, "518400x12 31536000x7"),                   # renewed at 13m
            series(name, {**a, "site": "edge4", "certificate": "ca"}, "0x20"),  # unknown
        ],
        "alert_rule_test": [
            at("5m", alert),  # pending: the condition must hold 10m
            at("11m", alert,
               firing(rules, alert, {**edge1_ca, **warning},
                      **{"$value | humanizeTimestamp": stamp(518400)}),
               firing(rules, alert, {**edge2_client, **warning},
                      **{"$value | humanizeTimestamp": stamp(100)}),
               firing(rules, alert, {**edge3_ca, **warning},
                      **{"$value | humanizeTimestamp": stamp(518400)})),
            at("15m", alert,
               firing(rules, alert, {**edge1_ca, **warning},
                      **{"$value | humanizeTimestamp": stamp(518400)}),
               firing(rules, alert, {**edge2_client, **warning},
                      **{"$value | humanizeTimestamp": stamp(100)})),
        ],
    }


def site_token_expiry(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A remote site's token fires once less than 5m remain and it was not renewed; a renewed
    one does not; the service's own site (central) is KubeconfigPublishedTokenExpiring's."""
    name = "kubeconfig_site_token_expiry_timestamp_seconds"
    alert = "KubeconfigSiteTokenExpiring"
    a = pod("a")
    edge1 = {**a, "site": "edge1"}
    expected = firing(rules, alert, {**edge1, "severity": "critical"},
                      **{"$value | humanizeTimestamp": stamp(1200)})
    assert expected["exp_annotations"]["summary"] == "The token of site edge1 expires within 5m"
    return {
        "interval": "1m",
        "input_series": [
            series(name, edge1, "1200x25"),                       # expires at 20m, never renewed
            series(name, {**a, "site": "edge2"}, "1200x10 4800x15"),  # renewed at 11m
            series(name, {**a, "site": "central"}, "1200x25"),    # this service's own site
        ],
        "alert_rule_test": [
            at("10m", alert),  # 10 minutes left
            at("15m", alert),  # exactly 5 minutes left: not less
            at("16m", alert, expected),
            at("21m", alert, expected),  # expired: still firing
        ],
    }


def published_token_expiry(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The central token each replica published: fires once less than 5m remain, not after a
    renewal, not while no expiry is known (0)."""
    name = "kubeconfig_token_expiry_timestamp_seconds"
    alert = "KubeconfigPublishedTokenExpiring"
    expected = firing(rules, alert, {**pod("a"), "severity": "critical"},
                      **{"$value | humanizeTimestamp": stamp(1200)})
    assert expected["exp_annotations"]["summary"] == \
        "The token published for site central expires within 5m"
    assert f"ServiceAccount {NAMESPACE}/{FULLNAME}-deployer" in expected["exp_annotations"]["description"]
    return {
        "interval": "1m",
        "input_series": [
            series(name, pod("a"), "1200x25"),
            series(name, pod("b"), "1200x10 4800x15"),
            series(name, pod("c"), "0x25"),
        ],
        "alert_rule_test": [
            at("10m", alert),
            at("16m", alert, expected),
        ],
    }


def publications_failing(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Failures and no success within 15m, for 5m: fires. A replica with successes and a failure
    now and then: never. A replica whose first attempts fail: after 5m."""
    name = "kubeconfig_publications_total"
    alert = "KubeconfigPublicationsFailing"

    def counters(replica: str, changed: str, unchanged: str, failed: str) -> list[dict[str, str]]:
        return [series(name, pod(replica, result="changed"), changed),
                series(name, pod(replica, result="unchanged"), unchanged),
                series(name, pod(replica, result="failed"), failed)]

    failing_a = firing(rules, alert, {**pod("a"), "severity": "warning"})
    failing_c = firing(rules, alert, {**pod("c"), "severity": "warning"})
    assert failing_a["exp_annotations"]["summary"] == "Publications of site central are failing"
    return {
        "interval": "1m",
        "input_series": [
            # a: a success every minute until 5m, then a failure every minute.
            *counters("a", "1+1x5 6x29", "0x35", "0x5 1+1x29"),
            # b: successes throughout, one failure at 10m.
            *counters("b", "1x35", "0+1x35", "0x9 1x26"),
            # c: started at 0, never succeeded.
            *counters("c", "0x35", "0x35", "0+1x35"),
        ],
        "alert_rule_test": [
            at("4m", alert),             # c pending (since 1m)
            at("7m", alert, failing_c),
            at("10m", alert, failing_c),  # a's successes are still in the window
            at("22m", alert, failing_c),  # a: none in the window since 20m: pending
            at("27m", alert, failing_a, failing_c),
        ],
    }


def publication_stale(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """No success for more than 10 refresh intervals (600 s): fires; a replica that keeps
    succeeding does not, nor one that never succeeded (KubeconfigPublicationsFailing's)."""
    name = "kubeconfig_last_success_timestamp_seconds"
    alert = "KubeconfigPublicationStale"
    expected = firing(rules, alert, {**pod("a"), "severity": "warning"},
                      **{"$value | humanizeDuration": "11m 0s"})
    assert expected["exp_annotations"]["summary"] == \
        "No successful publication of site central for more than 10m0s"
    return {
        "interval": "1m",
        "input_series": [
            series(name, pod("a"), "0+60x5 300x20"),  # last success at 5m
            series(name, pod("b"), "0+60x25"),
            series(name, pod("c"), "0x25"),
        ],
        "alert_rule_test": [
            at("14m", alert),  # 540 s
            at("15m", alert),  # 600 s: not more
            at("16m", alert, expected),
        ],
    }


def managed_sites_not_renewing(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Managed sites not renewing for 15m fire once, whatever the replica, with the most any
    replica reports; a briefer failure does not; all back to 0 resolves it."""
    name = "kubeconfig_managed_sites_not_renewing"
    alert = "KubeconfigManagedSitesNotRenewing"
    severity = {"severity": "warning"}  # max() keeps no series label
    assert firing(rules, alert, severity, **{"$value": "3"})["exp_annotations"]["summary"] == \
        "Managed remote sites are not renewing their tokens (3)"
    return {
        "interval": "1m",
        "input_series": [
            # a: one site failing from 1m to 8m (under 15m), none, then three from 19m to 38m.
            series(name, pod("a"), "0 1x7 0x9 3x19 0x4"),
            # b: one site from 24m to 44m, then none.
            series(name, pod("b"), "0x23 1x20 0x5"),
        ],
        "alert_rule_test": [
            at("8m", alert),   # pending
            at("12m", alert),  # the brief failure is over: never fired
            at("33m", alert),  # pending since 19m
            at("34m", alert, firing(rules, alert, severity, **{"$value": "3"})),
            at("41m", alert, firing(rules, alert, severity, **{"$value": "1"})),  # only b now
            at("47m", alert),  # every replica back at 0
        ],
    }


def site_credentials_repaired(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A repair fires at once, per kind and replica, for the hour after it; no repair, or a
    counter back at 0 after a restart, does not."""
    name = "kubeconfig_site_credential_repairs_total"
    alert = "KubeconfigSiteCredentialsRepaired"
    info = {"severity": "info"}
    orphan_a = firing(rules, alert, {**pod("a", kind="orphan"), **info})
    reissued_b = firing(rules, alert, {**pod("b", kind="reissued"), **info})
    assert orphan_a["exp_annotations"]["summary"] == \
        "Managed sites' credentials were repaired (orphan) within 1h"
    description = orphan_a["exp_annotations"]["description"]
    assert f"Secret {NAMESPACE}/{FULLNAME}-site-credentials (orphan)" in description
    assert "older than the grace period (30s)" in description
    return {
        "interval": "1m",
        "input_series": [
            series(name, pod("a", kind="orphan"), "0x10 1x70"),    # one orphan removed at 11m
            series(name, pod("a", kind="reissued"), "0x80"),
            series(name, pod("b", kind="orphan"), "0x80"),
            series(name, pod("b", kind="reissued"), "0x5 1x75"),   # one re-issued at 6m
            series(name, pod("c", kind="orphan"), "2x10 0x70"),    # restarted at 11m: reset
        ],
        "alert_rule_test": [
            at("5m", alert),
            at("7m", alert, reissued_b),
            at("12m", alert, orphan_a, reissued_b),
            at("64m", alert, orphan_a, reissued_b),
            at("68m", alert, orphan_a),  # b's repair left the window
            at("75m", alert),
        ],
    }


def site_bootstrap_expiry(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A static bootstrap credential (an expiry and no renewal point) expiring within 7d fires
    after 10m, and keeps firing once lapsed; one that renews itself (it has a renewal point),
    or one further out, does not; one registered again (renewing now) resolves."""
    expiry = "kubeconfig_site_bootstrap_expiry_timestamp_seconds"
    renewal = "kubeconfig_site_bootstrap_renewal_timestamp_seconds"
    alert = "KubeconfigSiteBootstrapExpiring"
    warning = {"severity": "warning"}
    edge1 = {**pod("a", site="edge1"), **warning}
    expected = firing(rules, alert, edge1, **{"$value | humanizeTimestamp": stamp(518400)})
    assert expected["exp_annotations"]["summary"] == "The bootstrap credential of site edge1 expires within 7d"
    assert f"kept in Secret {NAMESPACE}/{FULLNAME}-site-credentials" in expected["exp_annotations"]["description"]
    return {
        "interval": "1m",
        "input_series": [
            series(expiry, pod("a", site="edge1"), "518400x40"),   # static, 6 days: fires
            series(expiry, pod("a", site="edge2"), "518400x40"),   # managed, 6 days: renews itself
            series(renewal, pod("a", site="edge2"), "450000x40"),
            series(expiry, pod("a", site="edge3"), "864000x40"),   # static, 10 days
            # static and lapsing, until registered again at 30m (renewing, 30 days out).
            series(expiry, pod("a", site="edge4"), "60x29 2592000x10"),
            series(renewal, pod("a", site="edge4"), "_x30 2000000x9"),
        ],
        "alert_rule_test": [
            at("5m", alert),  # pending
            at("11m", alert, expected, firing(rules, alert, {**pod("a", site="edge4"), **warning},
                                              **{"$value | humanizeTimestamp": stamp(60)})),
            at("35m", alert, expected),
        ],
    }


def site_bootstrap_not_renewing(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A bootstrap credential that renews itself more than 15m past its renewal point fires at
    once; one renewed in time (its point moves on) does not; a renewal resolves it."""
    name = "kubeconfig_site_bootstrap_renewal_timestamp_seconds"
    alert = "KubeconfigSiteBootstrapNotRenewing"
    edge1 = {**pod("a", site="edge1"), "severity": "warning"}
    expected = firing(rules, alert, edge1, **{"$value | humanizeDuration": "16m 0s"})
    assert expected["exp_annotations"]["summary"] == "The bootstrap credential of site edge1 is not renewing"
    return {
        "interval": "1m",
        "input_series": [
            # edge1: due at 5m, renewals failing until 40m, then renewed (due again at 100m).
            series(name, pod("a", site="edge1"), "300x39 6000x20"),
            # edge2: due at 10m, renewed at 11m.
            series(name, pod("a", site="edge2"), "600x10 7200x49"),
        ],
        "alert_rule_test": [
            at("20m", alert),  # 15m past: not more
            at("21m", alert, expected),
            at("41m", alert),
        ],
    }


DEFAULT_UNIT_TESTS = {test.__name__.replace("_", "-"): test for test in (
    site_down, certificate_expiry, site_token_expiry, published_token_expiry,
    publications_failing, publication_stale, managed_sites_not_renewing, site_credentials_repaired,
    site_bootstrap_expiry, site_bootstrap_not_renewing)}


def custom(rules: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """CUSTOM's values: only namespace "onap"'s series, the extra labels and annotations and
    the runbook link, 10m for a site down, a 30d certificate window, a 1h token window that
    applies to "central" (now a remote site) but not to "paris" (this service's),
    3 x 120 s for a stale publication, 5m (critical) for managed sites not renewing (its value
    from namespace "onap"'s replicas only), and a 30m window for repairs."""
    onap, other = pod("a"), {**pod("a"), "namespace": "other"}
    extra = {"team": "dcae"}
    site_down_ = firing(rules, "KubeconfigSiteDown",
                        {**onap, "site": "edge1", "severity": "critical", **extra})
    annotations = site_down_["exp_annotations"]
    assert annotations["runbook_url"] == f"{CUSTOM['prometheusRule']['runbookUrl']}#kubeconfigsitedown"
    assert annotations["dashboard"] == CUSTOM["prometheusRule"]["alertAnnotations"]["dashboard"]
    assert "for more than 10m" in annotations["description"]
    token = "kubeconfig_site_token_expiry_timestamp_seconds"
    certificate = "kubeconfig_site_certificate_expiry_timestamp_seconds"
    stale = "kubeconfig_last_success_timestamp_seconds"
    return {
        "interval": "1m",
        "input_series": [
            series("kubeconfig_site_up", {**onap, "site": "edge1"}, "0x15"),
            series("kubeconfig_site_up", {**other, "site": "edge1"}, "0x15"),
            series(certificate, {**onap, "site": "edge1", "certificate": "client"}, "1728000x15"),  # 20 days
            series(certificate, {**other, "site": "edge1", "certificate": "client"}, "1728000x15"),
            series(certificate, {**onap, "site": "edge2", "certificate": "ca"}, "2678400x15"),  # 31 days
            series(token, {**onap, "site": "central"}, "3000x15"),  # 50 minutes
            series(token, {**onap, "site": "paris"}, "3000x15"),
            series(token, {**other, "site": "central"}, "3000x15"),
            series(stale, onap, "60x15"),
            series(stale, other, "60x15"),
            series("kubeconfig_managed_sites_not_renewing", onap, "0 1x15"),
            series("kubeconfig_managed_sites_not_renewing", other, "0 5x15"),
            series("kubeconfig_site_credential_repairs_total", {**onap, "kind": "orphan"}, "0 1x40"),
            series("kubeconfig_site_credential_repairs_total", {**other, "kind": "orphan"}, "0 1x40"),
        ],
        "alert_rule_test": [
            at("8m", "KubeconfigSiteDown"),
            at("11m", "KubeconfigSiteDown", site_down_),
            at("1m", "KubeconfigSiteCertificateExpiring", firing(
                rules, "KubeconfigSiteCertificateExpiring",
                {**onap, "site": "edge1", "certificate": "client", "severity": "warning", **extra},
                **{"$value | humanizeTimestamp": stamp(1728000)})),
            at("1m", "KubeconfigSiteTokenExpiring", firing(
                rules, "KubeconfigSiteTokenExpiring",
                {**onap, "site": "central", "severity": "warning", **extra},
                **{"$value | humanizeTimestamp": stamp(3000)})),
            at("7m", "KubeconfigPublicationStale"),  # 360 s: not more than 3 x 120
            at("8m", "KubeconfigPublicationStale", firing(
                rules, "KubeconfigPublicationStale", {**onap, "severity": "warning", **extra},
                **{"$value | humanizeDuration": "7m 0s"})),
            at("5m", "KubeconfigManagedSitesNotRenewing"),
            at("7m", "KubeconfigManagedSitesNotRenewing", firing(
                rules, "KubeconfigManagedSitesNotRenewing", {"severity": "critical", **extra},
                **{"$value": "1"})),
            at("2m", "KubeconfigSiteCredentialsRepaired", firing(
                rules, "KubeconfigSiteCredentialsRepaired",
                {**onap, "kind": "orphan", "severity": "warning", **extra})),
            at("35m", "KubeconfigSiteCredentialsRepaired"),  # left the 30m window
        ],
    }
