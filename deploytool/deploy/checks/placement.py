"""Where pods landed: anti-affinity, zone spread, and resources (requests/limits, QoS, fit)."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from deploytool.core import quantity
from deploytool.deploy.checks.expected import component as _component
from deploytool.deploy.checks.expected import pod_spec as _spec
from deploytool.deploy.checks.expected import workloads
from deploytool.deploy.snapshot import Container, Snapshot
from deploytool.deploy.verify import FAIL, PASS, SKIP, WARN, Result
from deploytool.render.manifests import Rendered


def _domain(snap: Snapshot, node_name: str, key: str) -> str:
    node = snap.nodes.get(node_name)
    return node.labels.get(key, f"(no {key})") if node else f"(unknown node {node_name})"


def anti_affinity_term(obj: dict[str, Any]) -> tuple[str, str] | None:
    """("required" | "preferred", topologyKey) of a workload's pod anti-affinity, if it has one."""
    anti = (_spec(obj).get("affinity") or {}).get("podAntiAffinity") or {}
    required = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
    preferred = anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    if required:
        return "required", str(required[0]["topologyKey"])
    if preferred:
        return "preferred", str(preferred[0]["podAffinityTerm"]["topologyKey"])
    return None


def pods_by_domain(snap: Snapshot, component: str, key: str) -> dict[str, list[str]]:
    """Ready pods of a component by the topology domain (node label `key`) they run in."""
    by_domain: dict[str, list[str]] = defaultdict(list)
    for pod in snap.pods_of(component):
        if pod.serving and pod.node_name:
            by_domain[_domain(snap, pod.node_name, key)].append(pod.name)
    return by_domain


def check_anti_affinity(expected: Rendered, snap: Snapshot) -> Result:
    bad, warn, good = [], [], []
    for obj in workloads(expected):
        term = anti_affinity_term(obj)
        if term is None:
            continue
        (kind, key), component = term, _component(obj)
        by_domain = pods_by_domain(snap, component, key)
        shared = sorted((d, sorted(pods)) for d, pods in by_domain.items() if len(pods) > 1)
        spread = f"{sum(map(len, by_domain.values()))} ready pods over {len(by_domain)} {key} domains"
        if shared and kind == "required":
            bad += [f"{component}: required anti-affinity broken on {key}={d}: {', '.join(p)}" for d, p in shared]
        elif shared:
            warn.append(f"{component} (preferred): {spread}; sharing: "
                        + "; ".join(f"{d}: {', '.join(p)}" for d, p in shared))
        else:
            good.append(f"{component} ({kind}): {spread}, none shared")
    if bad:
        return Result("anti-affinity", FAIL, bad + good, "find who moved pods (kubectl describe); "
                      "delete the offending pod so the scheduler places it again")
    if warn:
        return Result("anti-affinity", WARN, warn + good, "add nodes or use required anti-affinity")
    if not good:
        return Result("anti-affinity", SKIP, ["nothing to check: this env configures no pod anti-affinity"])
    return Result("anti-affinity", PASS, good)


def check_zone_spread(expected: Rendered, snap: Snapshot) -> Result:
    bad, warn, good = [], [], []
    for obj in workloads(expected):
        for tsc in _spec(obj).get("topologySpreadConstraints") or []:
            component, key = _component(obj), tsc["topologyKey"]
            domains = {n.labels[key] for n in snap.nodes.values() if key in n.labels}
            counts = Counter({d: 0 for d in domains})
            for pod in snap.pods_of(component):
                if pod.serving and pod.node_name:
                    counts[_domain(snap, pod.node_name, key)] += 1
            skew = (max(counts.values()) - min(counts.values())) if counts else 0
            line = f"{component} over {key}: {dict(sorted(counts.items()))}, skew {skew} (max {tsc['maxSkew']})"
            if skew <= tsc["maxSkew"]:
                good.append(line)
            elif tsc.get("whenUnsatisfiable") == "DoNotSchedule":
                bad.append(line)
            else:
                warn.append(line + " — allowed by ScheduleAnyway")
    if not bad + warn + good:
        return Result("zone-spread", SKIP, ["nothing to check: this env configures no topologySpreadConstraints"])
    status = FAIL if bad else WARN if warn else PASS
    return Result("zone-spread", status, bad + warn + good,
                  "" if status == PASS else "spread nodes over more zones, or reschedule the crowded pods")


def _parsed(values: dict[str, Any]) -> dict[str, Decimal]:
    return {k: quantity.parse(v) for k, v in values.items()}


def _container_problems(pod: str, c: Container, exp: dict[str, Any]) -> list[str]:
    bad = []
    req, lim = _parsed(c.requests), _parsed(c.limits)
    exp_req, exp_lim = _parsed(exp.get("requests") or {}), _parsed(exp.get("limits") or {})
    if not req or not lim:
        bad.append(f"pod {pod}/{c.name}: missing {'requests' if not req else 'limits'}")
    if req != exp_req or lim != exp_lim:
        bad.append(f"pod {pod}/{c.name}: requests {_fmt(req)} limits {_fmt(lim)}, "
                   f"env says {_fmt(exp_req)} / {_fmt(exp_lim)}")
    for k in sorted(set(req) & set(lim)):
        if lim[k] < req[k]:
            bad.append(f"pod {pod}/{c.name}: {k} limit below request")
    return bad


def check_resources(expected: Rendered, snap: Snapshot) -> Result:
    bad, good = [], []
    allocs = [(n.name, quantity.parse(n.allocatable.get("cpu", "0")), quantity.parse(n.allocatable.get("memory", "0")))
              for n in snap.nodes.values()]
    for obj in workloads(expected):
        component = _component(obj)
        want = {c["name"]: c.get("resources") or {} for c in _spec(obj)["containers"]}
        qos: Counter[str] = Counter()
        for pod in snap.pods_of(component):
            qos[pod.qos_class or "unknown"] += 1
            total_cpu = total_mem = Decimal(0)
            for c in pod.containers:
                bad += _container_problems(pod.name, c, want.get(c.name, {}))
                total_cpu += quantity.parse(c.requests.get("cpu", "0"))
                total_mem += quantity.parse(c.requests.get("memory", "0"))
            if not any(cpu >= total_cpu and mem >= total_mem for _, cpu, mem in allocs):
                bad.append(f"pod {pod.name}: requests {quantity.format_cpu(total_cpu)} CPU/"
                           f"{quantity.format_bytes(total_mem)} fit no node's allocatable")
        if qos:
            good.append(f"{component}: QoS {', '.join(f'{k} x{v}' for k, v in sorted(qos.items()))}")
    if bad:
        return Result("resources", FAIL, bad, "re-run `deploytool up` so the pods carry the env's resources")
    return Result("resources", PASS, good)


def _fmt(values: dict[str, Decimal]) -> str:
    parts = []
    if "cpu" in values:
        parts.append(f"cpu={quantity.format_cpu(values['cpu'])}")
    if "memory" in values:
        parts.append(f"memory={quantity.format_bytes(values['memory'])}")
    return "{" + ", ".join(parts) + "}"
