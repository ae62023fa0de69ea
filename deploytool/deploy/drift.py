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


def _workload_drift(obj: dict[str, Any], live: Any, hpa_bounds: dict[str, tuple[int, int]]) -> list[str]:
    name, out = f"{obj['kind']}/{obj['metadata']['name']}", []
    bounds = hpa_bounds.get(obj["metadata"]["name"])
    if bounds is None and live.spec.replicas != obj["spec"].get("replicas", 1):
        out.append(f"{name}: {live.spec.replicas} replicas, rendered {obj['spec'].get('replicas', 1)}")
    elif bounds is not None and not bounds[0] <= (live.spec.replicas or 0) <= bounds[1]:
        # e.g. scaled to 0 by hand, which also switches the HPA off
        out.append(f"{name}: {live.spec.replicas} replicas, outside its HPA's {bounds[0]}..{bounds[1]}")
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


def hpa_targets(objects: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Deployment name -> (minReplicas, maxReplicas) of the HPA that owns its replica count."""
    return {o["spec"]["scaleTargetRef"]["name"]: (int(o["spec"]["minReplicas"]), int(o["spec"]["maxReplicas"]))
            for o in objects if o["kind"] == "HorizontalPodAutoscaler"}


def restore_hpa_range(kube: Kube, namespace: str, objects: list[dict[str, Any]]) -> list[str]:
    """Helm does not own an HPA target's replica count (the chart leaves it out), so a count pushed
    outside the HPA's range by hand is put back to the nearest bound here."""
    fixed = []
    for name, (low, high) in sorted(hpa_targets(objects).items()):
        try:
            current = kube.apps.read_namespaced_deployment_scale(name, namespace).spec.replicas or 0
        except Exception:  # noqa: BLE001 - a missing Deployment is helm's to create
            continue
        if not low <= current <= high:
            target = min(max(current, low), high)
            kube.apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": target}})
            fixed.append(f"{name} {current}->{target}")
    return fixed


def find_drift(kube: Kube, namespace: str, objects: list[dict[str, Any]]) -> list[str]:
    listers = _listers(kube, namespace)
    live: dict[str, dict[str, Any]] = {}
    hpa_bounds = hpa_targets(objects)
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
            drift += _workload_drift(obj, current, hpa_bounds)
        elif kind == "ConfigMap" and (current.data or {}) != (obj.get("data") or {}):
            drift.append(f"ConfigMap/{name}: data differs from the render")
        elif kind == "Service" and (current.spec.selector or {}) != (obj["spec"].get("selector") or {}):
            drift.append(f"Service/{name}: selector differs from the render")
        elif kind == "HorizontalPodAutoscaler" and (current.spec.min_replicas, current.spec.max_replicas) != (
                obj["spec"]["minReplicas"], obj["spec"]["maxReplicas"]):
            drift.append(f"HorizontalPodAutoscaler/{name}: bounds differ from the render")
    return drift
