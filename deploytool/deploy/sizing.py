"""How many nodes a new cluster needs so that an environment fits *and can be rolled*. Pure.

A rolling update of a Deployment adds maxSurge pods before it removes old ones; with required
pod anti-affinity each of those surge pods needs a topology domain of its own, and every surge
pod needs room for its requests. So the cluster is sized for the rendered objects with every
Deployment at replicas + maxSurge pods (HPA targets at their minReplicas), placed by the same
first-fit simulation pre-flight uses, on identical nodes labelled like deploytool's own
(a hostname each, zones round-robin).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from deploytool.core import quantity
from deploytool.core.errors import BadInput
from deploytool.core.labels import COMPONENT, HOSTNAME, NODE_ZONES, ZONE
from deploytool.deploy.preflight import NodeRoom, demands_from_objects, replicas_of, simulate, surge_pods

MIN_NODES = 3  # never fewer than the old fixed default: room for zone spread over three zones
MAX_NODES = 100  # the local provider's limit


@dataclass(frozen=True)
class Sizing:
    nodes: int
    reason: str  # why that many, for the status line

    def __str__(self) -> str:
        return f"{self.nodes} nodes ({self.reason})"


def identical_nodes(count: int, cpu: str, memory: str) -> list[NodeRoom]:
    return [NodeRoom(f"node-{i}", {HOSTNAME: f"node-{i}", ZONE: NODE_ZONES[i % len(NODE_ZONES)]},
                     quantity.parse(cpu), quantity.parse(memory)) for i in range(count)]


def surges(objects: list[dict[str, Any]]) -> dict[str, int]:
    """component -> the pods its rolling update adds above its replicas (Deployments only)."""
    return {o["metadata"].get("labels", {}).get(COMPONENT, o["metadata"]["name"]):
            surge_pods(o, replicas_of(o, objects)) for o in objects if o.get("kind") == "Deployment"}


def nodes_to_roll(objects: list[dict[str, Any]], node_cpu: str, node_memory: str,
                  minimum: int = MIN_NODES, maximum: int = MAX_NODES) -> Sizing:
    """The fewest identical nodes (at least `minimum`) on which the environment can be rolled.

    BadInput if a single pod is larger than a node, or if `maximum` nodes are not enough."""
    surge = surges(objects)
    steady = demands_from_objects(objects)
    rolling = [replace(d, replicas=d.replicas + surge.get(d.component, 0)) for d in steady]
    cpu, memory = quantity.parse(node_cpu), quantity.parse(node_memory)
    for d in rolling:
        if d.cpu > cpu or d.memory > memory:
            raise BadInput(f"{d.component} requests {quantity.format_cpu(d.cpu)} CPU/"
                           f"{quantity.format_bytes(d.memory)} per pod: a node of {node_cpu} CPU/{node_memory} "
                           "cannot hold one (raise --node-cpu/--node-memory)")
    for count in range(1, maximum + 1):
        if simulate(rolling, identical_nodes(count, node_cpu, node_memory)).ok:
            break
    else:
        raise BadInput(f"the environment cannot be rolled on {maximum} nodes of {node_cpu} CPU/{node_memory} "
                       "(raise --node-cpu/--node-memory)")
    if count < minimum:
        return Sizing(minimum, f"the minimum; {count} would hold it while rolling")
    spread = sorted((d.anti_affinity_key, d.component) for d in steady if d.anti_affinity_key
                    and d.replicas + surge.get(d.component, 0) == count)
    if spread:
        key = spread[0][0]
        names = [c for k, c in spread if k == key]
        d = next(d for d in steady if d.component == names[0])
        return Sizing(count, f"{', '.join(names)}: {d.replicas} replicas + maxSurge {surge.get(d.component, 0)} "
                             f"with required anti-affinity on {key}")
    return Sizing(count, f"the requests of every pod while rolling, on nodes of {node_cpu} CPU/{node_memory}")
