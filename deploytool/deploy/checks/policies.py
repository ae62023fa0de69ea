"""HorizontalPodAutoscalers and PodDisruptionBudgets as the env configures them."""

from __future__ import annotations

from typing import Any

from deploytool.core.labels import COMPONENT
from deploytool.deploy.snapshot import Hpa, Snapshot, selects
from deploytool.deploy.verify import FAIL, PASS, SKIP, Result
from deploytool.render.manifests import Rendered


def _rendered_target(metrics: list[dict[str, Any]], resource: str) -> int | None:
    """averageUtilization of a Resource metric in a rendered HPA."""
    for m in metrics or []:
        if m["type"] == "Resource" and m["resource"]["name"] == resource:
            return int(m["resource"]["target"]["averageUtilization"])
    return None


def _hpa_problems(spec: dict[str, Any], live: Hpa, snap: Snapshot) -> tuple[list[str], str]:
    """Problems with one live HPA, and its evidence line when it reports metrics."""
    bad = []
    want = (spec["minReplicas"], spec["maxReplicas"], _rendered_target(spec["metrics"], "cpu"),
            _rendered_target(spec["metrics"], "memory"))
    have = (live.min_replicas, live.max_replicas, live.target_utilization.get("cpu"),
            live.target_utilization.get("memory"))
    if want != have:
        bad.append(f"HPA {live.name}: min/max/cpu%/mem% {have}, env says {want}")
    if live.target_kind != "Deployment" or live.target_name not in snap.deployments:
        bad.append(f"HPA {live.name}: scaleTargetRef {live.target_kind}/{live.target_name} does not exist")
    if not live.current_utilization:
        active = {c.type: c for c in live.conditions}.get("ScalingActive")
        reason = f"{active.reason}: {active.message}" if active and active.status != "True" else "no data yet"
        bad.append(f"HPA {live.name}: no current metrics ({reason[:200]}) — is metrics-server answering?")
        return bad, ""
    usage = ", ".join(f"{resource} {percent}%" for resource, percent in live.current_utilization.items())
    return bad, (f"HPA {live.name}: {live.current_replicas} replicas (min {have[0]}, max {have[1]}), "
                 f"{usage} of target {have[2]}%")


def check_hpa(expected: Rendered, snap: Snapshot) -> Result:
    bad, good = [], []
    rendered = expected.by_kind("HorizontalPodAutoscaler")
    for obj in rendered:
        name = obj["metadata"]["name"]
        live = snap.hpas.get(name)
        if live is None:
            bad.append(f"HPA {name} missing")
            continue
        problems, line = _hpa_problems(obj["spec"], live, snap)
        bad += problems
        good += [line] if line else []
    extra = sorted(set(snap.hpas) - {o["metadata"]["name"] for o in rendered})
    if extra:
        bad.append(f"HPAs the env does not configure: {extra}")
    if bad:
        return Result("hpa", FAIL, bad + good, "re-run `deploytool up`; check `kubectl top pods` works")
    if not rendered:
        return Result("hpa", SKIP, ["nothing to check: this env configures no HPA (and none is live)"])
    return Result("hpa", PASS, good)


def check_pdb(expected: Rendered, snap: Snapshot) -> Result:
    bad, good = [], []
    for obj in expected.by_kind("PodDisruptionBudget"):
        name = obj["metadata"]["name"]
        component = obj["spec"]["selector"]["matchLabels"][COMPONENT]
        live = snap.pdbs.get(name)
        if live is None:
            bad.append(f"PDB {name} missing")
            continue
        selected = {p.name for p in snap.pods if selects(live.selector, p.labels)}
        component_pods = {p.name for p in snap.pods_of(component)}
        if selected != component_pods or not selected:
            bad.append(f"PDB {name} selects {sorted(selected)}, the {component} pods are {sorted(component_pods)}")
        if not live.disruptions_allowed:
            bad.append(f"PDB {name} allows {live.disruptions_allowed} disruptions (healthy {live.current_healthy}, "
                       f"desired {live.desired_healthy}) — node drains would hang")
        else:
            good.append(f"PDB {name}: selects {len(selected)} {component} pods, "
                        f"allows {live.disruptions_allowed} disruption(s)")
    if bad:
        return Result("pdb", FAIL, bad + good, "re-run `deploytool up`; make sure every selected pod is ready")
    if not good:
        return Result("pdb", SKIP, ["nothing to check: this env configures no PodDisruptionBudget"])
    return Result("pdb", PASS, good)
