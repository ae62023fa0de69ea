"""The upgrade plan: a pure function of (request, live facts, rendered target).

Order: mixcoord -> streamingnode -> querynode -> datanode -> proxy (milvus-operator's dependency
order for 2.6), reversed for a downgrade; a standalone release is one step. Each step moves one
component to the target tag (the values pin the others to the tag they run), states the rollout
strategy the target renders for it and the downtime that strategy implies, and is checked for
feasibility against the live cluster: can the rollout make progress (the surge pod placeable:
required anti-affinity, node count, free requests, taints, node selectors; a Recreate's pods
placeable), and does it stay within the component's PodDisruptionBudget. Any problem refuses the
whole plan before anything changes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from deploytool.core.quantity import format_bytes, format_cpu
from deploytool.deploy import preflight
from deploytool.deploy.upgrade.facts import LiveFacts, TargetFacts, WorkloadFact
from deploytool.deploy.upgrade.paths import BACKUP_WHAT, Finding, judge
from deploytool.render.components import CLUSTER_COMPONENTS

ORDER = tuple(name for _, name in CLUSTER_COMPONENTS)
COMPONENT_KEYS = {name: key for key, name in CLUSTER_COMPONENTS} | {"standalone": "standalone"}
ORDERS = ("dependency", "helm")
HOSTNAME = "kubernetes.io/hostname"


@dataclass(frozen=True)
class Request:
    env: str
    to: str
    allow_downgrade: bool = False
    backup_done: bool = False
    order: str = "dependency"  # dependency: one component per step; helm: everything in one step


@dataclass
class Step:
    label: str
    components: list[str]
    from_tags: dict[str, str]
    to: str
    strategy: str
    downtime: str

    def as_dict(self) -> dict[str, Any]:
        return {"label": self.label, "components": self.components, "from": self.from_tags, "to": self.to,
                "strategy": self.strategy, "downtime": self.downtime}


@dataclass
class Plan:
    request: Request
    direction: str
    reason: str
    from_tags: dict[str, str]
    steps: list[Step] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    backup: list[str] = field(default_factory=list)  # what must be backed up first (minor changes)

    @property
    def allowed(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "direction": self.direction, "reason": self.reason, "to": self.request.to,
                "from": self.from_tags, "order": self.request.order,
                "problems": [p.as_dict() for p in self.problems], "steps": [s.as_dict() for s in self.steps],
                "backup": self.backup}


# -- values per step --------------------------------------------------------------------------------

def component_tag(values: dict[str, Any], component: str) -> str:
    """The tag a component runs with these values: its own image.tag, else the global one."""
    own = ((values.get(COMPONENT_KEYS[component]) or {}).get("image") or {}).get("tag")
    return str(own or (values.get("image") or {}).get("tag") or "")


def step_values(start: dict[str, Any], to: str, components: list[str], done: set[str],
                pins: dict[str, str] | None = None) -> dict[str, Any]:
    """Values for one step: global tag = target; components not yet done pinned to the tag they run."""
    values = copy.deepcopy(start)
    values.setdefault("image", {})["tag"] = to
    for component in components:
        spec = values.setdefault(COMPONENT_KEYS[component], {})
        if component in done:
            spec.pop("image", None)
        else:
            spec["image"] = {"tag": (pins or {}).get(component) or component_tag(start, component)}
    return values


# -- strategy and downtime --------------------------------------------------------------------------

@dataclass(frozen=True)
class Rollout:
    kind: str
    strategy: str  # RollingUpdate | Recreate | OnDelete
    surge: int  # in pods
    unavailable: int


def rollout_of(obj: dict[str, Any], replicas: int) -> Rollout:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "StatefulSet":
        kind = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        return Rollout("StatefulSet", kind, 0, 1)
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type", "RollingUpdate")
    if kind == "Recreate":
        return Rollout("Deployment", kind, 0, replicas)
    rolling = strategy.get("rollingUpdate") or {}
    return Rollout("Deployment", kind, preflight.rollout_pods(rolling.get("maxSurge", "25%"), replicas, True),
                   preflight.rollout_pods(rolling.get("maxUnavailable", "25%"), replicas, False))


def describe(component: str, rollout: Rollout, replicas: int, active_standby: bool | None) -> tuple[str, str]:
    """(strategy, expected downtime) in words."""
    standby = "" if active_standby is None else (" (active-standby on)" if active_standby
                                                 else " (active-standby off: one active coordinator)")
    if rollout.strategy == "Recreate":
        return (f"Recreate{standby}",
                f"{component} unavailable from the stop of its {replicas} old pod(s) until a new one is Ready")
    if rollout.strategy == "OnDelete":
        return "OnDelete", f"{component} keeps its old pods until they are deleted: the step does not roll by itself"
    if rollout.kind == "StatefulSet":
        what = ("unavailable" if replicas <= 1 else f"down by one of {replicas} pods")
        return "RollingUpdate (StatefulSet, one pod at a time)", f"{component} {what} while each pod is replaced"
    how = f"RollingUpdate maxSurge {rollout.surge}, maxUnavailable {rollout.unavailable}{standby}"
    if rollout.unavailable == 0:
        return how, "none expected: every new pod is Ready before an old one stops"
    if rollout.unavailable >= replicas:
        return how, f"{component} may have no ready pod (all {replicas} may be replaced at once)"
    return how, f"capacity reduced: up to {rollout.unavailable} of {replicas} {component} pods down at a time"


# -- feasibility ------------------------------------------------------------------------------------

def _rooms(facts: LiveFacts, free_component: str | None = None) -> list[preflight.NodeRoom]:
    """Each node's allocatable minus the requests of every pod on it (free_component's pods excluded)."""
    rooms = {n.name: preflight.NodeRoom(n.name, dict(n.labels), n.cpu, n.memory, n.schedulable,
                                        taints=[{"key": k, "value": v, "effect": e} for k, v, e in n.taints])
             for n in facts.nodes}
    for pod in facts.pods:
        room = rooms.get(pod.node)
        if room is None or (free_component and pod.component == free_component):
            continue
        room.cpu_free -= pod.cpu
        room.mem_free -= pod.memory
    return list(rooms.values())


def _domains_held(facts: LiveFacts, component: str, key: str) -> set[str]:
    labels = {n.name: n.labels for n in facts.nodes}
    return {labels[p.node].get(key, p.node) for p in facts.pods
            if p.component == component and p.node in labels}


def surge_problem(component: str, demand: preflight.PodDemand, rollout: Rollout, replicas: int,
                  facts: LiveFacts) -> str | None:
    """Why this component's rollout cannot make progress on the live cluster, or None."""
    if rollout.kind != "Deployment" or rollout.strategy == "OnDelete":
        return None
    if rollout.strategy == "Recreate":
        rooms = _rooms(facts, free_component=component)
        fit = preflight.simulate([preflight.PodDemand(component, replicas, demand.cpu, demand.memory,
                                                      demand.anti_affinity_key, demand.node_selector,
                                                      demand.tolerations)], rooms)
        return None if fit.ok else f"{component}: Recreate cannot place its new pods: {fit.problems[0]}"
    if rollout.unavailable > 0 or rollout.surge == 0:
        return None  # an old pod stops first and frees its place
    rooms = _rooms(facts)
    key = demand.anti_affinity_key
    held = _domains_held(facts, component, key) if key else set()
    node, reasons = preflight.place_one(demand, rooms, held)
    if node is not None:
        return None
    if key:
        domains = preflight.anti_affinity_domains(demand, rooms)
        if len(domains) < replicas + 1:
            unit = "schedulable nodes" if key == HOSTNAME else f"schedulable {key} domains"
            return (f"{component}: {replicas} replicas with required anti-affinity on {key} and maxSurge "
                    f"{rollout.surge} need {replicas + 1} {unit}; the cluster has {len(domains)} — add a node or "
                    "set maxUnavailable 1 for this component")
    return (f"{component}: the surge pod (requests {format_cpu(demand.cpu)} CPU, "
            f"{format_bytes(demand.memory)}) fits no node with maxUnavailable 0 — " + "; ".join(reasons))


def budget_problem(component: str, rollout: Rollout, replicas: int, facts: LiveFacts) -> str | None:
    """A rollout that takes more pods down at once than the component's PDB allows right now."""
    down = replicas if rollout.strategy == "Recreate" else rollout.unavailable
    if down == 0:
        return None
    for pdb in facts.pdbs:
        if pdb.component == component and down > pdb.disruptions_allowed:
            return (f"{component}: the rollout takes up to {down} pod(s) down at once; PodDisruptionBudget "
                    f"{pdb.name} allows {pdb.disruptions_allowed} now ({pdb.current_healthy} healthy, "
                    f"{pdb.desired_healthy} required)")
    return None


# -- the plan ---------------------------------------------------------------------------------------

def make_plan(request: Request, facts: LiveFacts, target: TargetFacts) -> Plan:
    workloads = {w.component: w for w in facts.workloads if w.component in (*ORDER, "standalone")}
    order = ["standalone"] if "standalone" in workloads else [c for c in ORDER if c in workloads]
    from_tags = {c: workloads[c].tag for c in order}
    pending = [c for c in order if from_tags[c] != request.to]
    sources = sorted({from_tags[c] for c in pending})
    problems: list[Finding] = []
    if request.order not in ORDERS:
        problems.append(Finding("order", f"--order {request.order!r}: use one of {', '.join(ORDERS)}"))
    if not order:
        problems.append(Finding("release-found", f"release {facts.release} in {facts.namespace} has no Milvus "
                                                 "workloads"))
    if len(sources) > 1:
        problems.append(Finding("one-source-version", (
            "components run different tags (" + ", ".join(f"{c} {from_tags[c]}" for c in pending)
            + "): finish or roll back the earlier change first")))
    source = sources[0] if sources else request.to
    verdict = judge(source, request.to, allow_downgrade=request.allow_downgrade,
                    backup_done=request.backup_done, env=request.env)
    problems += verdict.problems
    said = {p.rule for p in verdict.problems}
    problems += [Finding(p.rule, f"target values: {p.path}: {p.message}") for p in target.problems
                 if not (p.rule == "milvus-version-supported" and "target-supported" in said)]
    if facts.mq_type and target.mq_type and facts.mq_type != target.mq_type:
        problems.append(Finding("mq-type-unchanged", (
            f"messageQueue.type (Milvus's mq.type) would change from {facts.mq_type} to {target.mq_type}: the "
            "message queue of a release is fixed once its coordinators have started; keep it as it is")))
    problems += [Finding("release-settled", f"{w.component}: {w.ready}/{w.replicas} ready, not fully rolled; "
                                            "an upgrade starts from a settled release")
                 for w in workloads.values() if not w.settled]
    plan = Plan(request, verdict.direction, verdict.reason, from_tags, problems=problems,
                backup=list(BACKUP_WHAT) if verdict.minor_change else [])
    if verdict.direction == "downgrade":
        pending.reverse()
    if pending and request.order == "helm":
        plan.steps = [_step("all components at once (helm)", pending, workloads, target, request, facts, plan)]
    elif request.order == "dependency":
        plan.steps = [_step(c, [c], workloads, target, request, facts, plan) for c in pending]
    return plan


def _step(label: str, components: list[str], workloads: dict[str, WorkloadFact], target: TargetFacts,
          request: Request, facts: LiveFacts, plan: Plan) -> Step:
    by_component = {(o["metadata"].get("labels") or {}).get("app.kubernetes.io/component"): o
                    for o in target.objects if o.get("kind") in ("Deployment", "StatefulSet")}
    demands = {d.component: d for d in preflight.demands_from_objects(target.objects)}
    strategies, downtimes = [], []
    for component in components:
        obj = by_component.get(component)
        replicas = workloads[component].replicas
        if obj is None:
            continue  # the target failed validation; that problem is already listed
        rollout = rollout_of(obj, replicas)
        active = target.mixcoord_active_standby if component == "mixcoord" else None
        strategy, downtime = describe(component, rollout, replicas, active)
        strategies.append(strategy if len(components) == 1 else f"{component}: {strategy}")
        downtimes.append(downtime)
        for problem in (surge_problem(component, demands[component], rollout, replicas, facts),
                        budget_problem(component, rollout, replicas, facts)):
            if problem:
                plan.problems.append(Finding("rollout-feasible", problem))
    return Step(label, components, {c: workloads[c].tag for c in components}, request.to, "; ".join(strategies),
                "; ".join(downtimes))

