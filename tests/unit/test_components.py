"""The chart's component list and Python's (render/components.py) are the same list.

Python decides with it what to wait for, verify and upgrade; the chart decides what to render.
Each case renders with helm and compares the workloads the chart made with active_components().
"""

from __future__ import annotations

import pytest

from deploytool.core.labels import COMPONENT
from deploytool.render import manifests
from deploytool.render.components import CLUSTER_COMPONENTS, active_components
from deploytool.render.values import Layers

CASES = [
    ("dev", []),  # standalone, embedded etcd and local storage
    ("dev", ["standalone.dependencies=chart"]),  # standalone with the bundled etcd and MinIO
    ("staging", []),
    ("prod", []),
]


@pytest.mark.parametrize(("env", "sets"), CASES, ids=[f"{e}{'+' + ','.join(s) if s else ''}" for e, s in CASES])
def test_rendered_workloads_are_the_active_components(env: str, sets: list[str]) -> None:
    rendered = manifests.render(Layers(env, sets=sets))
    chart = {(o["metadata"]["labels"][COMPONENT], o["kind"]) for o in rendered.objects
             if o["kind"] in ("Deployment", "StatefulSet")}
    python = {(c.name, c.kind) for c in active_components(rendered.values)}
    assert chart == python
    for c in active_components(rendered.values):
        assert isinstance(rendered.values.get(c.key), dict), f"values key {c.key} of {c.name}"


def test_cluster_mode_renders_every_cluster_component(render_env) -> None:
    names = {o["metadata"]["labels"][COMPONENT] for o in render_env("prod").by_kind("Deployment")}
    assert {name for _, name in CLUSTER_COMPONENTS} <= names
