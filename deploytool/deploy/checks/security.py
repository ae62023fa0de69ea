"""Security contexts: every live pod and container carries the securityContext the env renders,
and the render meets the baseline (no privilege escalation, capabilities drop ALL, seccomp
RuntimeDefault; runAsNonRoot where rendered)."""

from __future__ import annotations

from typing import Any

from deploytool.deploy.checks.expected import component, pod_spec, workloads
from deploytool.deploy.snapshot import Container, Pod, Snapshot
from deploytool.deploy.verify import FAIL, PASS, SKIP, WARN, Result
from deploytool.render.manifests import Rendered

FIX = "re-run `deploytool up`; an admission webhook or a hand edit may have changed the pods' securityContext"


def missing(want: Any, have: Any, path: str = "") -> list[str]:
    """Paths where `have` lacks what `want` sets (mappings compared key by key, lists as sets)."""
    if isinstance(want, dict) and isinstance(have, dict | None):
        have = have or {}
        return [m for k, v in sorted(want.items()) for m in missing(v, have.get(k), f"{path}.{k}" if path else k)]
    if isinstance(want, list) and isinstance(have, list) and {str(v) for v in want} <= {str(v) for v in have}:
        return []
    return [] if want == have else [f"{path} is {have!r}, rendered {want!r}"]


def effective(pod_sc: dict[str, Any], container_sc: dict[str, Any]) -> dict[str, Any]:
    """The settings a container runs with: its own securityContext over the pod's (for the fields both have)."""
    shared = ("runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile")
    inherited: dict[str, Any] = {k: pod_sc[k] for k in shared if k in pod_sc}
    return {**inherited, **container_sc}


def baseline_gaps(sc: dict[str, Any]) -> list[str]:
    gaps = []
    if sc.get("allowPrivilegeEscalation") is not False:
        gaps.append("allowPrivilegeEscalation false")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        gaps.append("capabilities drop ALL")
    if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        gaps.append("seccompProfile RuntimeDefault")
    return gaps


def _containers(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c.get("securityContext") or {} for c in spec["containers"] + (spec.get("initContainers") or [])}


def _pod_problems(pod: Pod, pod_want: dict[str, Any], want: dict[str, dict[str, Any]]) -> list[str]:
    bad = [f"pod {pod.name}: securityContext {m}" for m in missing(pod_want, pod.security_context)]
    live: list[Container] = pod.containers + pod.init_containers
    for c in live:
        bad += [f"pod {pod.name}/{c.name}: securityContext {m}" for m in missing(want.get(c.name, {}),
                                                                                 c.security_context)]
    return bad


def _posture(spec: dict[str, Any]) -> tuple[str, list[str]]:
    """A component's rendered posture in words, and its gaps from the baseline."""
    pod_sc = spec.get("securityContext") or {}
    gaps, non_root = [], []
    for name, sc in _containers(spec).items():
        eff = effective(pod_sc, sc)
        gaps += [f"{name}: the render lacks {g}" for g in baseline_gaps(eff)]
        non_root.append(f"{name} runAsNonRoot" if eff.get("runAsNonRoot") else f"{name} may run as root")
    return ", ".join(non_root), gaps


def check_security_context(expected: Rendered, snap: Snapshot) -> Result:
    objs = [o for o in workloads(expected) if (pod_spec(o).get("securityContext")
                                              or any(_containers(pod_spec(o)).values()))]
    if not objs:
        return Result("security-context", SKIP, [
            "nothing to check: this env renders no securityContext on any pod or container (the baseline "
            "allowPrivilegeEscalation false, capabilities drop ALL, seccompProfile RuntimeDefault is not set)"])
    bad, warn, good = [], [], []
    for obj in workloads(expected):
        spec, comp = pod_spec(obj), component(obj)
        pods = snap.pods_of(comp)
        problems = [p for pod in pods for p in _pod_problems(pod, spec.get("securityContext") or {},
                                                             _containers(spec))]
        posture, gaps = _posture(spec)
        bad += problems
        warn += [f"{comp}/{g}" for g in gaps]
        if not problems:
            good.append(f"{comp}: {len(pods)} pod(s) carry the rendered securityContext ({posture})")
    if bad:
        return Result("security-context", FAIL, bad + warn + good, FIX)
    if warn:
        return Result("security-context", WARN, warn + good, "set the missing fields in the chart's securityContext")
    return Result("security-context", PASS, good)
