"""Label keys, selectors and ports that every layer shares: named here once.

The chart labels every object with the recommended app.kubernetes.io keys; deploytool's nodes
carry the well-known hostname and zone labels.
"""

from __future__ import annotations

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"  # the helm release
COMPONENT = "app.kubernetes.io/component"  # proxy, querynode, ..., etcd, minio
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"
MANAGER = "deploytool"  # the MANAGED_BY value of what deploytool creates outside the chart
ENV = "deploytool/env"

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
NODE_ZONES = ("zone-a", "zone-b", "zone-c")  # deploytool's clusters label nodes round-robin over these

MILVUS_PORT = 19530  # Milvus's gRPC/HTTP client port (proxy and standalone pods)


def selector(**pairs: str) -> str:
    """A label selector: `selector(a="1", b="2")` -> "a=1,b=2" (sorted by key)."""
    return ",".join(f"{k}={v}" for k, v in sorted(pairs.items()))


def release_selector(release: str) -> str:
    """Every object of a helm release."""
    return selector(**{INSTANCE: release})


def component_selector(release: str, component: str) -> str:
    """The pods (and workloads) of one component of a release."""
    return selector(**{INSTANCE: release, COMPONENT: component})
