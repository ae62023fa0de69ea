"""What drills do to nodes with the Kubernetes API alone: cordon, drain (Eviction API), readiness.

Faults that depend on how the cluster was made (failing a node, driving simulated CPU usage,
making a tag unpullable) are the provider's: deploytool.clusters.faults, reached as
`ctx.faults` in a drill.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.core.conditions import is_ready
from deploytool.core.kube import Kube

BROKEN_SUFFIX = "-broken"


def cordon(kube: Kube, node: str, unschedulable: bool = True) -> None:
    kube.core.patch_node(node, {"spec": {"unschedulable": unschedulable}})


def node_ready(kube: Kube, node: str) -> bool:
    return is_ready(kube.core.read_node(node))


@dataclass
class DrainResult:
    evicted: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # PDB said no (429) at least once
    force_deleted: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        parts = [f"{len(self.evicted)} evicted via the Eviction API"]
        if self.blocked:
            parts.append(f"{len(self.blocked)} held back by a PDB at first ({', '.join(self.blocked)})")
        if self.force_deleted:
            parts.append(f"{len(self.force_deleted)} force-deleted after the bound ({', '.join(self.force_deleted)})")
        return "; ".join(parts)


def _pods_on(kube: Kube, node: str) -> list[Any]:
    pods = kube.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    return [p for p in pods if not any(o.kind == "DaemonSet" for o in p.metadata.owner_references or [])]


def drain(kube: Kube, node: str, bound_s: float, force_namespace: str) -> DrainResult:
    """Evict every pod on node with the Eviction API (PDBs respected), retrying refusals; after
    bound_s, force-delete what is left of the drilled release's namespace only (pods a PDB still
    protects, evicted pods stuck terminating because no kubelet confirms their end). Other
    namespaces' pods are evicted like `kubectl drain` does, never force-deleted."""
    result = DrainResult()
    start = time.monotonic()
    while True:
        pods = _pods_on(kube, node)
        if not pods:
            break
        if time.monotonic() - start > bound_s:
            for pod in pods:
                if pod.metadata.namespace != force_namespace:
                    continue
                try:
                    kube.core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
                    result.force_deleted.append(pod.metadata.name)
                except ApiException as exc:
                    if exc.status != 404:
                        raise
            break
        for pod in pods:
            name, ns = pod.metadata.name, pod.metadata.namespace
            if pod.metadata.deletion_timestamp or name in result.evicted:
                continue
            body = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=ns))
            try:
                kube.core.create_namespaced_pod_eviction(name, ns, body)
                result.evicted.append(name)
            except ApiException as exc:
                if exc.status == 429 and name not in result.blocked:
                    result.blocked.append(name)
                elif exc.status not in (404, 429):
                    raise
        time.sleep(1.0)
    result.seconds = time.monotonic() - start
    return result
