"""siteTokens: tokens on request (POST /sites/NAME/token). Its settings (publicURL,
maxExpirationSeconds, requestsPerMinute) become exactly their serve flags, with auth: kubernetes
only. siteTokens.grants, who may ask for which sites' tokens: none by default; each grant renders
one Role, whose rule is deploy/examples/site-tokens-rbac.yaml's for the same site (so that the
chart and the example cannot drift apart), and one RoleBinding to its subjects, both validated
strictly. Every bad input is refused with its message, by the schema and by the templates
(--skip-schema-validation); NOTES.txt and the docs say what was granted and how to get an exec
kubeconfig. (test_chart_runs.py runs the binary with the rendered flags and a grant and sees them
work, and nothing more.)"""

from __future__ import annotations

import re
import shutil
from typing import Any

import helm_python as helm  # PyPI: helm-python-sdk (Helm v4's engine, no helm binary)
import pytest
import yaml
from rendering import (CHART_DIR, DEPLOY_README, FULLNAME, KUBE_VERSIONS, NAMESPACE, RBAC_DOC, RELEASE, REPO_ROOT,
                       SCENARIOS, VALUES_DOC, Rendered, container_of, doc_section, expected_args, fenced_blocks,
                       fullname, notes_container, parse_args, render_chart, site_token_objects, site_token_rule,
                       site_tokens_example, site_tokens_name, validate_all_strictly)

AUTHORISATION_DOC = REPO_ROOT / "docs" / "AUTHORISATION.md"


def grants(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"siteTokens": {"grants": list(entries)}}


# One grant as deploy/examples/site-tokens-rbac.yaml's: edge-1's tokens, to one user.
EDGE_1 = {"name": "edge-1", "sites": ["edge-1"],
          "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "edge-1-operator"}]}


def site_token_objects_of(rendered: Rendered) -> list[dict[str, Any]]:
    return site_token_objects(rendered, "Role") + site_token_objects(rendered, "RoleBinding")


# --------------------------------------------------------------------------- what is rendered


@pytest.mark.parametrize("scenario", [name for name, values in SCENARIOS.items()
                                      if not values.get("siteTokens", {}).get("grants")])
def test_no_grant_by_default(render, scenario: str) -> None:
    """Without grants, no Role or binding of the service's API group at all."""
    rendered = render(SCENARIOS[scenario])
    assert rendered.values["siteTokens"]["grants"] == []
    assert site_token_objects_of(rendered) == []
    for role in rendered.of_kind("Role"):
        assert all(rule["apiGroups"] == [""] for rule in role["rules"]), role
    assert "sites/token" not in rendered.notes


def test_a_grant_renders_the_examples_role_and_binds_it(render) -> None:
    """The example's grant, rendered by the chart: the same rules as the example's Role (read
    from deploy/examples/site-tokens-rbac.yaml), the same subjects, in the release namespace, with
    the chart's labels; nothing else is added or changed."""
    example_role, example_binding = site_tokens_example()
    rendered = render(grants(EDGE_1))
    name = site_tokens_name("edge-1")
    assert name == f"{FULLNAME}-site-tokens-edge-1"
    [role], [binding] = site_token_objects(rendered, "Role"), site_token_objects(rendered, "RoleBinding")
    assert role["metadata"]["name"] == binding["metadata"]["name"] == name
    assert role["rules"] == example_role["rules"] == [site_token_rule("edge-1")]
    assert binding["roleRef"] == {**example_binding["roleRef"], "name": name}
    assert binding["subjects"] == example_binding["subjects"]
    assert example_role["metadata"]["namespace"] == example_binding["metadata"]["namespace"] == NAMESPACE
    for obj in (role, binding):
        # Namespaced like every object of the chart: Helm puts it in the release namespace, which
        # is the one the service's SubjectAccessReview names (the example's "onap").
        assert obj["metadata"].get("namespace") in (None, NAMESPACE)
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "site-tokens"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert "annotations" not in obj["metadata"]  # ordinary release resources, not hooks
    # Everything else is what the defaults render.
    assert sorted(set(rendered.names()) - set(render().names())) == [f"Role/{name}", f"RoleBinding/{name}"]
    assert set(render().names()) <= set(rendered.names())


def test_each_grant_renders_its_own_role_and_binding(render) -> None:
    """SCENARIOS["site-tokens"]: two grants, a remote site and the central one (the location),
    every kind of subject; a ServiceAccount's namespace is the release's unless given, a User's
    and a Group's apiGroup is RBAC's."""
    rendered = render(SCENARIOS["site-tokens"])
    roles = {r["metadata"]["name"]: r for r in site_token_objects(rendered, "Role")}
    bindings = {b["metadata"]["name"]: b for b in site_token_objects(rendered, "RoleBinding")}
    operators, pipelines = site_tokens_name("edge-1-operators"), site_tokens_name("pipelines")
    assert sorted(roles) == sorted(bindings) == sorted([operators, pipelines])
    assert roles[operators]["rules"] == [site_token_rule("edge-1")]
    assert roles[pipelines]["rules"] == [site_token_rule("central", "edge-2.example.org")]
    for name, binding in bindings.items():
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}
    assert bindings[operators]["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "edge-1-operators"},
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "edge-1-operator"}]
    assert bindings[pipelines]["subjects"] == [
        {"kind": "ServiceAccount", "name": "deploy-pipeline", "namespace": NAMESPACE},
        {"kind": "ServiceAccount", "name": "ci", "namespace": "ci"}]
    # The grants add no right to the service's own account, nor to the hook's.
    for binding in bindings.values():
        assert all(s["name"] not in (FULLNAME, f"{FULLNAME}-publish") for s in binding["subjects"])


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("values", [grants(EDGE_1), SCENARIOS["site-tokens"]], ids=["example", "scenario"])
def test_grants_validate_strictly(render, values: dict[str, Any], version: str) -> None:
    objects = site_token_objects_of(render(values))
    assert objects
    validate_all_strictly(objects, version)


def test_site_names_the_service_accepts(render) -> None:
    """A site is a DNS-1123 subdomain (what PUT /sites/NAME registers), labels up to 63
    characters, up to 253 in all; or the central site's location, which may have capitals and
    '_'. Names YAML would read as numbers or booleans stay strings."""
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253
    sites = ["e", "edge-1", "1.2.3", "123", "true", "a" * 63, longest]
    rendered = render(grants({**EDGE_1, "sites": sites}))
    assert site_token_objects(rendered, "Role")[0]["rules"] == [site_token_rule(*sites)]
    central = render({"location": "Central_Site.1", **grants({**EDGE_1, "sites": ["Central_Site.1"]})})
    assert site_token_objects(central, "Role")[0]["rules"] == [site_token_rule("Central_Site.1")]


@pytest.mark.parametrize("release", ["r" * 53, "dcae"])
def test_names_stay_valid_and_distinct(render, release: str) -> None:
    """The full name is shortened (as for the chart's other derived names) so that a grant's
    Role and RoleBinding, named for the longest grant name, keep within 63 characters."""
    longest = "g" * 40
    rendered = render(grants({**EDGE_1, "name": longest}, {**EDGE_1, "name": "g"}), name=release)
    names = [r["metadata"]["name"] for r in site_token_objects(rendered, "Role")]
    assert len(set(names)) == 2
    for name in names:
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
    assert names[0].endswith(f"-site-tokens-{longest}") and names[1].endswith("-site-tokens-g")
    assert [b["metadata"]["name"] for b in site_token_objects(rendered, "RoleBinding")] == names


def test_renamed_release_prefixes_the_names(render) -> None:
    values = {"fullnameOverride": "kcs", **grants(EDGE_1)}
    rendered = render(values)
    assert site_tokens_name("edge-1", values) == "kcs-site-tokens-edge-1" == fullname(values) + "-site-tokens-edge-1"
    assert rendered.get("Role", "kcs-site-tokens-edge-1") and rendered.get("RoleBinding", "kcs-site-tokens-edge-1")


def test_values_without_the_section_render_no_grant(tmp_path) -> None:
    """A release upgraded with --reuse-values from before siteTokens existed renders with its old
    values, which lack the key: the schema does not require it, and there is no grant."""
    copy = tmp_path / CHART_DIR.name
    shutil.copytree(CHART_DIR, copy)
    values = yaml.safe_load((copy / "values.yaml").read_text())
    del values["siteTokens"]
    (copy / "values.yaml").write_text(yaml.safe_dump(values))
    loaded = helm.Chart.load(copy)
    try:
        rendered = render_chart(loaded, {})
    finally:
        loaded.close()
    assert "siteTokens" not in rendered.values
    assert site_token_objects_of(rendered) == [] and rendered.one("Deployment")
    # The settings are the binary's defaults, passed as always; no public URL.
    assert site_token_flags(rendered) == DEFAULT_FLAGS


# --------------------------------------------------------------------------- serve flags


SITE_TOKEN_FLAGS = ("--max-credential-expiration", "--credential-requests-per-minute", "--public-url")
# What the default values pass: the binary's own defaults, as the chart passes its other settings.
DEFAULT_FLAGS = {"--max-credential-expiration": "3600", "--credential-requests-per-minute": "30"}
PUBLIC_URL = "https://kubeconfig.example.org"


def deployment_args(rendered: Rendered) -> list[str]:
    return container_of(rendered.one("Deployment")["spec"]["template"]["spec"])["args"]


def site_token_flags(rendered: Rendered) -> dict[str, Any]:
    """The siteTokens flags of the Deployment's arguments, with their values."""
    return {flag: value for flag, value in parse_args(deployment_args(rendered)).items()
            if flag in SITE_TOKEN_FLAGS}


def settings(**values: Any) -> dict[str, Any]:
    return {"siteTokens": values}


def test_defaults_pass_the_binarys_defaults_and_no_public_url(render, default: Rendered) -> None:
    assert {k: v for k, v in default.values["siteTokens"].items() if k != "grants"} == \
        {"publicURL": "", "maxExpirationSeconds": 3600, "requestsPerMinute": 30}
    assert site_token_flags(default) == DEFAULT_FLAGS
    # With grants too: the grants add Roles, not flags.
    assert site_token_flags(render(SCENARIOS["site-tokens"])) == DEFAULT_FLAGS


def test_settings_render_exactly_their_flags(render, default: Rendered) -> None:
    """The scenario's values become these flags and values, after --credential-grace-period, and
    change nothing else in the arguments."""
    rendered = render(SCENARIOS["site-token-settings"])
    args = deployment_args(rendered)
    at = args.index("--max-credential-expiration")
    assert args[at - 2:at + 6] == [
        "--credential-grace-period", "30",
        "--max-credential-expiration", "86400",
        "--credential-requests-per-minute", "10000",
        "--public-url", PUBLIC_URL,
    ]
    assert parse_args(args) == expected_args(rendered.values)
    unchanged = {k: v for k, v in parse_args(args).items() if k not in SITE_TOKEN_FLAGS}
    assert unchanged == {k: v for k, v in parse_args(deployment_args(default)).items() if k not in SITE_TOKEN_FLAGS}
    assert rendered.names() == default.names()


@pytest.mark.parametrize("values, flags", [
    (settings(maxExpirationSeconds=600), {**DEFAULT_FLAGS, "--max-credential-expiration": "600"}),
    (settings(maxExpirationSeconds=86400), {**DEFAULT_FLAGS, "--max-credential-expiration": "86400"}),
    (settings(requestsPerMinute=1), {**DEFAULT_FLAGS, "--credential-requests-per-minute": "1"}),
    (settings(requestsPerMinute=10000), {**DEFAULT_FLAGS, "--credential-requests-per-minute": "10000"}),
    # null: the key is dropped, the binary's default stays (as apiTimeout's null does).
    (settings(maxExpirationSeconds=None, requestsPerMinute=None), DEFAULT_FLAGS),
    (settings(publicURL=None), DEFAULT_FLAGS),
], ids=["lifetime-600", "lifetime-86400", "rate-1", "rate-10000", "limits-null", "url-null"])
def test_the_limits_are_accepted_up_to_the_binarys(render, values: dict[str, Any], flags: dict[str, str]) -> None:
    assert site_token_flags(render(values)) == flags


# Every form of URL the chart takes, passed as written (the plugin drops one trailing slash).
GOOD_URLS = [
    "https://kubeconfig.example.org",
    "https://kubeconfig.example.org/",
    "https://kubeconfig.example.org:8443/kubeconfig-service",
    "https://KC.Example.org",
    "https://10.0.0.1:8443",
    "https://[2001:db8::1]:8443/",
    # kubectl port-forward on each caller's machine: the plugin sends tokens over loopback only.
    "http://127.0.0.1:8080",
    "http://127.0.0.1",
    "http://localhost:8080/",
    "http://[::1]:8080",
]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_public_urls_the_chart_takes(render, schemaless_chart, url: str) -> None:
    assert site_token_flags(render(settings(publicURL=url))) == {**DEFAULT_FLAGS, "--public-url": url}
    assert site_token_flags(render_chart(schemaless_chart, settings(publicURL=url)))["--public-url"] == url


def test_auth_none_passes_no_site_token_flag(render) -> None:
    """With auth: none the service has no POST /sites/NAME/token route: no flag for it, whatever
    the limits (which are still checked)."""
    for values in ({"auth": "none"}, {"auth": "none", **settings(maxExpirationSeconds=600, requestsPerMinute=1)}):
        assert site_token_flags(render(values)) == {}


def test_sidecar_container_passes_the_same_flags(render) -> None:
    values = {**SCENARIOS["sidecar"], **SCENARIOS["site-token-settings"]}
    container = notes_container(render(values).notes)
    flags = {k: v for k, v in parse_args(container["args"]).items() if k in SITE_TOKEN_FLAGS}
    assert flags == {"--max-credential-expiration": "86400", "--credential-requests-per-minute": "10000",
                     "--public-url": PUBLIC_URL}


# --------------------------------------------------------------------------- refusals


# Refused by values.schema.json (and, below, by the templates without it).
SCHEMA_REFUSALS = {
    "grants-not-a-list": {"siteTokens": {"grants": {"name": "x"}}},
    "unknown-key": {"siteTokens": {"grant": []}},
    "grant-unknown-key": grants({**EDGE_1, "site": ["edge-1"]}),
    "name-missing": grants({k: v for k, v in EDGE_1.items() if k != "name"}),
    "name-empty": grants({**EDGE_1, "name": ""}),
    "name-invalid": grants({**EDGE_1, "name": "Edge_1"}),
    "name-too-long": grants({**EDGE_1, "name": "g" * 41}),
    "sites-missing": grants({k: v for k, v in EDGE_1.items() if k != "sites"}),
    "sites-empty": grants({**EDGE_1, "sites": []}),
    "sites-a-string": grants({**EDGE_1, "sites": "edge-1"}),
    "site-empty": grants({**EDGE_1, "sites": [""]}),
    "site-wildcard": grants({**EDGE_1, "sites": ["*"]}),
    "site-number": grants({**EDGE_1, "sites": [1]}),
    "site-twice": grants({**EDGE_1, "sites": ["edge-1", "edge-1"]}),
    "site-too-long": grants({**EDGE_1, "sites": [".".join(["a" * 63] * 4)]}),
    "site-trailing-dot": grants({**EDGE_1, "sites": ["edge-1."]}),
    "site-slash": grants({**EDGE_1, "sites": ["edge-1/token"]}),
    "subjects-missing": grants({k: v for k, v in EDGE_1.items() if k != "subjects"}),
    "subjects-empty": grants({**EDGE_1, "subjects": []}),
    "subject-without-kind": grants({**EDGE_1, "subjects": [{"name": "edge-1-operator"}]}),
    "subject-without-name": grants({**EDGE_1, "subjects": [{"kind": "User"}]}),
    "subject-empty-name": grants({**EDGE_1, "subjects": [{"kind": "User", "name": ""}]}),
    "subject-kind-unknown": grants({**EDGE_1, "subjects": [{"kind": "Role", "name": "x"}]}),
    "subject-unknown-key": grants({**EDGE_1, "subjects": [{"kind": "User", "name": "x", "user": "x"}]}),
    "lifetime-too-short": settings(maxExpirationSeconds=599),
    "lifetime-too-long": settings(maxExpirationSeconds=86401),
    "lifetime-string": settings(maxExpirationSeconds="3600"),
    "lifetime-fraction": settings(maxExpirationSeconds=600.5),
    "rate-zero": settings(requestsPerMinute=0),
    "rate-too-high": settings(requestsPerMinute=10001),
    "rate-string": settings(requestsPerMinute="30"),
    "url-number": settings(publicURL=443),
    "url-no-scheme": settings(publicURL="kubeconfig.example.org"),
    "url-other-scheme": settings(publicURL="ftp://kubeconfig.example.org"),
    "url-upper-case-scheme": settings(publicURL="HTTPS://kubeconfig.example.org"),
    "url-no-host": settings(publicURL="https://"),
    "url-user": settings(publicURL="https://user@kubeconfig.example.org"),
    "url-query": settings(publicURL="https://kubeconfig.example.org/?site=x"),
    "url-fragment": settings(publicURL="https://kubeconfig.example.org/#x"),
    "url-space": settings(publicURL="https://kubeconfig.example.org/a b"),
    "url-port-letters": settings(publicURL="https://kubeconfig.example.org:https"),
    "url-unknown-key": settings(publicUrl=PUBLIC_URL),
}


@pytest.mark.parametrize("values", SCHEMA_REFUSALS.values(), ids=list(SCHEMA_REFUSALS))
def test_schema_refuses_bad_grants(chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)


# The templates' own messages: each names what is wrong and how to fix it.
TEMPLATE_REFUSALS = {
    "grants-not-a-list": ({"siteTokens": {"grants": {"name": "x"}}},
                          "siteTokens.grants must be a list of grants, each {name, sites, subjects}, not map"),
    "grant-not-a-map": (grants("edge-1"),
                        "siteTokens.grants[0] must be a map with name, sites and subjects, not string"),
    "name-missing": (grants({k: v for k, v in EDGE_1.items() if k != "name"}),
                     "siteTokens.grants[0].name is required: it names the grant's Role and RoleBinding "
                     "(<fullname>-site-tokens-<name>), e.g. name: edge-1-operators"),
    "name-empty": (grants({**EDGE_1, "name": ""}), "siteTokens.grants[0].name is required"),
    "name-invalid": (grants({**EDGE_1, "name": "Edge_1"}),
                     "siteTokens.grants[0].name must be a DNS-1123 label of at most 40 characters (lowercase "
                     "letters, digits and '-', starting and ending with a letter or digit), not \"Edge_1\""),
    "name-too-long": (grants({**EDGE_1, "name": "g" * 41}),
                      "siteTokens.grants[0].name must be a DNS-1123 label of at most 40 characters"),
    "sites-missing": (grants(EDGE_1, {k: v for k, v in EDGE_1.items() if k != "sites"} | {"name": "other"}),
                      "siteTokens.grants[1] (other) must list at least one site in sites, e.g. sites: [edge-1]: "
                      "a Role without resourceNames would let its subjects ask for every site's tokens"),
    "sites-empty": (grants({**EDGE_1, "sites": []}), "siteTokens.grants[0] (edge-1) must list at least one site"),
    "sites-a-string": (grants({**EDGE_1, "sites": "edge-1"}),
                       "siteTokens.grants[0] (edge-1) must list at least one site"),
    "site-number": (grants({**EDGE_1, "sites": [1]}),
                    "siteTokens.grants[0].sites[0] must be a site name as a string, not 1: quote it in YAML, or pass "
                    "it with --set-string"),
    "site-wildcard": (grants({**EDGE_1, "sites": ["*"]}),
                      "siteTokens.grants[0].sites[0] \"*\" is not a site name the service accepts"),
    "site-too-long": (grants({**EDGE_1, "sites": [".".join(["a" * 63] * 4)]}),
                      f"siteTokens.grants[0].sites[0] \"{'.'.join(['a' * 63] * 4)}\" is not a site name"),
    "site-trailing-dot": (grants({**EDGE_1, "sites": ["edge-1."]}),
                          "siteTokens.grants[0].sites[0] \"edge-1.\" is not a site name the service accepts"),
    "site-slash": (grants({**EDGE_1, "sites": ["edge-1/token"]}),
                   "siteTokens.grants[0].sites[0] \"edge-1/token\" is not a site name the service accepts"),
    "site-twice": (grants({**EDGE_1, "sites": ["edge-1", "edge-1"]}),
                   "siteTokens.grants[0] (edge-1) lists a site more than once in sites: list each once"),
    "subjects-missing": (grants({k: v for k, v in EDGE_1.items() if k != "subjects"}),
                         "siteTokens.grants[0] (edge-1) must list at least one subject in subjects (kind User, Group "
                         "or ServiceAccount, and name): the RoleBinding grants the sites' tokens to them"),
    "subjects-empty": (grants({**EDGE_1, "subjects": []}),
                       "siteTokens.grants[0] (edge-1) must list at least one subject in subjects"),
    "subject-without-kind": (grants({**EDGE_1, "subjects": [{"name": "edge-1-operator"}]}),
                             "siteTokens.grants[0].subjects[0] needs a kind (User, Group or ServiceAccount) and a "
                             "name, e.g. {kind: Group, name: edge-1-operators}"),
    "subject-without-name": (grants({**EDGE_1, "subjects": [{"kind": "User", "name": "a"}, {"kind": "User"}]}),
                             "siteTokens.grants[0].subjects[1] needs a kind (User, Group or ServiceAccount) and "
                             "a name"),
    "subject-kind-unknown": (grants({**EDGE_1, "subjects": [{"kind": "Role", "name": "x"}]}),
                             "siteTokens.grants[0].subjects[0].kind must be User, Group or ServiceAccount, "
                             "not \"Role\""),
    "not-a-map": ({"siteTokens": "https://kubeconfig.example.org"},
                  "siteTokens must be a map (publicURL, maxExpirationSeconds, requestsPerMinute, grants), not string"),
    "lifetime-too-short": (settings(maxExpirationSeconds=599),
                           "siteTokens.maxExpirationSeconds must be between 600 (TokenRequest's minimum) and 86400 "
                           "seconds, not 599"),
    "lifetime-too-long": (settings(maxExpirationSeconds=86401),
                          "siteTokens.maxExpirationSeconds must be between 600 (TokenRequest's minimum) and 86400 "
                          "seconds, not 86401"),
    "lifetime-not-a-number": (settings(maxExpirationSeconds="an hour"),
                              "siteTokens.maxExpirationSeconds must be between 600 (TokenRequest's minimum) and "
                              "86400 seconds, not an hour"),
    "rate-zero": (settings(requestsPerMinute=0), "siteTokens.requestsPerMinute must be between 1 and 10000, not 0"),
    "rate-too-high": (settings(requestsPerMinute=10001),
                      "siteTokens.requestsPerMinute must be between 1 and 10000, not 10001"),
    "url-number": (settings(publicURL=443),
                   "siteTokens.publicURL must be a URL as a string (https://HOST[:PORT][/PATH]) or empty, not 443"),
    "url-no-scheme": (settings(publicURL="kubeconfig.example.org"),
                      "siteTokens.publicURL \"kubeconfig.example.org\" must be the URL callers reach the service at, "
                      "https://HOST[:PORT][/PATH], with no user, query or fragment (the plugin appends "
                      "/sites/NAME/token to it)"),
    "url-user": (settings(publicURL="https://user@kubeconfig.example.org"),
                 "siteTokens.publicURL \"https://user@kubeconfig.example.org\" must be the URL callers reach"),
    "url-query": (settings(publicURL="https://kubeconfig.example.org/?site=x"),
                  "siteTokens.publicURL \"https://kubeconfig.example.org/?site=x\" must be the URL callers reach"),
    "url-loopback-user": (settings(publicURL="http://127.0.0.1:8080@kubeconfig.example.org"),
                          "siteTokens.publicURL \"http://127.0.0.1:8080@kubeconfig.example.org\" must be the URL "
                          "callers reach"),
}


@pytest.mark.parametrize("values, message", TEMPLATE_REFUSALS.values(), ids=list(TEMPLATE_REFUSALS))
def test_templates_refuse_bad_grants_without_the_schema(schemaless_chart, values: dict[str, Any],
                                                        message: str) -> None:
    """`helm install --skip-schema-validation`: the templates refuse the same values, saying why."""
    with pytest.raises(helm.HelmRenderError) as caught:
        schemaless_chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    assert message in str(caught.value)


# What the schema cannot say: refused by the templates, with the schema on.
@pytest.mark.parametrize("values, message", [
    (grants(EDGE_1, {**EDGE_1, "sites": ["edge-2"]}),
     "siteTokens.grants[1].name \"edge-1\" is taken by an earlier grant: each grant's Role and RoleBinding are "
     "named after it, so rename one or merge the two grants' sites and subjects into one"),
    (grants({**EDGE_1, "sites": ["edge-1", "Edge_2"]}),
     "siteTokens.grants[0].sites[1] \"Edge_2\" is not a site name the service accepts: a DNS-1123 subdomain (at "
     "most 253 lowercase letters, digits, '-' and '.', each label at most 63 characters, starting and ending with "
     "a letter or digit) or the central site's location (\"central\")"),
    (grants({**EDGE_1, "sites": ["a" * 64]}), f"siteTokens.grants[0].sites[0] \"{'a' * 64}\" is not a site name"),
    (grants({**EDGE_1, "sites": ["Central"]}), "siteTokens.grants[0].sites[0] \"Central\" is not a site name"),
    ({"auth": "none", **grants(EDGE_1)},
     "siteTokens.grants apply only with auth: kubernetes (with auth: none the service reviews no caller and has no "
     "POST /sites/NAME/token route): set auth: kubernetes or remove the grants"),
    (grants({**EDGE_1, "subjects": [{"kind": "ServiceAccount", "apiGroup": "rbac.authorization.k8s.io",
                                     "name": "ci"}]}),
     "siteTokens.grants[0].subjects[0].apiGroup must be \"\" for a ServiceAccount (or left out), "
     "not \"rbac.authorization.k8s.io\""),
    (grants({**EDGE_1, "subjects": [{"kind": "Group", "apiGroup": "", "name": "ops"}]}),
     "siteTokens.grants[0].subjects[0].apiGroup must be \"rbac.authorization.k8s.io\" for a Group (or left out), "
     "not \"\""),
    (grants({**EDGE_1, "subjects": [{"kind": "User", "name": "alice", "namespace": "onap"}]}),
     "siteTokens.grants[0].subjects[0].namespace applies only to a ServiceAccount, not to a User: leave it out"),
    ({"auth": "none", **settings(publicURL=PUBLIC_URL)},
     "siteTokens.publicURL applies only with auth: kubernetes (with auth: none there is no POST /sites/NAME/token "
     "route for the exec kubeconfig's plugin to ask): set auth: kubernetes or leave publicURL empty"),
    # Plain HTTP but to a loopback address: the schema takes the shape, the templates say why not.
    (settings(publicURL="http://kubeconfig.example.org"),
     "siteTokens.publicURL \"http://kubeconfig.example.org\" must be an https:// URL: the exec credential plugin "
     "sends each caller's token to it (http:// only to 127.0.0.1, localhost or [::1], e.g. through kubectl "
     "port-forward)"),
    (settings(publicURL=f"http://{FULLNAME}.{NAMESPACE}.svc:8080"),
     f"siteTokens.publicURL \"http://{FULLNAME}.{NAMESPACE}.svc:8080\" must be an https:// URL"),
    (settings(publicURL="http://localhost.example.org"),
     "siteTokens.publicURL \"http://localhost.example.org\" must be an https:// URL"),
    (settings(publicURL="http://127.0.0.1.nip.io:8080/"),
     "siteTokens.publicURL \"http://127.0.0.1.nip.io:8080/\" must be an https:// URL"),
    (settings(publicURL="http://10.0.0.1:8080"), "siteTokens.publicURL \"http://10.0.0.1:8080\" must be an https:// URL"),
], ids=["duplicate-name", "site-not-dns", "site-label-too-long", "site-like-location-but-not-it", "auth-none",
        "service-account-api-group", "group-api-group", "user-namespace", "public-url-with-auth-none",
        "public-url-http", "public-url-http-in-cluster", "public-url-http-localhost-lookalike",
        "public-url-http-loopback-lookalike", "public-url-http-private-address"])
def test_templates_refuse_what_the_schema_cannot_say(chart, schemaless_chart, values: dict[str, Any],
                                                     message: str) -> None:
    for loaded in (chart, schemaless_chart):
        with pytest.raises(helm.HelmRenderError) as caught:
            loaded.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        assert message in str(caught.value)


def test_schemaless_copy_renders_good_grants(schemaless_chart) -> None:
    # So that the refusals above come from the checks, not from the copy.
    rendered = render_chart(schemaless_chart, SCENARIOS["site-tokens"])
    assert len(site_token_objects(rendered, "Role")) == 2
    assert site_token_flags(render_chart(schemaless_chart, SCENARIOS["site-token-settings"]))["--public-url"] == \
        PUBLIC_URL


# --------------------------------------------------------------------------- NOTES and docs


def test_notes_list_the_grants(render) -> None:
    notes = render(SCENARIOS["site-tokens"]).notes
    assert ('need "create" on sites/token in API group kubeconfig-service.onap.org, for that site.\n'
            'siteTokens.grants gives it, and nothing else (not "get" on the document), with:\n') in notes
    assert (f"  Role and RoleBinding {site_tokens_name('edge-1-operators')}: sites edge-1; subjects "
            "Group edge-1-operators, User edge-1-operator\n") in notes
    assert (f"  Role and RoleBinding {site_tokens_name('pipelines')}: sites central, edge-2.example.org; subjects "
            f"ServiceAccount {NAMESPACE}/deploy-pipeline, ServiceAccount ci/ci\n") in notes


def test_docs_document_the_grants(render) -> None:
    values_doc = VALUES_DOC.read_text()
    row = next(line for line in values_doc.splitlines() if line.startswith("| `siteTokens.grants` |"))
    assert "| `[]` |" in row and "`<fullname>-site-tokens-<name>`" in row and "sites/token" in row, row
    readme = DEPLOY_README.read_text()
    assert any(line.startswith("| `siteTokens.grants` |") for line in readme.splitlines())
    rbac = RBAC_DOC.read_text()
    row = next(line for line in rbac.splitlines() if line.startswith("| Role `<fullname>-site-tokens-<name>`"))
    assert "`create` on `sites/token`" in row and "kubeconfig-service.onap.org" in row, row
    # RBAC.md's example values render the Role and RoleBinding it describes.
    [block] = fenced_blocks(doc_section("Site tokens", RBAC_DOC), "yaml")
    shown = yaml.safe_load(block)
    rendered = render(shown)
    [grant] = shown["siteTokens"]["grants"]
    assert site_token_objects(rendered, "Role")[0]["rules"] == [site_token_rule(*grant["sites"])]
    assert [s["name"] for s in site_token_objects(rendered, "RoleBinding")[0]["subjects"]] == \
        [s["name"] for s in grant["subjects"]]
    # docs/AUTHORISATION.md shows the example's Role, and names the example and the value.
    authorisation = AUTHORISATION_DOC.read_text()
    [block] = fenced_blocks(doc_section("Tokens per site", AUTHORISATION_DOC), "yaml")
    assert yaml.safe_load(block)["rules"] == site_tokens_example()[0]["rules"]
    assert "`siteTokens.grants`" in authorisation
    assert "(../deploy/examples/site-tokens-rbac.yaml)" in authorisation


def test_notes_tell_how_to_get_an_exec_kubeconfig(render, default: Rendered) -> None:
    notes = render(SCENARIOS["site-token-settings"]).notes
    assert (f"name {PUBLIC_URL} (siteTokens.publicURL): at each\nkubectl run their plugin asks POST "
            "/sites/NAME/token there with the caller's own token.") in notes
    assert (f"  kubeconfig-service kubeconfig --site NAME --service {PUBLIC_URL} --service-token-file TOKEN_FILE "
            "> NAME.kubeconfig\n") in notes
    assert 'needs "get" on the ConfigMap as above' in notes
    # Grants without a public URL: the exec kubeconfig is refused until it is set.
    notes = render(SCENARIOS["site-tokens"]).notes
    assert ("Exec kubeconfigs (GET /kubeconfig?site=NAME&credentials=exec) answer 400 until\n"
            "siteTokens.publicURL names the https:// URL callers reach the service at") in notes
    assert "kubeconfig-service kubeconfig" not in notes
    assert "credentials=exec" not in default.notes


def test_docs_document_the_settings(render) -> None:
    """VALUES.md's rows give each setting's flag, default and range as values.yaml has them;
    RBAC.md's exec kubeconfig example renders the flags it names, and its commands fetch the
    kubeconfig from that URL with a token for the release's audience."""
    values_doc = VALUES_DOC.read_text().splitlines()
    defaults = render().values["siteTokens"]
    for key, flag, default, extent in (("publicURL", "--public-url", '`""`', "https://HOST[:PORT][/PATH]"),
                                       ("maxExpirationSeconds", "--max-credential-expiration", "`3600`",
                                        "600 to 86400"),
                                       ("requestsPerMinute", "--credential-requests-per-minute", "`30`",
                                        "1 to 10000")):
        row = next(line for line in values_doc if line.startswith(f"| `siteTokens.{key}` |"))
        assert f"| {default} |" in row and f"`{flag}`" in row and extent in row, row
        assert default.strip("`") == (repr(defaults[key]) if key != "publicURL" else '""')
    readme = DEPLOY_README.read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `siteTokens.publicURL` |"))
    assert '| `""` |' in row and "(docs/RBAC.md#exec-kubeconfigs)" in row, row
    assert len(readme.splitlines()) <= 210
    section = doc_section("Exec kubeconfigs", RBAC_DOC)
    [block] = fenced_blocks(section, "yaml")
    shown = yaml.safe_load(block)
    url = shown["siteTokens"]["publicURL"]
    assert site_token_flags(render(shown)) == {
        "--max-credential-expiration": str(shown["siteTokens"]["maxExpirationSeconds"]),
        "--credential-requests-per-minute": str(shown["siteTokens"]["requestsPerMinute"]),
        "--public-url": url}
    [commands] = fenced_blocks(section, "sh")
    assert f"create token ACCOUNT --audience {FULLNAME} > ~/.kc-token" in commands
    assert f"kubeconfig-service kubeconfig --site edge-1 --service {url} \\\n  --service-token-file ~/.kc-token" \
        in commands
    assert f"kubectl port-forward service/{FULLNAME} 8080:8080" in " ".join(section.split())
    assert "`publicURL: http://127.0.0.1:8080`" in section
