"""Reading the expected state: the rendered objects the checks compare the snapshot with."""

from __future__ import annotations

from typing import Any

from deploytool.core.labels import COMPONENT
from deploytool.render.manifests import Rendered

BUNDLED = ("etcd", "minio")  # the chart's own dependencies, not Milvus roles


def workloads(expected: Rendered) -> list[dict[str, Any]]:
    return expected.by_kind("Deployment") + expected.by_kind("StatefulSet")


def component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"][COMPONENT])


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def milvus_components(expected: Rendered) -> list[str]:
    """The rendered workloads' components other than the bundled etcd and MinIO."""
    return sorted({component(o) for o in workloads(expected)} - set(BUNDLED))


def replica_bounds(expected: Rendered, obj: dict[str, Any]) -> tuple[int, int]:
    """The replica count the env allows a workload: fixed, or its HPA's min..max."""
    for hpa in expected.by_kind("HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == obj["metadata"]["name"]:
            return int(hpa["spec"]["minReplicas"]), int(hpa["spec"]["maxReplicas"])
    replicas = int(obj["spec"].get("replicas", 1))
    return replicas, replicas
