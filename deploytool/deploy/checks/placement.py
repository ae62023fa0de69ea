"""Where pods landed: anti-affinity, zone spread, and resources (requests/limits, QoS, fit)."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from deploytool.core import quantity
from deploytool.core.conditions import pod_ready
from deploytool.deploy.verify import FAIL, PASS, WARN, Result, VerifyContext


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def _component(obj: dict[str, Any]) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def _domain(ctx: VerifyContext, node_name: str, key: str) -> str:
    node = ctx.snapshot.nodes.get(node_name)
    return (node.metadata.labels or {}).get(key, f"(no {key})") if node else f"(unknown node {node_name})"


def check_anti_affinity(ctx: VerifyContext) -> Result:
    bad, warn, good = [], [], []
    for obj in ctx.expected.by_kind("Deployment") + ctx.expected.by_kind("StatefulSet"):
        anti = (_spec(obj).get("affinity") or {}).get("podAntiAffinity") or {}
        required = anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        preferred = anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        if not required and not preferred:
            continue
        component = _component(obj)
        key = (required[0]["topologyKey"] if required else preferred[0]["podAffinityTerm"]["topologyKey"])
        by_domain: dict[str, list[str]] = defaultdict(list)
        for pod in ctx.snapshot.pods_of(component):
            if pod_ready(pod) and pod.spec.node_name:
                by_domain[_domain(ctx, pod.spec.node_name, key)].append(pod.metadata.name)
        shared = {d: pods for d, pods in by_domain.items() if len(pods) > 1}
        spread = f"{sum(map(len, by_domain.values()))} ready pods over {len(by_domain)} {key} domains"
        if required and shared:
            bad += [f"{component}: required anti-affinity broken on {key}={d}: {', '.join(sorted(p))}"
                    for d, p in sorted(shared.items())]
        elif preferred and shared:
            warn.append(f"{component} (preferred): {spread}; sharing: "
                        + "; ".join(f"{d}: {', '.join(sorted(p))}" for d, p in sorted(shared.items())))
        else:
            good.append(f"{component} ({'required' if required else 'preferred'}): {spread}, none shared")
    if bad:
        return Result("anti-affinity", FAIL, bad + good, "find who moved pods (kubectl describe); "
                      "delete the offending pod so the scheduler places it again")
    if warn:
        return Result("anti-affinity", WARN, warn + good, "add nodes or use required anti-affinity")
    return Result("anti-affinity", PASS, good or ["no anti-affinity configured in this env"])


def check_zone_spread(ctx: VerifyContext) -> Result:
    bad, warn, good = [], [], []
    for obj in ctx.expected.by_kind("Deployment") + ctx.expected.by_kind("StatefulSet"):
        for tsc in _spec(obj).get("topologySpreadConstraints") or []:
            component, key = _component(obj), tsc["topologyKey"]
            domains = {(n.metadata.labels or {}).get(key) for n in ctx.snapshot.nodes.values()} - {None}
            counts = Counter({d: 0 for d in domains})
            for pod in ctx.snapshot.pods_of(component):
                if pod_ready(pod) and pod.spec.node_name:
                    counts[_domain(ctx, pod.spec.node_name, key)] += 1
            skew = (max(counts.values()) - min(counts.values())) if counts else 0
            line = f"{component} over {key}: {dict(sorted(counts.items()))}, skew {skew} (max {tsc['maxSkew']})"
            if skew <= tsc["maxSkew"]:
                good.append(line)
            elif tsc.get("whenUnsatisfiable") == "DoNotSchedule":
                bad.append(line)
            else:
                warn.append(line + " — allowed by ScheduleAnyway")
    status = FAIL if bad else WARN if warn else PASS
    return Result("zone-spread", status, bad + warn + good or ["no topologySpreadConstraints in this env"],
                  "" if status == PASS else "spread nodes over more zones, or reschedule the crowded pods")


def _requests_limits(container: Any) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    res = container.resources
    req = {k: quantity.parse(v) for k, v in ((res.requests if res else None) or {}).items()}
    lim = {k: quantity.parse(v) for k, v in ((res.limits if res else None) or {}).items()}
    return req, lim


def check_resources(ctx: VerifyContext) -> Result:
    bad, good = [], []
    allocs = [(n.metadata.name, quantity.parse((n.status.allocatable or {}).get("cpu", "0")),
               quantity.parse((n.status.allocatable or {}).get("memory", "0"))) for n in ctx.snapshot.nodes.values()]
    for obj in ctx.expected.by_kind("Deployment") + ctx.expected.by_kind("StatefulSet"):
        component = _component(obj)
        want = {c["name"]: c.get("resources") or {} for c in _spec(obj)["containers"]}
        qos: Counter[str] = Counter()
        for pod in ctx.snapshot.pods_of(component):
            qos[pod.status.qos_class or "unknown"] += 1
            total_cpu = total_mem = Decimal(0)
            for c in pod.spec.containers:
                req, lim = _requests_limits(c)
                exp = want.get(c.name, {})
                exp_req = {k: quantity.parse(v) for k, v in (exp.get("requests") or {}).items()}
                exp_lim = {k: quantity.parse(v) for k, v in (exp.get("limits") or {}).items()}
                if not req or not lim:
                    bad.append(f"pod {pod.metadata.name}/{c.name}: missing {'requests' if not req else 'limits'}")
                if req != exp_req or lim != exp_lim:
                    bad.append(f"pod {pod.metadata.name}/{c.name}: requests {_fmt(req)} limits {_fmt(lim)}, "
                               f"env says {_fmt(exp_req)} / {_fmt(exp_lim)}")
                for k in set(req) & set(lim):
                    if lim[k] < req[k]:
                        bad.append(f"pod {pod.metadata.name}/{c.name}: {k} limit below request")
                total_cpu += req.get("cpu", Decimal(0))
                total_mem += req.get("memory", Decimal(0))
            if not any(cpu >= total_cpu and mem >= total_mem for _, cpu, mem in allocs):
                bad.append(f"pod {pod.metadata.name}: requests {quantity.format_cpu(total_cpu)} CPU/"
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
