"""Drift detection and the HPA-range repair as pure functions, on tables (no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploytool.deploy.drift import drift_between, hpa_range_repairs
from deploytool.deploy.snapshot import Snapshot

CASES = Path(__file__).parent / "drift_cases"


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_drift_on_fixture(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    snap = Snapshot.from_dict({"namespace": "milvus-prod", **(case.get("snapshot") or {})})
    assert drift_between(case["expected"], snap) == case["drift"]


HPAS = [{"kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
         "spec": {"minReplicas": low, "maxReplicas": high, "scaleTargetRef": {"kind": "Deployment", "name": name}}}
        for name, low, high in (("proxy", 2, 10), ("querynode", 3, 20))]


@pytest.mark.parametrize(("replicas", "repairs"), [
    ({"proxy": 2, "querynode": 20}, []),  # at the bounds: in range
    ({"proxy": 0, "querynode": 3}, [("proxy", 0, 2)]),  # scaled to 0 by hand (switches the HPA off)
    ({"proxy": 11, "querynode": 50}, [("proxy", 11, 10), ("querynode", 50, 20)]),  # above: down to max
    ({"querynode": 1}, [("querynode", 1, 3)]),  # proxy not live: helm creates it
    ({}, []),
])
def test_hpa_targets_go_back_to_the_nearest_bound(replicas: dict[str, int], repairs: list) -> None:
    assert hpa_range_repairs(HPAS + [{"kind": "Deployment", "metadata": {"name": "proxy"}}], replicas) == repairs
