"""The drills' assertion logic: pure functions over a Recording (no cluster access).

Each `*_assertion` returns an Assertion with the evidence a reader needs to believe it; the
lower-level helpers (floor violations, shared nodes, recovery, the HPA formula) are what the unit
tests exercise with synthetic recordings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from deploytool.drills.model import Assertion, HpaSample, PodSample, ProbeSample, Recording, WorkloadSample

# -- workload replay ---------------------------------------------------------------------------


def series(rec: Recording, component: str) -> list[WorkloadSample]:
    return sorted((s for s in rec.workload_samples if s.component == component), key=lambda s: s.t)


def state_at(rec: Recording, component: str, t: float) -> WorkloadSample | None:
    """The component's last sample at or before t."""
    last = None
    for sample in series(rec, component):
        if sample.t > t:
            break
        last = sample
    return last


def in_window(t: float, start: float | None, end: float | None) -> bool:
    return (start is None or t >= start) and (end is None or t <= end)


def window(rec: Recording, component: str, start: float | None, end: float | None) -> list[WorkloadSample]:
    """The component's samples in [start, end], led by the state in force at start."""
    samples = series(rec, component)
    if start is None:
        return [s for s in samples if in_window(s.t, None, end)]
    at_start = [s for s in samples if s.t <= start]
    return at_start[-1:] + [s for s in samples if s.t > start and in_window(s.t, None, end)]


@dataclass(frozen=True)
class FloorViolation:
    t: float
    component: str
    available: int
    floor: int
    desired: int


def floor_violations(rec: Recording, components: Iterable[str] | None = None, start: float | None = None,
                     end: float | None = None) -> list[FloorViolation]:
    """Samples where available < desired - maxUnavailable (the rolling-update floor; 0 for Recreate)."""
    found = []
    for component in components if components is not None else rec.workloads:
        info = rec.workloads.get(component)
        for s in window(rec, component, start, end):
            floor = info.floor(s.desired) if info else s.desired
            if s.available < floor:
                found.append(FloorViolation(max(s.t, start or 0.0), component, s.available, floor, s.desired))
    return found


def max_lost(rec: Recording, component: str, start: float | None = None, end: float | None = None) -> int:
    """The most replicas of a component that were not available at once (desired - available)."""
    return max((s.desired - s.available for s in window(rec, component, start, end)), default=0)


def seconds_without_replica(rec: Recording, component: str, start: float | None, end: float) -> float:
    """How long a component had no available replica (while it wanted at least one)."""
    samples = window(rec, component, start, end)
    total = 0.0
    for s, nxt in zip(samples, samples[1:] + [None], strict=False):
        if s.available == 0 and s.desired > 0:
            total += (nxt.t if nxt else end) - max(s.t, start or 0.0)
    return total


def all_settled(rec: Recording, t: float) -> bool:
    for component in rec.workloads:
        s = state_at(rec, component, t)
        if s is None or not (s.ready == s.desired and s.available == s.desired):
            return False
    return True


def recovery(rec: Recording, t_fail: float, t_end: float | None = None) -> tuple[float | None, float | None]:
    """(first time after t_fail some component was below desired, first time after that all were back).

    (None, None): nothing was lost; (t_loss, None): not recovered by t_end.
    """
    times = sorted({s.t for s in rec.workload_samples if s.t >= t_fail and in_window(s.t, None, t_end)})
    t_loss = next((t for t in times if not all_settled(rec, t)), None)
    if t_loss is None:
        return None, None
    t_back = next((t for t in times if t > t_loss and all_settled(rec, t)), None)
    return t_loss, t_back


# -- pods and placement ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sharing:
    t: float
    component: str
    domain: str
    pods: tuple[str, ...]


def shared_domains(rec: Recording, start: float | None = None, end: float | None = None) -> list[Sharing]:
    """Moments where two live pods of a component with required anti-affinity were in one topology domain.

    Pods are replayed in time order; terminating pods still count (the scheduler counts them too),
    deleted and unscheduled ones do not. Each distinct sharing is reported once, when it began.
    """
    keys = {c: i.anti_affinity_key for c, i in rec.workloads.items() if i.anti_affinity_key}
    live: dict[str, PodSample] = {}
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    found = []
    for sample in sorted(rec.pod_samples, key=lambda p: p.t):
        if sample.deleted:
            live.pop(sample.pod, None)
        else:
            live[sample.pod] = sample
        if sample.component not in keys or not in_window(sample.t, start, end):
            continue
        key = keys[sample.component]
        by_domain: dict[str, list[str]] = {}
        for pod in live.values():
            if pod.component == sample.component and pod.node:
                domain = rec.node_labels.get(pod.node, {}).get(key, pod.node) if key else pod.node
                by_domain.setdefault(domain, []).append(pod.pod)
        for domain, pods in by_domain.items():
            ident = (sample.component, domain, tuple(sorted(pods)))
            if len(pods) > 1 and ident not in seen:
                seen.add(ident)
                found.append(Sharing(sample.t, sample.component, domain, ident[2]))
    return found


def final_pods(rec: Recording) -> dict[str, PodSample]:
    """Pod name -> its last sample, for pods that still existed (not deleted) at the end."""
    return {p.pod: p for p in pods_at(rec, math.inf)}


def endpoints_min(rec: Recording, service: str, start: float, end: float) -> tuple[int | None, float | None]:
    """The fewest ready endpoints of a Service in [start, end] (the value in force at start counts)."""
    samples = sorted((e for e in rec.endpoint_samples if e.service == service), key=lambda e: e.t)
    before = [e for e in samples if e.t <= start]
    window = ([before[-1]] if before else []) + [e for e in samples if start < e.t <= end]
    if not window:
        return None, None
    worst = min(window, key=lambda e: (e.ready, e.t))
    return worst.ready, max(worst.t, start)


# -- autoscaling -------------------------------------------------------------------------------


def expected_hpa_replicas(current: int, usage_percent: float, target_percent: float, min_replicas: int,
                          max_replicas: int, tolerance: float = 0.1) -> int:
    """The HPA's answer: ceil(current * usage / target), unchanged within the tolerance, clamped."""
    ratio = usage_percent / target_percent
    desired = current if abs(ratio - 1.0) <= tolerance else math.ceil(current * ratio)
    return max(min_replicas, min(max_replicas, desired))


def first_time(rec: Recording, hpa: str, predicate: Callable[[HpaSample], bool], start: float) -> float | None:
    for s in sorted(rec.hpa_samples, key=lambda h: h.t):
        if s.name == hpa and s.t >= start and predicate(s):
            return s.t
    return None


# -- probe -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeStats:
    searches: int
    errors: int
    reconnects: int
    skipped: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    first_errors: tuple[str, ...]


def probe_stats(samples: list[ProbeSample]) -> ProbeStats:
    searches = [s for s in samples if s.kind == "search"]
    latencies = sorted(s.latency_ms for s in searches if s.ok and s.latency_ms is not None)

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else None

    errors = [s for s in searches if not s.ok]
    return ProbeStats(len(searches), len(errors), sum(s.kind == "reconnect" and s.ok for s in samples),
                      sum(s.kind == "skipped" for s in samples), pct(0.5), pct(0.99),
                      round(latencies[-1], 1) if latencies else None,
                      tuple(f"t={s.t:.1f}s via {s.pod or '?'}: {s.error}" for s in errors[:5]))


# -- assertions --------------------------------------------------------------------------------


def floor_assertion(rec: Recording, components: Iterable[str] | None = None, start: float | None = None,
                    end: float | None = None) -> Assertion:
    comps = sorted(components if components is not None else rec.workloads)
    violations = floor_violations(rec, comps, start, end)
    evidence = []
    for c in comps:
        s = window(rec, c, start, end)
        if s:
            info = rec.workloads.get(c)
            gap = seconds_without_replica(rec, c, start, end if end is not None else max(x.t for x in s))
            took = f"{gap:.1f}s" if gap >= 0.1 else "<0.1s"
            if info is not None and info.recreates:
                line = (f"{c}: strategy Recreate, floor 0 (every old pod stops before a new one starts: expected "
                        f"to go to 0 during its step), available min {min(x.available for x in s)}, {len(s)} samples")
                line += f"; no replica available for {took} (Recreate)" if gap > 0 else "; never at 0"
            else:
                budget = info.max_unavailable if info else 0
                line = (f"{c}: available min {min(x.available for x in s)}, floor "
                        f"{min(x.desired for x in s) - budget} (desired - maxUnavailable {budget}), {len(s)} samples")
                if gap > 0:
                    line += f"; NO replica available for {took} (within its budget, but an outage of {c})"
            evidence.append(line)
    evidence += [f"below floor at t={v.t:.1f}s: {v.component} available {v.available} < {v.floor}"
                 for v in violations[:5]]
    recreated = [c for c in comps if c in rec.workloads and rec.workloads[c].recreates]
    expected = "available >= desired - maxUnavailable for every component, all the time"
    if recreated:
        expected += f"; {', '.join(recreated)} use{'s' if len(recreated) == 1 else ''} Recreate: expected to go to 0"
    return Assertion("availability floor", not violations and bool(evidence), expected,
                     f"{len(violations)} sample(s) below the floor" if evidence else "no workload samples",
                     evidence)


def pods_at(rec: Recording, t: float) -> list[PodSample]:
    """Each pod's last sample at or before t, for pods not deleted by then."""
    last: dict[str, PodSample] = {}
    for sample in sorted(rec.pod_samples, key=lambda p: p.t):
        if sample.t > t:
            break
        last[sample.pod] = sample
    return sorted((p for p in last.values() if not p.deleted), key=lambda p: p.pod)


def pods_on_node_at(rec: Recording, node: str, t: float) -> list[PodSample]:
    """The release's live pods bound to node at time t (replayed from the pod samples)."""
    return [p for p in pods_at(rec, t) if p.node == node]


def anti_affinity_assertion(rec: Recording, start: float | None = None, end: float | None = None,
                            failed_node: str | None = None) -> Assertion:
    """Required anti-affinity held: <= 1 replica lost at a time, never two live pods in one domain.

    Not vacuous: with no required anti-affinity at all (preferred only, or none) it fails and says
    so; with failed_node, it also fails unless a pod with required anti-affinity was on that node
    when it failed (else nothing had to move under the rule).
    """
    comps = sorted(c for c, i in rec.workloads.items() if i.anti_affinity_key)
    preferred = sorted(c for c, i in rec.workloads.items() if not i.anti_affinity_key and i.preferred_anti_affinity_key)
    sharing = shared_domains(rec, start, end)
    lost = {c: max_lost(rec, c, start, end) for c in comps}
    too_many = {c: n for c, n in lost.items() if n > 1}
    evidence = [f"{c}: at most {n} replica(s) unavailable at once" for c, n in lost.items()]
    evidence += [f"t={s.t:.1f}s: {s.component} pods {', '.join(s.pods)} shared {s.domain}" for s in sharing[:5]]
    if preferred:
        evidence.append(f"preferred (soft) anti-affinity only, not checked: {', '.join(preferred)} "
                        "(the scheduler may put two replicas on one node)")
    ok = bool(comps) and not sharing and not too_many
    observed = "no component has required anti-affinity"
    if not comps and preferred:
        observed += f" (only preferred: {', '.join(preferred)}): nothing to hold, the check cannot pass"
    if comps:
        observed = f"{len(sharing)} sharing(s); max lost at once: " + ", ".join(f"{c} {n}" for c, n in lost.items())
    if comps and failed_node is not None and start is not None:
        moved = sorted({p.component for p in pods_on_node_at(rec, failed_node, start) if p.component in comps})
        if moved:
            evidence.insert(0, f"on {failed_node} when it failed: {', '.join(moved)} (required anti-affinity)")
        else:
            ok = False
            observed += f"; no pod with required anti-affinity was on {failed_node}: nothing had to move under the rule"
    return Assertion("anti-affinity held", ok,
                     "components with required anti-affinity: <= 1 replica lost at a time, never two on one node",
                     observed, evidence)


NODE_CONTROLLER_REASON = "NodeStatusUnknown"  # the Ready condition's reason once the node controller gives up
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def node_not_ready_assertion(rec: Recording, node: str, t_fail: float) -> Assertion:
    """The failed node went NotReady through the node controller: Ready Unknown with reason
    NodeStatusUnknown ("Kubelet stopped posting node status") and/or its unreachable taint."""
    samples = sorted((s for s in rec.node_samples if s.node == node and s.t >= t_fail), key=lambda s: s.t)
    first = next((i for i, s in enumerate(samples) if not s.ready), None)
    expected = (f"{node} NotReady after the failure, marked by the node controller (reason {NODE_CONTROLLER_REASON} "
                f"or taint {UNREACHABLE_TAINT})")
    if first is None:
        return Assertion("node NotReady by the node controller", False, expected,
                         f"{node} never went NotReady ({len(samples)} node sample(s) after the failure)")
    down = []
    for s in samples[first:]:
        if s.ready:
            break
        down.append(s)
    reasons = sorted({s.reason for s in down if s.reason})
    taints = sorted({t for s in down for t in s.taints if t.startswith(UNREACHABLE_TAINT)})
    ok = NODE_CONTROLLER_REASON in reasons or bool(taints)
    observed = (f"NotReady {down[0].t - t_fail:.1f}s after the failure; reason {', '.join(reasons) or '(none)'}; "
                f"taints {', '.join(taints) or '(none)'}")
    return Assertion("node NotReady by the node controller", ok, expected, observed)


def replacements(rec: Recording, node: str, start: float, end: float) -> list[tuple[PodSample, PodSample | None]]:
    """Each release pod on node at start, paired with the first pod that replaced it: a pod of the
    same component, Ready on another node within (start, end], either new (not alive at start) or
    the same name re-created elsewhere (a StatefulSet's)."""
    lost = pods_on_node_at(rec, node, start)
    alive_at_start = {p.pod for p in pods_at(rec, start)}
    taken: set[str] = set()
    pairs: list[tuple[PodSample, PodSample | None]] = []
    ordered = sorted(rec.pod_samples, key=lambda p: p.t)
    for old in lost:
        found = None
        for s in ordered:
            if not (start < s.t <= end) or s.component != old.component or s.pod in taken:
                continue
            if s.node in ("", node) or not s.ready or s.terminating or s.deleted:
                continue
            if s.pod == old.pod or s.pod not in alive_at_start:
                found = s
                break
        if found is not None:
            taken.add(found.pod)
        pairs.append((old, found))
    return pairs


def rescheduled_assertion(rec: Recording, node: str, start: float, end: float,
                          may_stay_pending: Iterable[str] = ()) -> Assertion:
    """Every release pod on the failed node was replaced by a Ready pod on another node by `end`
    (the node's return); components in may_stay_pending (required anti-affinity with no free node)
    are reported, not required."""
    pending_ok = set(may_stay_pending)
    pairs = replacements(rec, node, start, end)
    evidence, missing = [], []
    for old, new in pairs:
        if new is not None:
            evidence.append(f"{old.component}: {old.pod} (on {node}) -> {new.pod} Ready on {new.node} "
                            f"{new.t - start:.1f}s after the failure")
        elif old.component in pending_ok:
            evidence.append(f"{old.component}: {old.pod} not replaced before the node returned "
                            "(required anti-affinity: no free node; expected)")
        else:
            evidence.append(f"{old.component}: {old.pod} NOT replaced on another node before the node returned")
            missing.append(old.pod)
    expected = "every release pod on the failed node Ready again on another node before the node returned"
    if pending_ok:
        expected += f" (except {', '.join(sorted(pending_ok))}: Pending until it returns)"
    if not pairs:
        return Assertion("pods rescheduled", False, expected, f"no release pod was on {node} when it failed")
    moved = sum(1 for _, new in pairs if new is not None)
    return Assertion("pods rescheduled", not missing, expected,
                     f"{moved} of {len(pairs)} pod(s) on {node} replaced on other nodes", evidence)


def endpoints_assertion(rec: Recording, service: str, start: float, end: float, minimum: int = 1) -> Assertion:
    low, when = endpoints_min(rec, service, start, end)
    ok = low is not None and low >= minimum
    observed = "no EndpointSlice samples" if low is None else f"fewest ready endpoints {low} (t={when:.1f}s)"
    return Assertion(f"Service {service} kept a ready endpoint", ok, f">= {minimum} ready endpoint(s) throughout",
                     observed)


def probe_assertion(samples: list[ProbeSample], max_errors: int, min_searches: int = 1) -> Assertion:
    st = probe_stats(samples)
    ok = st.errors <= max_errors and st.searches >= min_searches
    observed = (f"{st.errors} error(s) in {st.searches} searches; latency p50 {st.p50_ms} ms, p99 {st.p99_ms} ms, "
                f"max {st.max_ms} ms; {st.reconnects} reconnect(s), {st.skipped} tick(s) skipped while busy")
    return Assertion("probe kept answering", ok, f"<= {max_errors} search error(s), >= {min_searches} searches",
                     observed, list(st.first_errors))
