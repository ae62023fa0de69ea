"""Drift between a rendered release and the live cluster: what `up` must repair even when the
Helm release itself is unchanged (a deleted PDB, a hand-scaled Deployment, an edited ConfigMap).

One LIST per kind; compares only fields the chart sets, so controller defaults don't count.
"""

from __future__ import annotations

from typing import Any

from deploytool.core import quantity
from deploytool.core.kube import Kube


def _listers(kube: Kube, ns: str) -> dict[str, Any]:
    return {
        "Deployment": lambda: kube.apps.list_namespaced_deployment(ns).items,
        "StatefulSet": lambda: kube.apps.list_namespaced_stateful_set(ns).items,
        "Service": lambda: kube.core.list_namespaced_service(ns).items,
        "ConfigMap": lambda: kube.core.list_namespaced_config_map(ns).items,
        "Secret": lambda: kube.core.list_namespaced_secret(ns).items,
        "HorizontalPodAutoscaler": lambda: kube.autoscaling.list_namespaced_horizontal_pod_autoscaler(ns).items,
        "PodDisruptionBudget": lambda: kube.policy.list_namespaced_pod_disruption_budget(ns).items,
    }


def _resources(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {part: {k: quantity.parse(v) for k, v in (res.get(part) or {}).items()} for part in ("requests", "limits")}


def _workload_drift(obj: dict[str, Any], live: Any, hpa_targets: set[str]) -> list[str]:
    name, out = f"{obj['kind']}/{obj['metadata']['name']}", []
    if obj["metadata"]["name"] not in hpa_targets and live.spec.replicas != obj["spec"].get("replicas", 1):
        out.append(f"{name}: {live.spec.replicas} replicas, rendered {obj['spec'].get('replicas', 1)}")
    want = {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}
    for c in live.spec.template.spec.containers:
        spec = want.get(c.name)
        if spec is None:
            out.append(f"{name}: unexpected container {c.name}")
            continue
        if c.image != spec["image"]:
            out.append(f"{name}: image {c.image}, rendered {spec['image']}")
        live_res = {"requests": (c.resources.requests if c.resources else None) or {},
                    "limits": (c.resources.limits if c.resources else None) or {}}
        if _resources(live_res) != _resources(spec.get("resources") or {}):
            out.append(f"{name}: container {c.name} resources differ from the render")
    annotations = live.spec.template.metadata.annotations or {}
    rendered = obj["spec"]["template"]["metadata"].get("annotations") or {}
    if rendered.get("checksum/config") and annotations.get("checksum/config") != rendered["checksum/config"]:
        out.append(f"{name}: pod template config checksum differs")
    return out


def find_drift(kube: Kube, namespace: str, objects: list[dict[str, Any]]) -> list[str]:
    listers = _listers(kube, namespace)
    live: dict[str, dict[str, Any]] = {}
    hpa_targets = {o["spec"]["scaleTargetRef"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    drift = []
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind not in listers:
            continue
        if kind not in live:
            live[kind] = {item.metadata.name: item for item in listers[kind]()}
        current = live[kind].get(name)
        if current is None:
            drift.append(f"{kind}/{name} is missing")
        elif kind in ("Deployment", "StatefulSet"):
            drift += _workload_drift(obj, current, hpa_targets)
        elif kind == "ConfigMap" and (current.data or {}) != (obj.get("data") or {}):
            drift.append(f"ConfigMap/{name}: data differs from the render")
        elif kind == "Service" and (current.spec.selector or {}) != (obj["spec"].get("selector") or {}):
            drift.append(f"Service/{name}: selector differs from the render")
        elif kind == "HorizontalPodAutoscaler" and (current.spec.min_replicas, current.spec.max_replicas) != (
                obj["spec"]["minReplicas"], obj["spec"]["maxReplicas"]):
            drift.append(f"HorizontalPodAutoscaler/{name}: bounds differ from the render")
    return drift
