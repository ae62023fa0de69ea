"""`status`: release revision, per-component desired/ready/updated, pods per node, HPAs."""

from __future__ import annotations

from typing import Any

from deploytool.core.config import Target
from deploytool.core.helm import Helm
from deploytool.core.hpa import current_utilization, target_utilization
from deploytool.core.kube import Kube
from deploytool.core.labels import release_selector
from deploytool.deploy.workloads import list_workloads, pods_by_node


def gather(kube: Kube, helm: Helm, target: Target) -> dict[str, Any]:
    history = helm.history(target.release, target.namespace)
    last = history[-1] if history else None
    selector = release_selector(target.release)
    hpas = []
    for hpa in kube.autoscaling.list_namespaced_horizontal_pod_autoscaler(target.namespace).items:
        current_cpu, target_cpu = current_utilization(hpa).get("cpu"), target_utilization(hpa).get("cpu")
        hpas.append({"name": hpa.metadata.name, "target": hpa.spec.scale_target_ref.name,
                     "min": hpa.spec.min_replicas, "max": hpa.spec.max_replicas,
                     "current_replicas": hpa.status.current_replicas if hpa.status else None,
                     "desired_replicas": hpa.status.desired_replicas if hpa.status else None,
                     "cpu_current_percent": current_cpu, "cpu_target_percent": target_cpu})
    workloads = list_workloads(kube, target.namespace, selector)
    return {
        "env": target.env,
        "namespace": target.namespace,
        "release": target.release,
        "installed": last is not None,
        "revision": int(last["revision"]) if last else None,
        "release_status": last.get("status") if last else None,
        "chart": last.get("chart") if last else None,
        "components": [w.as_dict() for w in workloads],
        "healthy": bool(workloads) and all(w.fully_rolled for w in workloads),
        "pods_by_node": pods_by_node(kube, target.namespace, selector),
        "hpas": sorted(hpas, key=lambda h: h["name"]),
    }


def format_text(data: dict[str, Any]) -> list[str]:
    if not data["installed"]:
        return [f"{data['env']}: release {data['release']} is not installed in {data['namespace']}"]
    lines = [f"{data['env']}: release {data['release']} revision {data['revision']} ({data['release_status']}, "
             f"{data['chart']}) in {data['namespace']} — {'healthy' if data['healthy'] else 'NOT healthy'}",
             f"  {'COMPONENT':<15} {'KIND':<12} {'DESIRED':>7} {'READY':>5} {'UPDATED':>7} {'AVAILABLE':>9}"]
    for c in data["components"]:
        lines.append(f"  {c['component']:<15} {c['kind']:<12} {c['desired']:>7} {c['ready']:>5} {c['updated']:>7} "
                     f"{c['available']:>9}")
    lines.append("  pods per node:")
    for node, pods in data["pods_by_node"].items():
        lines.append(f"    {node}: {len(pods)} ({', '.join(p.removeprefix(data['release'] + '-') for p in pods)})")
    for h in data["hpas"]:
        current = "unknown" if h["cpu_current_percent"] is None else f"{h['cpu_current_percent']}%"
        lines.append(f"  hpa {h['name']}: replicas {h['current_replicas']} (min {h['min']}, max {h['max']}), "
                     f"cpu {current} / target {h['cpu_target_percent']}%")
    return lines
