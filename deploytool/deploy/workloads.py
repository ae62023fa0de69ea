"""Workload state of a release: one LIST per kind, whatever the number of pods."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from deploytool.core.errors import CheckFailed
from deploytool.core.kube import Kube


@dataclass
class WorkloadState:
    kind: str
    name: str
    component: str
    desired: int
    ready: int
    updated: int
    available: int
    generation_observed: bool

    @property
    def settled(self) -> bool:
        return self.generation_observed and self.desired == self.ready == self.updated == self.available

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "component": self.component, "desired": self.desired,
                "ready": self.ready, "updated": self.updated, "available": self.available}


def list_workloads(kube: Kube, namespace: str, selector: str) -> list[WorkloadState]:
    states = []
    for dep in kube.apps.list_namespaced_deployment(namespace, label_selector=selector).items:
        st = dep.status
        states.append(WorkloadState(
            "Deployment", str(dep.metadata.name), (dep.metadata.labels or {}).get("app.kubernetes.io/component", ""),
            dep.spec.replicas or 0, st.ready_replicas or 0, st.updated_replicas or 0, st.available_replicas or 0,
            (st.observed_generation or 0) >= (dep.metadata.generation or 0)))
    for sts in kube.apps.list_namespaced_stateful_set(namespace, label_selector=selector).items:
        sst = sts.status
        states.append(WorkloadState(
            "StatefulSet", str(sts.metadata.name), (sts.metadata.labels or {}).get("app.kubernetes.io/component", ""),
            sts.spec.replicas or 0, sst.ready_replicas or 0, sst.updated_replicas or 0,
            sst.available_replicas or 0,
            (sst.observed_generation or 0) >= (sts.metadata.generation or 0)
            and (sst.current_revision == sst.update_revision or not sst.update_revision)))
    return sorted(states, key=lambda s: (s.kind, s.name))


def wait_available(kube: Kube, namespace: str, selector: str, timeout_s: float = 600,
                   poll_s: float = 2.0, minimums: dict[str, int] | None = None) -> list[WorkloadState]:
    """Wait until every workload is settled and holds at least its minimum replicas (an HPA
    target starts with one replica and reaches minReplicas when the HPA first syncs)."""
    minimums = minimums or {}
    deadline = time.monotonic() + timeout_s
    while True:
        states = list_workloads(kube, namespace, selector)
        short = [s for s in states if s.desired < minimums.get(s.name, 0)]
        if states and all(s.settled for s in states) and not short:
            return states
        if time.monotonic() > deadline:
            pending = [f"{s.kind}/{s.name} {s.ready}/{s.desired} ready, {s.updated} updated"
                       for s in states if not s.settled]
            pending += [f"{s.kind}/{s.name} has {s.desired} replicas, its HPA minimum is {minimums[s.name]}"
                        for s in short]
            pending = pending or ["no workloads found"]
            raise CheckFailed(f"not available after {timeout_s:.0f}s: " + "; ".join(pending))
        time.sleep(poll_s)


def pods_by_node(kube: Kube, namespace: str, selector: str) -> dict[str, list[str]]:
    placement: dict[str, list[str]] = {}
    for pod in kube.core.list_namespaced_pod(namespace, label_selector=selector).items:
        node = pod.spec.node_name or "(pending)"
        placement.setdefault(node, []).append(str(pod.metadata.name))
    return {node: sorted(names) for node, names in sorted(placement.items())}
