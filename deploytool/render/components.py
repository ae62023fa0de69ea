"""Which Milvus components a values tree deploys, and as what kind of workload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# values key -> label/object suffix; order is milvus-operator's 2.6 upgrade order, proxy last.
CLUSTER_COMPONENTS = (
    ("mixCoord", "mixcoord"),
    ("streamingNode", "streamingnode"),
    ("queryNode", "querynode"),
    ("dataNode", "datanode"),
    ("proxy", "proxy"),
)


@dataclass(frozen=True)
class Component:
    key: str  # values key, e.g. queryNode
    name: str  # label value / object suffix, e.g. querynode
    kind: str  # Deployment or StatefulSet
    milvus: bool  # a Milvus role (vs. the bundled etcd / MinIO)


def remote_deps(values: dict[str, Any]) -> bool:
    """Metadata in etcd and data in object storage: cluster mode, or standalone with dependencies chart."""
    return values.get("mode") != "standalone" or (values.get("standalone") or {}).get("dependencies") == "chart"


def active_components(values: dict[str, Any]) -> list[Component]:
    if values.get("mode") == "standalone":
        comps = [Component("standalone", "standalone", "StatefulSet", True)]
    else:
        comps = [Component(key, name, "Deployment", True) for key, name in CLUSTER_COMPONENTS]
    if not remote_deps(values):
        return comps
    if (values.get("etcd") or {}).get("enabled"):
        comps.append(Component("etcd", "etcd", "StatefulSet", False))
    if (values.get("minio") or {}).get("enabled"):
        comps.append(Component("minio", "minio", "StatefulSet", False))
    return comps


def endpoint_component(values: dict[str, Any]) -> str:
    """The component clients connect to (behind the Service)."""
    return "standalone" if values.get("mode") == "standalone" else "proxy"
