"""Workloads exist with the intended kind, are settled, run the expected image and don't crash-loop;
StatefulSets keep stable identity and storage."""

from __future__ import annotations

import time
from typing import Any

from deploytool.core.conditions import pod_ready
from deploytool.deploy.verify import FAIL, PASS, Result, VerifyContext

RESTART_LOOP = 3


def _expected_workloads(ctx: VerifyContext) -> list[dict[str, Any]]:
    return ctx.expected.by_kind("Deployment") + ctx.expected.by_kind("StatefulSet")


def _replica_bounds(ctx: VerifyContext, obj: dict[str, Any]) -> tuple[int, int]:
    """The replica count the env allows: fixed, or the HPA's min..max."""
    for hpa in ctx.expected.by_kind("HorizontalPodAutoscaler"):
        if hpa["spec"]["scaleTargetRef"]["name"] == obj["metadata"]["name"]:
            return hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    replicas = obj["spec"].get("replicas", 1)
    return replicas, replicas


def check_workloads(ctx: VerifyContext) -> Result:
    snap = ctx.snapshot
    bad: list[str] = []
    good: list[str] = []
    for obj in _expected_workloads(ctx):
        kind, name, problems_before = obj["kind"], obj["metadata"]["name"], len(bad)
        live = snap.workload(kind, name)
        other = snap.workload("StatefulSet" if kind == "Deployment" else "Deployment", name)
        if live is None:
            bad.append(f"{kind}/{name} missing" + (" (exists as the other kind)" if other else ""))
            continue
        st = live.status
        desired, ready, updated = live.spec.replicas or 0, st.ready_replicas or 0, st.updated_replicas or 0
        bounds = _replica_bounds(ctx, obj)
        if not bounds[0] <= desired <= bounds[1]:
            allowed = str(bounds[0]) if bounds[0] == bounds[1] else f"{bounds[0]}..{bounds[1]} (HPA)"
            bad.append(f"{kind}/{name}: {desired} replicas, env says {allowed}")
        if not desired == ready == updated:
            bad.append(f"{kind}/{name}: desired {desired}, ready {ready}, updated {updated}")
        want = {c["name"]: c["image"] for c in obj["spec"]["template"]["spec"]["containers"]}
        have = {c.name: c.image for c in live.spec.template.spec.containers}
        if want != have:
            bad.append(f"{kind}/{name}: image {have} (expected {want})")
        component = obj["metadata"]["labels"]["app.kubernetes.io/component"]
        for pod in snap.pods_of(component):
            for cs in pod.status.container_statuses or []:
                waiting = cs.state.waiting.reason if cs.state and cs.state.waiting else ""
                if cs.restart_count >= RESTART_LOOP or waiting == "CrashLoopBackOff":
                    bad.append(f"pod {pod.metadata.name}: container {cs.name} restarted {cs.restart_count}x {waiting}")
        if len(bad) == problems_before:
            good.append(f"{kind}/{name} {ready}/{desired} ready")
    if bad:
        return Result("workloads", FAIL, bad, "see `deploytool status`; `kubectl describe` the named objects")
    return Result("workloads", PASS, good)


def check_statefulset_identity(ctx: VerifyContext) -> Result:
    snap = ctx.snapshot
    bad: list[str] = []
    good: list[str] = []
    for obj in ctx.expected.by_kind("StatefulSet"):
        name = obj["metadata"]["name"]
        live = snap.statefulsets.get(name)
        if live is None:
            bad.append(f"StatefulSet/{name} missing")
            continue
        replicas = live.spec.replicas or 0
        pods = {p.metadata.name: p for p in snap.pods if p.metadata.name.rsplit("-", 1)[0] == name}
        templates = [v["metadata"]["name"] for v in obj["spec"].get("volumeClaimTemplates", [])]
        for ordinal in range(replicas):
            pod_name = f"{name}-{ordinal}"
            if pod_name not in pods:
                bad.append(f"pod {pod_name} missing (stable names are {name}-0..{replicas - 1})")
            for tpl in templates:
                pvc = snap.pvcs.get(f"{tpl}-{pod_name}")
                phase = pvc.status.phase if pvc else "missing"
                if pvc is None or phase != "Bound":
                    bad.append(f"PVC {tpl}-{pod_name} {phase}")
                elif pvc.metadata.deletion_timestamp:
                    bad.append(f"PVC {tpl}-{pod_name} is being deleted (Terminating): {pod_name} loses its "
                               "storage when it next restarts")
        extra = sorted(set(pods) - {f"{name}-{i}" for i in range(replicas)})
        if extra:
            bad.append(f"StatefulSet/{name}: unexpected pods {extra}")
        good.append(f"{name}: pods {name}-0..{replicas - 1}, PVCs {', '.join(templates) or 'none'} Bound")
        if ctx.deep and replicas and not bad:
            try:
                good.append(_delete_and_watch_return(ctx, name, f"{name}-{replicas - 1}", templates))
            except AssertionError as exc:
                bad.append(f"deep: {exc}")
    if bad:
        return Result("statefulset-identity", FAIL, bad, "check the StorageClass / provisioner and the pod events")
    return Result("statefulset-identity", PASS, good or ["no StatefulSets in this env"])


def _delete_and_watch_return(ctx: VerifyContext, sts: str, pod_name: str, templates: list[str]) -> str:
    """--deep: delete one pod and show it comes back with the same name and the same PVC."""
    core, ns = ctx.snapshot.kube.core, ctx.snapshot.ns
    old = core.read_namespaced_pod(pod_name, ns)
    pvc_uids = {t: core.read_namespaced_persistent_volume_claim(f"{t}-{pod_name}", ns).metadata.uid for t in templates}
    core.delete_namespaced_pod(pod_name, ns)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        time.sleep(2)
        try:
            pod = core.read_namespaced_pod(pod_name, ns)
        except Exception:  # noqa: BLE001 - absent while being recreated
            continue
        if pod.metadata.uid != old.metadata.uid and pod_ready(pod):
            claims = {v.persistent_volume_claim.claim_name for v in pod.spec.volumes or [] if v.persistent_volume_claim}
            now = {t: core.read_namespaced_persistent_volume_claim(f"{t}-{pod_name}", ns).metadata.uid
                   for t in templates}
            if now != pvc_uids or claims != {f"{t}-{pod_name}" for t in templates}:
                raise AssertionError(f"{pod_name} came back with other storage: {claims}")
            return (f"deep: deleted {pod_name}; it returned as {pod_name} (new uid) on {pod.spec.node_name} "
                    f"with the same PVC(s) {sorted(claims)}")
    raise AssertionError(f"{pod_name} did not return ready within 180s after deletion")
