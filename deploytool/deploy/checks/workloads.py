"""Workloads exist with the intended kind, are settled, run the expected image and don't crash-loop;
StatefulSets keep stable identity and storage."""

from __future__ import annotations

from typing import Any

from deploytool.deploy.checks.expected import component, pod_spec, replica_bounds, workloads
from deploytool.deploy.snapshot import Snapshot, Workload
from deploytool.deploy.verify import FAIL, PASS, SKIP, Result
from deploytool.render.manifests import Rendered

RESTART_LOOP = 3


def _workload_problems(expected: Rendered, obj: dict[str, Any], live: Workload, snap: Snapshot) -> list[str]:
    kind, name, bad = obj["kind"], obj["metadata"]["name"], []
    desired, ready, updated = live.replicas, live.ready_replicas, live.updated_replicas
    low, high = replica_bounds(expected, obj)
    if not low <= desired <= high:
        allowed = str(low) if low == high else f"{low}..{high} (HPA)"
        bad.append(f"{kind}/{name}: {desired} replicas, env says {allowed}")
    if not desired == ready == updated:
        bad.append(f"{kind}/{name}: desired {desired}, ready {ready}, updated {updated}")
    want = {c["name"]: c["image"] for c in pod_spec(obj)["containers"]}
    have = {c.name: c.image for c in live.containers}
    if want != have:
        bad.append(f"{kind}/{name}: image {have} (expected {want})")
    for pod in snap.pods_of(component(obj)):
        for cs in pod.container_statuses:
            if cs.restart_count >= RESTART_LOOP or cs.waiting_reason == "CrashLoopBackOff":
                bad.append(f"pod {pod.name}: container {cs.name} restarted {cs.restart_count}x {cs.waiting_reason}")
    return bad


def check_workloads(expected: Rendered, snap: Snapshot) -> Result:
    bad: list[str] = []
    good: list[str] = []
    for obj in workloads(expected):
        kind, name = obj["kind"], obj["metadata"]["name"]
        live = snap.workload(kind, name)
        if live is None:
            other = snap.workload("StatefulSet" if kind == "Deployment" else "Deployment", name)
            bad.append(f"{kind}/{name} missing" + (" (exists as the other kind)" if other else ""))
            continue
        problems = _workload_problems(expected, obj, live, snap)
        bad += problems
        if not problems:
            good.append(f"{kind}/{name} {live.ready_replicas}/{live.replicas} ready")
    if bad:
        return Result("workloads", FAIL, bad, "see `deploytool status`; `kubectl describe` the named objects")
    return Result("workloads", PASS, good)


def _identity_problems(name: str, replicas: int, templates: list[str], snap: Snapshot) -> list[str]:
    bad = []
    pods = {p.name for p in snap.pods if p.name.rsplit("-", 1)[0] == name}
    for ordinal in range(replicas):
        pod_name = f"{name}-{ordinal}"
        if pod_name not in pods:
            bad.append(f"pod {pod_name} missing (stable names are {name}-0..{replicas - 1})")
        for tpl in templates:
            pvc = snap.pvcs.get(f"{tpl}-{pod_name}")
            if pvc is None or pvc.phase != "Bound":
                bad.append(f"PVC {tpl}-{pod_name} {pvc.phase if pvc else 'missing'}")
            elif pvc.terminating:
                bad.append(f"PVC {tpl}-{pod_name} is being deleted (Terminating): {pod_name} loses its "
                           "storage when it next restarts")
    extra = sorted(pods - {f"{name}-{i}" for i in range(replicas)})
    if extra:
        bad.append(f"StatefulSet/{name}: unexpected pods {extra}")
    return bad


def claim_templates(obj: dict[str, Any]) -> list[str]:
    return [v["metadata"]["name"] for v in obj["spec"].get("volumeClaimTemplates", [])]


def check_statefulset_identity(expected: Rendered, snap: Snapshot) -> Result:
    bad: list[str] = []
    good: list[str] = []
    for obj in expected.by_kind("StatefulSet"):
        name = obj["metadata"]["name"]
        live = snap.statefulsets.get(name)
        if live is None:
            bad.append(f"StatefulSet/{name} missing")
            continue
        templates = claim_templates(obj)
        bad += _identity_problems(name, live.replicas, templates, snap)
        good.append(f"{name}: pods {name}-0..{live.replicas - 1}, PVCs {', '.join(templates) or 'none'} Bound")
    if bad:
        return Result("statefulset-identity", FAIL, bad, "check the StorageClass / provisioner and the pod events")
    if not good:
        return Result("statefulset-identity", SKIP, ["nothing to check: this env runs no StatefulSet"])
    return Result("statefulset-identity", PASS, good)
