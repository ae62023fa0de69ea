"""Pre-flight: will the rendered environment fit the cluster? Pure logic over plain data.

A first-fit simulation places every replica on a schedulable node that has room and does not
break required anti-affinity, and reports the exact shortfall for what does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from deploytool.core import quantity
from deploytool.core.labels import COMPONENT
from deploytool.core.quantity import format_bytes, format_cpu


@dataclass
class NodeRoom:
    name: str
    labels: dict[str, str]
    cpu_free: Decimal
    mem_free: Decimal
    schedulable: bool = True
    placed: list[str] = field(default_factory=list)
    taints: list[dict[str, str]] = field(default_factory=list)  # NoSchedule/NoExecute taints: key, value, effect


@dataclass(frozen=True)
class PodDemand:
    component: str
    replicas: int
    cpu: Decimal
    memory: Decimal
    anti_affinity_key: str | None  # topologyKey of required anti-affinity, if any
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[tuple[str, str, str, str], ...] = ()  # (key, operator, value, effect)


def _requests(pod_spec: dict[str, Any]) -> tuple[Decimal, Decimal]:
    cpu = mem = Decimal(0)
    for c in pod_spec.get("containers", []):
        req = (c.get("resources") or {}).get("requests") or {}
        cpu += quantity.parse(req.get("cpu", 0))
        mem += quantity.parse(req.get("memory", 0))
    return cpu, mem


def replicas_of(obj: dict[str, Any], objects: list[dict[str, Any]]) -> int:
    """A workload's replica count; for an HPA target (no spec.replicas rendered) the HPA's min."""
    if "replicas" in obj["spec"]:
        return int(obj["spec"]["replicas"])
    for hpa in objects:
        if hpa.get("kind") == "HorizontalPodAutoscaler" and \
                hpa["spec"]["scaleTargetRef"]["name"] == obj["metadata"]["name"]:
            return int(hpa["spec"]["minReplicas"])
    return 1


def demands_from_objects(objects: list[dict[str, Any]]) -> list[PodDemand]:
    demands = []
    for obj in objects:
        if obj.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        spec = obj["spec"]["template"]["spec"]
        cpu, mem = _requests(spec)
        terms = (((spec.get("affinity") or {}).get("podAntiAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        component = obj["metadata"].get("labels", {}).get(COMPONENT, obj["metadata"]["name"])
        demands.append(PodDemand(component, replicas_of(obj, objects), cpu, mem,
                                 terms[0]["topologyKey"] if terms else None,
                                 tuple(sorted((spec.get("nodeSelector") or {}).items())),
                                 tuple((t.get("key", ""), t.get("operator", "Equal"), t.get("value", ""),
                                        t.get("effect", "")) for t in spec.get("tolerations") or [])))
    return demands


@dataclass
class Fit:
    ok: bool
    problems: list[str]
    placement: dict[str, list[str]]  # node -> components placed
    need_cpu: Decimal
    need_mem: Decimal
    free_cpu: Decimal
    free_mem: Decimal


def simulate(demands: list[PodDemand], nodes: list[NodeRoom]) -> Fit:
    problems: list[str] = []
    free_cpu = sum((n.cpu_free for n in nodes if n.schedulable), Decimal(0))
    free_mem = sum((n.mem_free for n in nodes if n.schedulable), Decimal(0))
    domains_used: dict[str, set[str]] = {}
    order = sorted(demands, key=lambda d: (d.anti_affinity_key is None, -d.cpu, -d.memory))
    for demand in order:
        for index in range(demand.replicas):
            candidates, reasons = [], []
            for node in nodes:
                why = _why_not(demand, node, domains_used)
                (reasons.append(f"{node.name}: {why}") if why else candidates.append(node))
            if not candidates:
                problems.append(
                    f"{demand.component} replica {index + 1}/{demand.replicas} "
                    f"(requests {format_cpu(demand.cpu)} CPU, {format_bytes(demand.memory)}) fits no node — "
                    + "; ".join(reasons or ["the cluster has no schedulable nodes"]))
                continue
            node = max(candidates, key=lambda n: (n.cpu_free, n.mem_free))
            node.cpu_free -= demand.cpu
            node.mem_free -= demand.memory
            node.placed.append(demand.component)
            if demand.anti_affinity_key:
                domain = node.labels.get(demand.anti_affinity_key, node.name)
                domains_used.setdefault(demand.component, set()).add(domain)
    need_cpu = sum((d.cpu * d.replicas for d in demands), Decimal(0))
    need_mem = sum((d.memory * d.replicas for d in demands), Decimal(0))
    return Fit(not problems, problems, {n.name: n.placed for n in nodes}, need_cpu, need_mem, free_cpu, free_mem)


def tolerates(demand: PodDemand, taint: dict[str, str]) -> bool:
    for key, operator, value, effect in demand.tolerations:
        if effect and effect != taint["effect"]:
            continue
        if operator == "Exists" and (not key or key == taint["key"]):
            return True
        if operator == "Equal" and key == taint["key"] and value == taint.get("value", ""):
            return True
    return False


def _why_not(demand: PodDemand, node: NodeRoom, domains_used: dict[str, set[str]]) -> str | None:
    if not node.schedulable:
        return "not schedulable"
    for taint in node.taints:
        if not tolerates(demand, taint):
            value = f"={taint['value']}" if taint.get("value") else ""
            return f"taint {taint['key']}{value}:{taint['effect']} not tolerated"
    for key, value in demand.node_selector:
        if node.labels.get(key) != value:
            return f"nodeSelector {key}={value} does not match"
    if demand.anti_affinity_key:
        if demand.anti_affinity_key not in node.labels:
            return f"no {demand.anti_affinity_key} label (required anti-affinity)"
        if node.labels[demand.anti_affinity_key] in domains_used.get(demand.component, set()):
            return f"already holds a {demand.component} in {demand.anti_affinity_key}=" \
                   f"{node.labels[demand.anti_affinity_key]} (required anti-affinity)"
    short = []
    if node.cpu_free < demand.cpu:
        short.append(f"short {format_cpu(demand.cpu - node.cpu_free)} CPU")
    if node.mem_free < demand.memory:
        short.append(f"short {format_bytes(demand.memory - node.mem_free)} memory")
    if short:
        return f"free {format_cpu(max(node.cpu_free, Decimal(0)))} CPU/{format_bytes(max(node.mem_free, Decimal(0)))}" \
               f" ({', '.join(short)})"
    return None


def storage_problems(objects: list[dict[str, Any]], classes: list[dict[str, Any]]) -> list[str]:
    """Every volumeClaimTemplate needs its named StorageClass, or a default one."""
    names = {c["name"] for c in classes}
    default = [c["name"] for c in classes if c.get("default")]
    problems = []
    for obj in objects:
        for vct in obj.get("spec", {}).get("volumeClaimTemplates", []) if obj.get("kind") == "StatefulSet" else []:
            wanted = vct["spec"].get("storageClassName")
            where = f"{obj['metadata']['name']}/{vct['metadata']['name']}"
            if wanted and wanted not in names:
                have = ", ".join(sorted(names)) or "none"
                problems.append(f"{where}: StorageClass '{wanted}' does not exist (have: {have})")
            elif not wanted and not default:
                problems.append(f"{where}: no storageClassName and the cluster has no default StorageClass")
    return problems


def _pods(value: Any, replicas: int, round_up: bool) -> int:
    """An int-or-percent rollout bound in pods: Kubernetes rounds maxSurge up, maxUnavailable down."""
    if isinstance(value, str) and value.endswith("%"):
        scaled = replicas * int(value[:-1])
        return -(-scaled // 100) if round_up else scaled // 100
    return int(value or 0)


def surge_pods(obj: dict[str, Any], replicas: int) -> int:
    """Pods a Deployment's rolling update adds above its replicas (0 for Recreate)."""
    strategy = obj["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    return _pods((strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"), replicas, round_up=True)


def rollout_warnings(objects: list[dict[str, Any]], nodes: list[NodeRoom]) -> list[str]:
    """Deployments whose rolling update cannot progress: required anti-affinity, surge > 0 and
    maxUnavailable 0 need one more topology domain than replicas for the surge pod."""
    warnings = []
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        spec = obj["spec"]["template"]["spec"]
        terms = (((spec.get("affinity") or {}).get("podAntiAffinity") or {})
                 .get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        rolling = (obj["spec"].get("strategy") or {}).get("rollingUpdate") or {}
        replicas = replicas_of(obj, objects)
        if not terms or surge_pods(obj, replicas) == 0:
            continue
        if _pods(rolling.get("maxUnavailable", "25%"), replicas, round_up=False) > 0:
            continue
        key = terms[0]["topologyKey"]
        selector = spec.get("nodeSelector") or {}
        domains = {n.labels.get(key) for n in nodes if n.schedulable and not n.taints and key in n.labels
                   and all(n.labels.get(k) == v for k, v in selector.items())}
        if len(domains) < replicas + 1:
            warnings.append(f"{obj['metadata']['name']}: rolling update needs one more {key} domain than its "
                            f"{replicas} replicas for the surge pod (have {len(domains)}); an upgrade will stall "
                            "— add a node or set maxUnavailable 1")
    return warnings


def place_one(demand: PodDemand, nodes: list[NodeRoom], occupied_domains: set[str]) -> tuple[str | None, list[str]]:
    """Where one more pod of demand fits while its component holds occupied_domains (values of its
    anti-affinity topology key): (node, []) or (None, why each node refuses it)."""
    used = {demand.component: set(occupied_domains)}
    reasons = []
    for node in sorted(nodes, key=lambda n: (-n.cpu_free, -n.mem_free, n.name)):
        why = _why_not(demand, node, used)
        if why is None:
            return node.name, []
        reasons.append(f"{node.name}: {why}")
    return None, reasons or ["the cluster has no nodes"]


def anti_affinity_domains(demand: PodDemand, nodes: list[NodeRoom]) -> set[str]:
    """The topology domains a pod of demand could ever use: schedulable nodes it tolerates and selects."""
    key = demand.anti_affinity_key
    if key is None:
        return set()
    return {n.labels[key] for n in nodes if n.schedulable and key in n.labels
            and all(tolerates(demand, t) for t in n.taints)
            and all(n.labels.get(k) == v for k, v in demand.node_selector)}


def rollout_pods(value: Any, replicas: int, round_up: bool) -> int:
    """A RollingUpdate maxSurge (round_up) or maxUnavailable bound in pods, as Kubernetes resolves it."""
    return _pods(value, replicas, round_up)
