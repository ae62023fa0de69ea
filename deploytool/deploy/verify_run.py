"""Run verify for one environment: expected state from the render, live state from the cluster."""

from __future__ import annotations

from collections.abc import Callable

from deploytool.core.config import Target
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.deploy.checks.registry import select
from deploytool.deploy.snapshot import Snapshot
from deploytool.deploy.snapshot_read import LiveCluster
from deploytool.deploy.verify import Result, run_checks
from deploytool.render import manifests
from deploytool.render.values import Layers


def verify(kube: Kube, helm: Helm, layers: Layers, default_node_kind: str, deep: bool = False,
           only: list[str] | None = None, skip: list[str] | None = None,
           on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """`default_node_kind`: the provider's kind (REAL or SIMULATED) for nodes without the node-kind label;
    each node's kind decides which pods' /healthz is read and which are skipped as simulated."""
    target = Target(layers.env)
    expected = manifests.render(layers, target, helm)
    checks = [c for c in select(only) if c.name not in (skip or [])]
    snap = Snapshot(target.namespace, target.release)
    loader = LiveCluster(kube, target.namespace, helm, default_node_kind)
    return run_checks(expected, snap, checks, loader, kube if deep else None, on_result)
