"""HorizontalPodAutoscalers and PodDisruptionBudgets as the env configures them."""

from __future__ import annotations

from typing import Any

from deploytool.core.hpa import current_utilization, target_utilization
from deploytool.deploy.verify import FAIL, PASS, Result, VerifyContext


def _rendered_target(metrics: list[dict[str, Any]], resource: str) -> int | None:
    """averageUtilization of a Resource metric in a rendered HPA."""
    for m in metrics or []:
        if m["type"] == "Resource" and m["resource"]["name"] == resource:
            return m["resource"]["target"]["averageUtilization"]
    return None


def check_hpa(ctx: VerifyContext) -> Result:
    snap, bad, good = ctx.snapshot, [], []
    expected = ctx.expected.by_kind("HorizontalPodAutoscaler")
    for obj in expected:
        name, spec = obj["metadata"]["name"], obj["spec"]
        live = snap.hpas.get(name)
        if live is None:
            bad.append(f"HPA {name} missing")
            continue
        targets = target_utilization(live)
        want = (spec["minReplicas"], spec["maxReplicas"], _rendered_target(spec["metrics"], "cpu"),
                _rendered_target(spec["metrics"], "memory"))
        have = (live.spec.min_replicas, live.spec.max_replicas, targets.get("cpu"), targets.get("memory"))
        if want != have:
            bad.append(f"HPA {name}: min/max/cpu%/mem% {have}, env says {want}")
        ref = live.spec.scale_target_ref
        if ref.kind != "Deployment" or ref.name not in snap.deployments:
            bad.append(f"HPA {name}: scaleTargetRef {ref.kind}/{ref.name} does not exist")
        current = current_utilization(live)
        active = {c.type: c for c in (live.status.conditions or [])}.get("ScalingActive")
        if not current:
            reason = f"{active.reason}: {active.message}" if active and active.status != "True" else "no data yet"
            bad.append(f"HPA {name}: no current metrics ({reason[:200]}) — is metrics-server answering?")
        else:
            usage = ", ".join(f"{resource} {percent}%" for resource, percent in current.items())
            good.append(f"HPA {name}: {live.status.current_replicas} replicas (min {have[0]}, max {have[1]}), "
                        f"{usage} of target {have[2]}%")
    extra = sorted(set(snap.hpas) - {o["metadata"]["name"] for o in expected})
    if extra:
        bad.append(f"HPAs the env does not configure: {extra}")
    if bad:
        return Result("hpa", FAIL, bad + good, "re-run `deploytool up`; check `kubectl top pods` works")
    return Result("hpa", PASS, good or ["no HPA configured in this env"])


def _selects(selector: Any, labels: dict[str, str]) -> bool:
    match = selector.match_labels or {}
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.match_expressions or []:
        value = labels.get(expr.key)
        if expr.operator == "In" and value not in (expr.values or []):
            return False
        if expr.operator == "NotIn" and value in (expr.values or []):
            return False
        if expr.operator == "Exists" and expr.key not in labels:
            return False
        if expr.operator == "DoesNotExist" and expr.key in labels:
            return False
    return True


def check_pdb(ctx: VerifyContext) -> Result:
    snap, bad, good = ctx.snapshot, [], []
    expected = ctx.expected.by_kind("PodDisruptionBudget")
    for obj in expected:
        name = obj["metadata"]["name"]
        component = obj["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        live = snap.pdbs.get(name)
        if live is None:
            bad.append(f"PDB {name} missing")
            continue
        selected = {p.metadata.name for p in snap.pods if _selects(live.spec.selector, p.metadata.labels or {})}
        component_pods = {p.metadata.name for p in snap.pods_of(component)}
        if selected != component_pods or not selected:
            bad.append(f"PDB {name} selects {sorted(selected)}, the {component} pods are {sorted(component_pods)}")
        allowed = live.status.disruptions_allowed if live.status else 0
        if not allowed:
            bad.append(f"PDB {name} allows {allowed or 0} disruptions (healthy {live.status.current_healthy}, "
                       f"desired {live.status.desired_healthy}) — node drains would hang")
        else:
            good.append(f"PDB {name}: selects {len(selected)} {component} pods, allows {allowed} disruption(s)")
    if bad:
        return Result("pdb", FAIL, bad + good, "re-run `deploytool up`; make sure every selected pod is ready")
    return Result("pdb", PASS, good or ["no PDB configured in this env"])
