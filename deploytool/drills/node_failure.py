"""drill node-failure: lose the node holding the most Milvus pods, drain it, watch the pods move, restore it.

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

from deploytool.core.conditions import is_ready
from deploytool.core.errors import BadInput
from deploytool.core.labels import COMPONENT
from deploytool.drills import faults
from deploytool.drills.checks import anti_affinity_assertion, endpoints_assertion, recovery
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
        self.simulated = False  # pods on the node are simulated: the probe's path to them is cut by hand
        self.t_fail: float | None = None
        self.t_restore: float | None = None

    def plan(self, ctx: DrillContext) -> None:
        unsupported = ctx.faults.node_failure_unsupported()
        if unsupported:
            raise BadInput(unsupported)
        nodes = _ready_nodes(ctx)
        pods = ctx.kube.core.list_namespaced_pod(ctx.target.namespace, label_selector=ctx.selector).items
        per_node: dict[str, list[str]] = {}
        components: dict[str, set[str]] = {}
        for pod in pods:
            if pod.spec.node_name and not pod.metadata.deletion_timestamp:
                per_node.setdefault(pod.spec.node_name, []).append(pod.metadata.name)
                components.setdefault(pod.spec.node_name, set()).add((pod.metadata.labels or {}).get(COMPONENT, ""))
        if self.node:
            if self.node not in nodes:
                raise BadInput(f"--node {self.node}: not a Ready, schedulable node (have: {', '.join(nodes)})")
        else:
            if not per_node:
                raise BadInput(f"no pod of release {ctx.target.release} is on a node")
            self.node = max(sorted(per_node), key=lambda n: len(per_node[n]))
        if len(nodes) < 2:
            raise BadInput("node-failure needs at least 2 Ready nodes")
        self.probe_prefer_node = self.node
        left = len(nodes) - 1
        tight = []
        apps, ns, sel = ctx.kube.apps, ctx.target.namespace, ctx.selector
        for obj in (apps.list_namespaced_deployment(ns, label_selector=sel).items
                    + apps.list_namespaced_stateful_set(ns, label_selector=sel).items):
            anti = obj.spec.template.spec.affinity.pod_anti_affinity if obj.spec.template.spec.affinity else None
            on_node = (obj.metadata.labels or {}).get(COMPONENT) in components.get(self.node, set())
            if anti and anti.required_during_scheduling_ignored_during_execution and on_node \
                    and (obj.spec.replicas or 0) > left:
                tight.append(obj.metadata.name)
        self.can_reschedule = not tight
        ctx.parameters.update(node=self.node, ready_nodes=nodes, pods_on_node=sorted(per_node.get(self.node, [])),
                              drain_bound_s=self.drain_bound_s)
        held = len(per_node.get(self.node, []))
        note = f"failing {self.node}: {held} release pod(s) on it; {left} other Ready node(s)"
        if tight:
            note += (f"; {', '.join(sorted(tight))} cannot all fit on {left} node(s) with required anti-affinity: "
                     "a replacement stays Pending until the node returns")
        ctx.notes.append(note)
        self.simulated = ctx.conn.pods_simulated_on(self.node)
        if self.simulated:
            ctx.notes.append("simulated: the node is a kwok Node (no kubelet, no containers). kwok stops its "
                             "heartbeat; kwok's port-forward would keep answering for its pods, so the drill cuts "
                             "the probe's forward to them (what the network would do); kwok still completes the "
                             "deletion of evicted pods there (a dead kubelet would not). Detection, NotReady, "
                             "taints, pod readiness, endpoints, eviction and rescheduling are the real controllers.")

    def run(self, ctx: DrillContext) -> None:
        node = self.node
        self.t_fail = ctx.phase("node failed", f"{node}: {ctx.faults.fail_node(node)}")
        self.failed = True
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
        found = [anti_affinity_assertion(ctx.rec, start=t_fail),
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
