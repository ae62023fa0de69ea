"""Drift between a rendered release and the live cluster: what `up` must repair even when the
Helm release itself is unchanged (a deleted PDB, a hand-scaled Deployment, an edited ConfigMap).

The decisions are pure functions of plain data (`drift_between`, `hpa_range_repairs`); the
wrappers read the cluster (one LIST per kind) or patch it.
"""

from __future__ import annotations

from typing import Any

from deploytool.core import quantity
from deploytool.core.kube import Kube
from deploytool.deploy.checks.network import normalized
from deploytool.deploy.checks.security import missing
from deploytool.deploy.snapshot import Snapshot, Workload
from deploytool.deploy.snapshot_read import read_snapshot

# rendered kind -> the snapshot part that holds it
PARTS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "Service": "services",
         "ConfigMap": "configmaps", "Secret": "secrets", "HorizontalPodAutoscaler": "hpas",
         "PodDisruptionBudget": "pdbs", "NetworkPolicy": "network_policies"}


def _resources(requests: dict[str, Any], limits: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return ({k: quantity.parse(v) for k, v in requests.items()}, {k: quantity.parse(v) for k, v in limits.items()})


def _workload_drift(obj: dict[str, Any], live: Workload, hpa_bounds: dict[str, tuple[int, int]]) -> list[str]:
    name, out = f"{obj['kind']}/{obj['metadata']['name']}", []
    bounds = hpa_bounds.get(obj["metadata"]["name"])
    if bounds is None and live.replicas != obj["spec"].get("replicas", 1):
        out.append(f"{name}: {live.replicas} replicas, rendered {obj['spec'].get('replicas', 1)}")
    elif bounds is not None and not bounds[0] <= live.replicas <= bounds[1]:
        # e.g. scaled to 0 by hand, which also switches the HPA off
        out.append(f"{name}: {live.replicas} replicas, outside its HPA's {bounds[0]}..{bounds[1]}")
    want = {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}
    for c in live.containers:
        spec = want.get(c.name)
        if spec is None:
            out.append(f"{name}: unexpected container {c.name}")
            continue
        if c.image != spec["image"]:
            out.append(f"{name}: image {c.image}, rendered {spec['image']}")
        res = spec.get("resources") or {}
        if _resources(c.requests, c.limits) != _resources(res.get("requests") or {}, res.get("limits") or {}):
            out.append(f"{name}: container {c.name} resources differ from the render")
        if missing(spec.get("securityContext") or {}, c.security_context):
            out.append(f"{name}: container {c.name} securityContext differs from the render")
    checksum = (obj["spec"]["template"]["metadata"].get("annotations") or {}).get("checksum/config")
    if checksum and live.template_annotations.get("checksum/config") != checksum:
        out.append(f"{name}: pod template config checksum differs")
    return out


def hpa_targets(objects: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Deployment name -> (minReplicas, maxReplicas) of the HPA that owns its replica count."""
    return {o["spec"]["scaleTargetRef"]["name"]: (int(o["spec"]["minReplicas"]), int(o["spec"]["maxReplicas"]))
            for o in objects if o["kind"] == "HorizontalPodAutoscaler"}


def _live(snap: Snapshot, kind: str, name: str) -> Any:
    return getattr(snap, PARTS[kind]).get(name)


def _object_drift(obj: dict[str, Any], current: Any, hpa_bounds: dict[str, tuple[int, int]]) -> list[str]:
    kind, name = obj["kind"], obj["metadata"]["name"]
    if kind in ("Deployment", "StatefulSet"):
        return _workload_drift(obj, current, hpa_bounds)
    if kind == "ConfigMap" and current.data != (obj.get("data") or {}):
        return [f"ConfigMap/{name}: data differs from the render"]
    if kind == "Service" and current.selector != (obj["spec"].get("selector") or {}):
        return [f"Service/{name}: selector differs from the render"]
    if kind == "NetworkPolicy" and normalized(current.spec) != normalized(obj.get("spec") or {}):
        return [f"NetworkPolicy/{name}: spec differs from the render"]
    if kind == "HorizontalPodAutoscaler" and (current.min_replicas, current.max_replicas) != (
            obj["spec"]["minReplicas"], obj["spec"]["maxReplicas"]):
        return [f"HorizontalPodAutoscaler/{name}: bounds differ from the render"]
    return []


def drift_between(objects: list[dict[str, Any]], snap: Snapshot) -> list[str]:
    """What differs between the rendered objects and the snapshot, in the fields the chart sets
    (controller defaults don't count). Kinds outside PARTS are not compared."""
    hpa_bounds = hpa_targets(objects)
    drift = []
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind not in PARTS:
            continue
        current = _live(snap, kind, name)
        drift += [f"{kind}/{name} is missing"] if current is None else _object_drift(obj, current, hpa_bounds)
    return drift


def hpa_range_repairs(objects: list[dict[str, Any]], replicas: dict[str, int]) -> list[tuple[str, int, int]]:
    """(Deployment, current, target) for each HPA target whose live replica count is outside its
    HPA's range: back to the nearest bound. Deployments not in `replicas` (not live) are left to helm."""
    repairs = []
    for name, (low, high) in sorted(hpa_targets(objects).items()):
        current = replicas.get(name)
        if current is not None and not low <= current <= high:
            repairs.append((name, current, min(max(current, low), high)))
    return repairs


def restore_hpa_range(kube: Kube, namespace: str, objects: list[dict[str, Any]]) -> list[str]:
    """Helm does not own an HPA target's replica count (the chart leaves it out), so a count pushed
    outside the HPA's range by hand is put back to the nearest bound here."""
    replicas = {}
    for name in sorted(hpa_targets(objects)):
        try:
            replicas[name] = kube.apps.read_namespaced_deployment_scale(name, namespace).spec.replicas or 0
        except Exception:  # noqa: BLE001 - a missing Deployment is helm's to create
            continue
    fixed = []
    for name, current, target in hpa_range_repairs(objects, replicas):
        kube.apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": target}})
        fixed.append(f"{name} {current}->{target}")
    return fixed


def find_drift(kube: Kube, namespace: str, objects: list[dict[str, Any]]) -> list[str]:
    parts = tuple(sorted({PARTS[o["kind"]] for o in objects if o["kind"] in PARTS}))
    return drift_between(objects, read_snapshot(kube, namespace, parts))
