"""What `up` needs to know about a cluster, read once after connecting, as plain data.

Everything `up` decides before it changes anything (pre-flight, the credentials, what helm must
do) is a pure function of this and the plan.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from deploytool.core import quantity
from deploytool.core.conditions import is_ready
from deploytool.core.config import Target
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.core.labels import INSTANCE
from deploytool.deploy.preflight import NodeRoom
from deploytool.deploy.release import ReleaseState, read_state


@dataclass(frozen=True)
class ClusterState:
    nodes: int
    rooms: tuple[NodeRoom, ...]  # each node's room, our release's own pods not counted
    storage_classes: tuple[dict[str, Any], ...]  # name, default
    namespace_exists: bool
    secret: dict[str, str] = field(default_factory=dict)  # the credentials Secret's data; {} when absent
    release: ReleaseState = ReleaseState(())


def node_rooms(nodes: list[Any], pods: list[Any], namespace: str, release: str) -> list[NodeRoom]:
    """Each node's allocatable minus the requests of the live pods on it; the release's own pods
    are left out (the new desired state replaces them). Pure: node and pod objects in."""
    rooms = {}
    for node in nodes:
        alloc = node.status.allocatable or {}
        taints = [{"key": t.key, "value": t.value or "", "effect": t.effect} for t in node.spec.taints or []
                  if t.effect in ("NoSchedule", "NoExecute")]
        rooms[str(node.metadata.name)] = NodeRoom(
            str(node.metadata.name), dict(node.metadata.labels or {}), quantity.parse(alloc.get("cpu", "0")),
            quantity.parse(alloc.get("memory", "0")), is_ready(node) and not node.spec.unschedulable, taints=taints)
    for pod in pods:
        if pod.status.phase in ("Succeeded", "Failed"):
            continue
        if pod.metadata.namespace == namespace and (pod.metadata.labels or {}).get(INSTANCE) == release:
            continue
        room = rooms.get(pod.spec.node_name or "")
        if room is None:
            continue
        for c in pod.spec.containers:
            req = (c.resources.requests if c.resources else None) or {}
            room.cpu_free -= quantity.parse(req.get("cpu", "0"))
            room.mem_free -= quantity.parse(req.get("memory", "0"))
    return list(rooms.values())


def _read_or_none(read: Any) -> Any:
    try:
        return read()
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def observe(kube: Kube, helm: Helm, target: Target) -> ClusterState:
    """One read of everything `up` decides on: nodes and pods, StorageClasses, the namespace, the
    credentials Secret and the release history."""
    nodes = kube.core.list_node().items
    pods = kube.core.list_pod_for_all_namespaces(field_selector="status.phase!=Succeeded,status.phase!=Failed").items
    classes = tuple({"name": sc.metadata.name, "default": (sc.metadata.annotations or {}).get(
        "storageclass.kubernetes.io/is-default-class") == "true"} for sc in kube.storage.list_storage_class().items)
    namespace = _read_or_none(lambda: kube.core.read_namespace(target.namespace))
    secret = _read_or_none(lambda: kube.core.read_namespaced_secret(target.secret_name, target.namespace)) \
        if namespace is not None else None
    data = {k: base64.b64decode(v).decode() for k, v in ((secret.data if secret else None) or {}).items()}
    return ClusterState(len(nodes), tuple(node_rooms(nodes, pods, target.namespace, target.release)), classes,
                        namespace is not None, data, read_state(helm, target.release, target.namespace))
