"""Fixtures for the end-to-end suite: the real kubeconfig-service binary against the project's
local HTTPS Kubernetes API test server (Tests/kube-api-server). What the tests share besides
fixtures is in support.py, and for managed sites in managed.py.
"""

from __future__ import annotations

import pytest
from kubeapi import KubeAPIServer
from loopback import Service
from managed import start_central, start_remote, start_service
from support import CONFIGMAP, NAMESPACE


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


# MARK: - Managed sites


@pytest.fixture
def central(tmp_path):
    """The service's own cluster with the document's ConfigMap and the credentials Secret (managed.start_central)."""
    server = start_central(tmp_path / "central")
    yield server
    server.stop()


@pytest.fixture
def remotes(tmp_path):
    """Starts remote clusters: `remotes("a", cap=12)` (managed.start_remote); stopped after the test.
    (test_sites.py has remotes of its own, without bootstrap identities.)"""
    started: list[KubeAPIServer] = []

    def start(name: str, cap: int | None = None, host: str = "127.0.0.1") -> KubeAPIServer:
        server = start_remote(tmp_path / f"remote-{name}", name, cap=cap, host=host)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def services(central):
    """Starts `serve` replicas on `central` with the credentials Secret and probes every second
    (managed.start_service); stopped after the test."""
    started: list[Service] = []

    def start(*args, **options) -> Service:
        service = start_service(central, *args, **options)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
