"""`helm lint --strict` is clean for the chart defaults and every committed environment."""

from __future__ import annotations

import pytest

from deploytool.core import paths
from deploytool.core.helm import Helm
from deploytool.render.values import Layers


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_helm_lint_strict(env: str) -> None:
    out = Helm().lint(paths.chart_dir(), Layers(env).overrides())
    assert "0 chart(s) failed" in out


def test_chart_has_one_shared_component_template() -> None:
    templates = paths.chart_dir() / "templates"
    defines = [p.name for p in templates.iterdir() if 'define "milvus.component"' in p.read_text()]
    assert defines == ["_component.tpl"]
    per_component = [p.name for p in templates.iterdir()
                     if any(n in p.name for n in ("proxy", "querynode", "datanode", "mixcoord", "streamingnode"))]
    assert per_component == [], "no per-component near-copies"
