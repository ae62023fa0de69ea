"""drill upgrade: a new Milvus image, one component at a time in 2.6's dependency order, with rollback.

Helm stays the owner of the desired state, through values only: every step is a `helm upgrade`
whose values set the global `image.tag` to the target and pin each component not yet due to the
tag it started on (`<component>.image.tag`, a chart feature). Step 1 rolls mixcoord only, step 2
adds streamingnode, ... proxy last (its values carry no pins: the release ends exactly as a plain
upgrade would). etcd and MinIO have images of their own and are not touched. Every step is a
release revision, and the drill waits for the whole release to be fully rolled (updated == ready ==
available == desired, no surplus pod) before the next. `--order helm` is one plain `helm upgrade`
of everything at once, for comparison.

A step that is not fully rolled within --timeout (helm --wait fails, or our own wait) triggers
`helm rollback <starting revision> --wait`; the drill then fails (exit 1) and reports it.
"""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from deploytool.core import paths
from deploytool.core.errors import BadInput, CheckFailed, CommandFailed
from deploytool.drills import faults
from deploytool.drills.checks import final_pods, floor_assertion
from deploytool.drills.model import Assertion
from deploytool.drills.runner import Drill, DrillContext
from deploytool.render.components import CLUSTER_COMPONENTS

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
ORDERS = ("dependency", "helm")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
COMPONENT_LABEL = "app.kubernetes.io/component"


COMPONENT_KEYS = {name: key for key, name in CLUSTER_COMPONENTS} | {"standalone": "standalone"}


def component_tag(values: dict[str, Any], component: str) -> str:
    """The tag a component runs with these values: its own image.tag, else the global one."""
    own = ((values.get(COMPONENT_KEYS[component]) or {}).get("image") or {}).get("tag")
    return str(own or (values.get("image") or {}).get("tag") or "")


def step_values(start: dict[str, Any], to: str, order: list[str], done: set[str]) -> dict[str, Any]:
    """Values for one step: global tag = target; components not yet done pinned to their start tag."""
    values = copy.deepcopy(start)
    values.setdefault("image", {})["tag"] = to
    for component in order:
        spec = values.setdefault(COMPONENT_KEYS[component], {})
        if component in done:
            spec.pop("image", None)
        else:
            spec["image"] = {"tag": component_tag(start, component)}
    return values


def plan_steps(order: list[str], start: dict[str, Any], to: str, mode: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, values) per step, in order; the last step's values carry no pins."""
    if mode == "helm":
        return [("all components at once (helm)", step_values(start, to, order, set(order)))]
    return [(component, step_values(start, to, order, set(order[: i + 1]))) for i, component in enumerate(order)]


def rolled(ctx: DrillContext) -> tuple[bool, list[str]]:
    """Every workload fully rolled: generation observed, updated == ready == available == desired, no surplus."""
    pending = []
    ns, sel = ctx.target.namespace, ctx.selector
    for dep in ctx.kube.apps.list_namespaced_deployment(ns, label_selector=sel).items:
        st, want = dep.status, dep.spec.replicas or 0
        counts = (st.replicas or 0, st.updated_replicas or 0, st.ready_replicas or 0, st.available_replicas or 0)
        if (st.observed_generation or 0) < (dep.metadata.generation or 0) or counts != (want,) * 4:
            pending.append(f"{dep.metadata.name} replicas/updated/ready/available {'/'.join(map(str, counts))} "
                           f"of {want}")
    for sts in ctx.kube.apps.list_namespaced_stateful_set(ns, label_selector=sel).items:
        st, want = sts.status, sts.spec.replicas or 0
        got = (st.updated_replicas or 0, st.ready_replicas or 0, st.available_replicas or 0)
        if ((st.observed_generation or 0) < (sts.metadata.generation or 0) or got != (want,) * 3
                or (st.update_revision and st.current_revision != st.update_revision)):
            pending.append(f"{sts.metadata.name} updated/ready/available {'/'.join(map(str, got))} of {want}")
    return not pending, pending


def why_not_ready(ctx: DrillContext) -> list[str]:
    """Why the rollout is stuck: Deployments refusing to progress, pods unschedulable or not Ready."""
    reasons = []
    ns, sel = ctx.target.namespace, ctx.selector
    for dep in ctx.kube.apps.list_namespaced_deployment(ns, label_selector=sel).items:
        for cond in (dep.status.conditions or []) if dep.status else []:
            if (cond.type == "ReplicaFailure" and cond.status == "True") or (
                    cond.type == "Progressing" and cond.status == "False"):
                reasons.append(f"{dep.metadata.name}: {cond.reason}: {(cond.message or '')[:400]}")
    for pod in ctx.kube.core.list_namespaced_pod(ns, label_selector=sel).items:
        if pod.metadata.deletion_timestamp:
            continue
        for cond in pod.status.conditions or []:
            if cond.type == "PodScheduled" and cond.status == "False":
                reasons.append(f"pod {pod.metadata.name} Pending: {cond.reason}: {(cond.message or '')[:300]}")
            elif cond.type == "Ready" and cond.status == "False" and pod.status.phase == "Running":
                reasons.append(f"pod {pod.metadata.name} not Ready: {cond.reason or ''} {(cond.message or '')[:200]}")
    return reasons


class UpgradeDrill(Drill):
    name = "upgrade"

    def __init__(self, to: str, order: str = "dependency") -> None:
        self.to = to
        self.mode = order
        self.from_tag = ""
        self.components: list[str] = []
        self.simulate_broken = False
        self.policy_installed = False
        self.rolled_back = False
        self.failed_step = ""
        self.failure_reasons: list[str] = []

    def plan(self, ctx: DrillContext) -> None:
        if not TAG_RE.match(self.to):
            raise BadInput(f"--to {self.to!r} is not an image tag (letters, digits, '_', '.', '-'; at most 128)")
        if self.mode not in ORDERS:
            raise BadInput(f"--order {self.mode!r}: use one of {', '.join(ORDERS)}")
        self.from_tag = str((ctx.values.get("image") or {}).get("tag") or "")
        if self.to == self.from_tag:
            raise BadInput(f"release {ctx.target.release} already runs image tag {self.to}; nothing to upgrade")
        live = {w.component for w in ctx.workloads()}
        order = [name for _, name in CLUSTER_COMPONENTS] if "standalone" not in live else ["standalone"]
        self.components = [c for c in order if c in live]
        self.simulate_broken = ctx.faults.simulates_image_pulls and self.to.endswith(faults.BROKEN_SUFFIX)
        ctx.parameters.update(to=self.to, from_tag=self.from_tag, order=self.mode, components=self.components)
        how = ("one `helm upgrade` per component in order; values pin the components not yet due to their tag"
               if self.mode == "dependency" else "one `helm upgrade` of all components at once")
        ctx.notes.append(f"upgrade method: {how}; rollback = `helm rollback {ctx.revision}`")
        if self.simulate_broken:
            ctx.notes.append("simulated: kwok marks every pod Ready, so a ValidatingAdmissionPolicy refuses pods "
                             f"whose image tag ends in {faults.BROKEN_SUFFIX} (the new ReplicaSet never gets a pod, "
                             "as with a tag that cannot be pulled)")

    # -- helm --------------------------------------------------------------------------------
    def _helm_upgrade(self, ctx: DrillContext, values: dict[str, Any], timeout_s: int) -> None:
        ctx.helm.upgrade_install(ctx.target.release, paths.chart_dir(), ctx.target.namespace, values,
                                 timeout_s=timeout_s, atomic=False, install=False)

    def run(self, ctx: DrillContext) -> None:
        timeout = ctx.options.timeout_s
        if self.simulate_broken:
            ctx.phase("fault installed", ctx.faults.make_unpullable(ctx.target.namespace, faults.BROKEN_SUFFIX))
            self.policy_installed = True
        steps = plan_steps(self.components, ctx.values, self.to, self.mode)
        ctx.parameters["steps"] = [label for label, _ in steps]
        begin = time.monotonic()
        for label, values in steps:
            ctx.phase(f"upgrade {label}")
            started = time.monotonic()
            try:
                self._helm_upgrade(ctx, values, timeout)
                remaining = max(30.0, timeout - (time.monotonic() - started))
                if not ctx.wait(lambda: rolled(ctx)[0], remaining):
                    raise CheckFailed("not fully rolled: " + "; ".join(rolled(ctx)[1]))
            except (CommandFailed, CheckFailed) as exc:
                self.failed_step = label
                self.failure_reasons = why_not_ready(ctx) or [str(exc).splitlines()[0][:300]]
                ctx.timings[f"step {label} (not ready)"] = time.monotonic() - started
                ctx.phase("target not ready", self.failure_reasons[0][:160])
                self._rollback(ctx, timeout)
                return
            ctx.timings[f"step {label}"] = time.monotonic() - started
        ctx.timings["upgrade total"] = time.monotonic() - begin
        ctx.phase("upgrade complete", f"all pods on {self.to}")

    def _rollback(self, ctx: DrillContext, timeout: int) -> None:
        started = time.monotonic()
        ctx.phase("rollback", f"helm rollback to revision {ctx.revision}")
        ctx.helm.rollback(ctx.target.release, ctx.target.namespace, ctx.revision, timeout_s=timeout)
        ok = ctx.wait(lambda: rolled(ctx)[0], timeout)
        ctx.timings["rollback"] = time.monotonic() - started
        self.rolled_back = True
        ctx.phase("rolled back" if ok else "rollback not settled", f"revision {ctx.revision} restored")

    def restore(self, ctx: DrillContext) -> None:
        if self.policy_installed:
            ctx.faults.restore_pullable()
            ctx.phase("fault removed")
        history = ctx.helm.history(ctx.target.release, ctx.target.namespace)
        made = [h for h in history if int(h["revision"]) > ctx.revision]
        ctx.parameters["revisions"] = [{"revision": h["revision"], "status": h.get("status"),
                                        "description": h.get("description")} for h in made]

    # -- verdict -----------------------------------------------------------------------------
    def _tags(self, ctx: DrillContext) -> dict[str, str]:
        return {name: p.tag for name, p in final_pods(ctx.rec).items() if p.component in self.components}

    def assertions(self, ctx: DrillContext) -> list[Assertion]:
        start = next((p.t for p in ctx.rec.phases if p.name.startswith("upgrade ")), None)
        found = [floor_assertion(ctx.rec, start=start)]
        tags = self._tags(ctx)
        wrong = sorted(f"{pod} on {tag}" for pod, tag in tags.items() if tag != self.to)
        if self.rolled_back:
            back = sorted(f"{pod} on {tag}" for pod, tag in tags.items() if tag != self.from_tag)
            found.append(Assertion(f"upgrade to {self.to} completed", False, f"every component on {self.to}",
                                   f"step '{self.failed_step}' never became ready; rolled back to revision "
                                   f"{ctx.revision} after {ctx.timings.get('rollback', 0):.1f}s",
                                   self.failure_reasons[:3]))
            found.append(Assertion(f"rollback restored {self.from_tag}", not back and bool(tags),
                                   f"every pod back on {self.from_tag}",
                                   f"{len(tags) - len(back)}/{len(tags)} pods on {self.from_tag}", back[:5]))
        else:
            found.append(Assertion(f"every pod on {self.to}", not wrong and bool(tags), f"image tag {self.to}",
                                   f"{len(tags) - len(wrong)}/{len(tags)} pods on {self.to}", wrong[:5]))
        return found
