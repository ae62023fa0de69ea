"""drill node-failure: lose the node holding the most Milvus pods, drain it, watch the pods move, restore it.

The node is picked by pods with required anti-affinity first, then pods of the release; a node
that runs the provider's test scaffolding (`Faults.stand_in_nodes`: on real local nodes, the
stand-in proxies' shared engine, which is not Milvus) is never picked by itself.

Sequence: fail the node (local: kwok stops heartbeating it and the drill cuts the probe's network
path to its pods; kind: `docker stop`), wait for the real node controller to mark it NotReady (its
pods stop being Ready and leave the Service), cordon and drain it (Eviction API, so PDBs are
respected; what is left after a bound -- pods a PDB still protects and evicted pods stuck
terminating because no kubelet confirms -- is force-deleted), wait for the replacements, then
restore the node (heartbeats / docker start, uncordon) and wait until every component is back.

With required anti-affinity a replacement only fits a node that holds no replica of its
component: on 3 nodes with 3 replicas it stays Pending until the node returns; on 4 it moves.
The assertions describe either outcome.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from deploytool.core.conditions import is_ready
from deploytool.core.errors import BadInput
from deploytool.core.labels import COMPONENT
from deploytool.drills import faults
from deploytool.drills.checks import (
    anti_affinity_assertion,
    endpoints_assertion,
    node_not_ready_assertion,
    recovery,
    rescheduled_assertion,
)
from deploytool.drills.model import Assertion
from deploytool.drills.runner import Drill, DrillContext

# A client connected to the proxy on the failed node loses its in-flight search(es) before it
# moves to another proxy; the probe deliberately is that client (it connects to a proxy on the
# node that fails), so a few errors are expected and allowed.
DEFAULT_MAX_ERRORS = 3
DETECTION_TIMEOUT = 180.0


def _ready_nodes(ctx: DrillContext) -> list[str]:
    names = []
    for node in ctx.kube.core.list_node().items:
        if is_ready(node) and not node.spec.unschedulable:
            names.append(str(node.metadata.name))
    return sorted(names)


def pick_node(per_node: Mapping[str, list[str]], held_required: Mapping[str, int], ready: list[str],
              scaffolding: Mapping[str, list[str]]) -> str | None:
    """The Ready node to fail: most pods with required anti-affinity, then most release pods (ties:
    the first name); never one running test scaffolding. None if no node qualifies."""
    candidates = sorted(n for n in per_node if n in ready and n not in scaffolding)
    if not candidates:
        return None
    return max(candidates, key=lambda n: (held_required.get(n, 0), len(per_node[n])))


def _required_anti_affinity(obj: Any) -> bool:
    affinity = obj.spec.template.spec.affinity
    anti = affinity.pod_anti_affinity if affinity else None
    return bool(anti and anti.required_during_scheduling_ignored_during_execution)


class NodeFailureDrill(Drill):
    name = "node-failure"
    default_max_errors = DEFAULT_MAX_ERRORS

    def __init__(self, node: str | None = None, drain_bound_s: float = 20.0, settle_s: float = 20.0) -> None:
        self.node = node or ""
        self.drain_bound_s = drain_bound_s
        self.settle_s = settle_s
        self.failed = False
        self.restored = False
        self.can_reschedule = True
        self.tight_components: set[str] = set()  # required anti-affinity, no free node left: stay Pending
        self.simulated = False  # pods on the node are simulated: the probe's path to them is cut by hand
        self.t_fail: float | None = None
        self.t_restore: float | None = None

    def plan(self, ctx: DrillContext) -> None:
        unsupported = ctx.faults.node_failure_unsupported()
        if unsupported:
            raise BadInput(unsupported)
        nodes = _ready_nodes(ctx)
        apps, ns, sel = ctx.kube.apps, ctx.target.namespace, ctx.selector
        workloads = apps.list_namespaced_deployment(ns, label_selector=sel).items \
            + apps.list_namespaced_stateful_set(ns, label_selector=sel).items
        required = {(w.metadata.labels or {}).get(COMPONENT) for w in workloads if _required_anti_affinity(w)}
        pods = ctx.kube.core.list_namespaced_pod(ns, label_selector=sel).items
        per_node: dict[str, list[str]] = {}
        components: dict[str, set[str]] = {}
        held_required: dict[str, int] = {}
        for pod in pods:
            if pod.spec.node_name and not pod.metadata.deletion_timestamp:
                component = (pod.metadata.labels or {}).get(COMPONENT, "")
                per_node.setdefault(pod.spec.node_name, []).append(pod.metadata.name)
                components.setdefault(pod.spec.node_name, set()).add(component)
                held_required[pod.spec.node_name] = held_required.get(pod.spec.node_name, 0) + (component in required)
        scaffolding = ctx.faults.stand_in_nodes(ns)
        if self.node:
            if self.node not in nodes:
                raise BadInput(f"--node {self.node}: not a Ready, schedulable node (have: {', '.join(nodes)})")
            if self.node in scaffolding:
                ctx.notes.append(f"{self.node} also runs {', '.join(scaffolding[self.node])}, the stand-in's shared "
                                 "engine (test scaffolding, not Milvus): the probe's searches fail until it moves")
        else:
            if not per_node:
                raise BadInput(f"no pod of release {ctx.target.release} is on a node")
            picked = pick_node(per_node, held_required, nodes, scaffolding)
            if picked is None:
                raise BadInput("every Ready node holding release pods also runs the stand-in's shared engine "
                               f"({', '.join(sorted(scaffolding))}); pass --node to fail one anyway")
            self.node = picked
            for node, engine_pods in sorted(scaffolding.items()):
                ctx.notes.append(f"not picking {node}: it runs {', '.join(engine_pods)}, the stand-in proxies' shared "
                                 "engine (test scaffolding standing in for Milvus's data path, not part of the "
                                 "deployment being drilled)")
        if len(nodes) < 2:
            raise BadInput("node-failure needs at least 2 Ready nodes")
        self.probe_prefer_node = self.node
        left = len(nodes) - 1
        tight = []
        for obj in workloads:
            component = (obj.metadata.labels or {}).get(COMPONENT)
            if _required_anti_affinity(obj) and component in components.get(self.node, set()) \
                    and (obj.spec.replicas or 0) > left:
                tight.append(obj.metadata.name)
                self.tight_components.add(str(component))
        self.can_reschedule = not tight
        ctx.parameters.update(node=self.node, ready_nodes=nodes, pods_on_node=sorted(per_node.get(self.node, [])),
                              drain_bound_s=self.drain_bound_s, stand_in_nodes=scaffolding,
                              required_anti_affinity=sorted(c for c in required if c))
        held = len(per_node.get(self.node, []))
        note = f"failing {self.node}: {held} release pod(s) on it; {left} other Ready node(s)"
        if tight:
            note += (f"; {', '.join(sorted(tight))} cannot all fit on {left} node(s) with required anti-affinity: "
                     "a replacement stays Pending until the node returns")
        ctx.notes.append(note)
        if not required:
            ctx.notes.append("no component of this env has required anti-affinity: the anti-affinity assertion "
                             "cannot pass (preferred anti-affinity lets the scheduler co-locate replicas)")
        self.simulated = ctx.conn.pods_simulated_on(self.node)
        if self.simulated:
            ctx.notes.append("simulated: the node is a kwok Node (no kubelet, no containers). kwok stops its "
                             "heartbeat; kwok's port-forward would keep answering for its pods, so the drill cuts "
                             "the probe's forward to them (what the network would do); kwok still completes the "
                             "deletion of evicted pods there (a dead kubelet would not). Detection, NotReady, "
                             "taints, pod readiness, endpoints, eviction and rescheduling are the real controllers.")

    def run(self, ctx: DrillContext) -> None:
        node = self.node
        began = ctx.clock.now()  # the failure starts here: stopping a real node's processes takes a moment
        self.t_fail = began
        self.failed = True  # restore_node is idempotent: undo a half-done failure too
        detail = ctx.faults.fail_node(node)
        ctx.phase("node failed", f"{node}: {detail} (took {ctx.clock.now() - began:.1f}s)")
        if self.simulated and ctx.probe is not None:
            ctx.probe.sever_node(node)
        started = time.monotonic()
        detected = ctx.wait(lambda: not faults.node_ready(ctx.kube, node), DETECTION_TIMEOUT)
        ctx.timings["detection (NotReady)"] = time.monotonic() - started
        ctx.phase("node NotReady" if detected else "node still Ready", f"after {time.monotonic() - started:.0f}s")
        faults.cordon(ctx.kube, node, True)
        ctx.phase("drain", f"cordoned {node}; evicting its pods")
        drained = faults.drain(ctx.kube, node, self.drain_bound_s, ctx.target.namespace)
        ctx.timings["drain"] = drained.seconds
        ctx.parameters["drain"] = {"evicted": drained.evicted, "blocked_by_pdb": drained.blocked,
                                   "force_deleted": drained.force_deleted}
        ctx.phase("drained", drained.describe())
        started = time.monotonic()
        if not self.can_reschedule:  # the rest moves; then show the tight ones Pending for settle_s
            ctx.wait(lambda: self._settled_except(ctx, self.tight_components), ctx.options.timeout_s)
        wait_s = ctx.options.timeout_s if self.can_reschedule else self.settle_s
        moved = ctx.wait(ctx.all_settled, wait_s)
        ctx.timings["reschedule"] = time.monotonic() - started
        ctx.phase("replacements ready" if moved else "replacements pending",
                  "every component at desired ready" if moved else f"not all ready after {wait_s:.0f}s")
        self._restore_node(ctx)
        started = time.monotonic()
        back = ctx.wait(ctx.all_settled, ctx.options.timeout_s)
        ctx.timings["settle after restore"] = time.monotonic() - started
        ctx.phase("recovered" if back else "not recovered", "every component at desired ready" if back else "")

    @staticmethod
    def _settled_except(ctx: DrillContext, components: set[str]) -> bool:
        states = [s for s in ctx.workloads() if s.component not in components]
        return bool(states) and all(s.fully_rolled for s in states)

    def _restore_node(self, ctx: DrillContext) -> None:
        if not self.failed or self.restored:
            return
        node = self.node
        detail = ctx.faults.restore_node(node)
        if ctx.probe is not None:
            ctx.probe.restore_node(node)
        self.restored = True
        started = time.monotonic()
        ready = ctx.wait(lambda: faults.node_ready(ctx.kube, node), 120)
        faults.cordon(ctx.kube, node, False)
        ctx.timings["node back Ready"] = time.monotonic() - started
        self.t_restore = ctx.phase("node restored", f"{detail}; uncordoned" + ("" if ready else "; NOT Ready yet"))

    def restore(self, ctx: DrillContext) -> None:
        self._restore_node(ctx)

    def assertions(self, ctx: DrillContext) -> list[Assertion]:
        t_fail = self.t_fail if self.t_fail is not None else 0.0
        end = ctx.clock.now()
        until = self.t_restore if self.t_restore is not None else end
        found = [node_not_ready_assertion(ctx.rec, self.node, t_fail),
                 rescheduled_assertion(ctx.rec, self.node, t_fail, until, self.tight_components),
                 anti_affinity_assertion(ctx.rec, start=t_fail, failed_node=self.node),
                 endpoints_assertion(ctx.rec, ctx.target.fullname, t_fail, end)]
        t_loss, t_back = recovery(ctx.rec, t_fail)
        if t_loss is None:
            observed, ok = "no component lost a replica", True
        elif t_back is None:
            observed, ok = f"not every component back at desired ready by t={end:.1f}s", False
        else:
            ctx.timings["recovery (failure -> all at desired ready)"] = t_back - t_fail
            when = "before" if self.t_restore is None or t_back < self.t_restore else "after"
            observed, ok = (f"all components back at desired ready {t_back - t_fail:.1f}s after the failure "
                            f"({when} the node was restored)"), True
        found.append(Assertion("recovered", ok, "every component back at desired ready before the drill ends",
                               observed))
        return found
