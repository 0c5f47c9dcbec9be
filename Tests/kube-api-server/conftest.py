"""Fixtures of the API test server's own tests: one server per test module, started with the seeded
objects and rules (apitests.py), and reset before every test."""

import pytest
from apitests import CERT_RULES, CLOUDIFY_TOKEN_RULE
from kubeapi import KubeAPIServer


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    config = {"configmaps": [{"namespace": "onap", "name": "seed", "data": {"seeded": "yes"}}],
              "secrets": [{"namespace": "onap", "name": "sealed", "stringData": {"seeded": "yes"}}],
              "serviceAccounts": [{"namespace": "onap", "name": "robot"}, {"namespace": "onap", "name": "cloudify"}],
              "rules": [CLOUDIFY_TOKEN_RULE, *CERT_RULES]}
    with KubeAPIServer(tmp_path_factory.mktemp("kube-api"), config=config) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_state(api):
    api.reset()
