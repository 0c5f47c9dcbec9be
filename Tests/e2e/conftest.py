"""Fixtures for the end-to-end suite: the real kubeconfig-service binary against the project's
local HTTPS Kubernetes API test server (Tests/kube-api-server). What the tests share besides
fixtures is in support.py.
"""

from __future__ import annotations

import pytest
from kubeapi import KubeAPIServer
from support import CONFIGMAP, NAMESPACE, Service


@pytest.fixture
def api(tmp_path):
    """A fresh API server holding the (empty) ConfigMap Helm would have created."""
    server = KubeAPIServer(tmp_path / "api").start()
    server.put_configmap(NAMESPACE, CONFIGMAP, {})
    yield server
    server.stop()


@pytest.fixture
def api6(tmp_path):
    """The same on IPv6 loopback."""
    server = KubeAPIServer(tmp_path / "api6", host="::1").start()
    server.put_configmap(NAMESPACE, CONFIGMAP, {})
    yield server
    server.stop()


@pytest.fixture
def serve(api):
    """Starts `serve` with extra arguments against `api`; stopped after the test."""
    started: list[Service] = []

    def start(*args, api_server=None, **kwargs) -> Service:
        service = Service(api_server or api, *args, **kwargs).start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
