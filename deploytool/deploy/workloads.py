"""Workload and pod state of a release: one LIST per kind, whatever the number of pods."""

from __future__ import annotations

from typing import Any

from deploytool.core.conditions import pod_ready
from deploytool.core.errors import CheckFailed
from deploytool.core.kube import Kube
from deploytool.core.labels import component_selector
from deploytool.core.rollout import Rollout, rollout_of
from deploytool.core.wait import wait_until


def list_workloads(kube: Kube, namespace: str, selector: str) -> list[Rollout]:
    objs = [*kube.apps.list_namespaced_deployment(namespace, label_selector=selector).items,
            *kube.apps.list_namespaced_stateful_set(namespace, label_selector=selector).items]
    return sorted((rollout_of(o) for o in objs), key=lambda s: (s.kind, s.name))


def wait_available(kube: Kube, namespace: str, selector: str, timeout_s: float = 600,
                   poll_s: float = 2.0, minimums: dict[str, int] | None = None) -> list[Rollout]:
    """Wait until every workload is fully rolled and holds at least its minimum replicas (an HPA
    target starts with one replica and reaches minReplicas when the HPA first syncs)."""
    minimums = minimums or {}
    last: list[Rollout] = []

    def done() -> list[Rollout]:
        last[:] = states = list_workloads(kube, namespace, selector)
        short = [s for s in states if s.desired < minimums.get(s.name, 0)]
        return states if states and all(s.fully_rolled for s in states) and not short else []

    def pending() -> str:
        lines = [s.describe() for s in last if not s.fully_rolled]
        lines += [f"{s.kind}/{s.name} has {s.desired} replicas, its HPA minimum is {minimums[s.name]}"
                  for s in last if s.desired < minimums.get(s.name, 0)]
        return "; ".join(lines or ["no workloads found"])

    return wait_until(done, timeout_s, poll_s, "every workload to be available", pending, error=CheckFailed,
                      retry=())


def ready_pods(kube: Kube, namespace: str, release: str, component: str, timeout_s: float = 10) -> list[Any]:
    """The component's pods that are Running, Ready and not being deleted, by name."""
    pods = kube.core.list_namespaced_pod(namespace, label_selector=component_selector(release, component),
                                         _request_timeout=timeout_s).items
    return sorted((p for p in pods if pod_ready(p) and not p.metadata.deletion_timestamp),
                  key=lambda p: str(p.metadata.name))


def ready_pod(kube: Kube, namespace: str, release: str, component: str) -> str:
    """The name of one ready pod of the component (the first by name); CheckFailed if there is none."""
    pods = ready_pods(kube, namespace, release, component)
    if not pods:
        raise CheckFailed(f"no ready {component} pod in {namespace} (selector "
                          f"{component_selector(release, component)})")
    return str(pods[0].metadata.name)


def pods_by_node(kube: Kube, namespace: str, selector: str) -> dict[str, list[str]]:
    placement: dict[str, list[str]] = {}
    for pod in kube.core.list_namespaced_pod(namespace, label_selector=selector).items:
        node = pod.spec.node_name or "(pending)"
        placement.setdefault(node, []).append(str(pod.metadata.name))
    return {node: sorted(names) for node, names in sorted(placement.items())}
