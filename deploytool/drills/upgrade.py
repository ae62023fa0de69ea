"""drill upgrade: `deploytool upgrade`'s engine (deploytool.deploy.upgrade) run beside the recorder
and the probe, judged on the recording and the data-integrity ledger.

The plan is the same as the command's (refused plans exit 2 before anything changes); each step is
one helm revision, fully rolled before the next; a stalled step is rolled back to the starting
revision. `--order helm` is one plain `helm upgrade` of every component at once, for comparison.
"""

from __future__ import annotations

from deploytool.core.errors import BadInput, PreflightFailed
from deploytool.deploy.upgrade.apply import ApplyOptions, ApplyResult, Upgrade, plan_release
from deploytool.deploy.upgrade.ledger import Ledger
from deploytool.deploy.upgrade.plan import Plan, Request
from deploytool.drills import faults
from deploytool.drills.checks import final_pods, floor_assertion
from deploytool.drills.model import Assertion, PodSample
from deploytool.drills.runner import Drill, DrillContext


class UpgradeDrill(Drill):
    name = "upgrade"

    def __init__(self, to: str, order: str = "dependency", allow_downgrade: bool = False,
                 backup_done: bool = False) -> None:
        self.to, self.order, self.allow_downgrade, self.backup_done = to, order, allow_downgrade, backup_done
        self.from_tag = ""
        self.components: list[str] = []
        self.upgrade_plan: Plan | None = None
        self.result: ApplyResult | None = None
        self.ledger: Ledger | None = None
        self.simulate_broken = False
        self.policy_installed = False

    def plan(self, ctx: DrillContext) -> None:
        plan, facts = plan_release(ctx.kube, ctx.helm, ctx.target, ctx.revision,
                                   Request(ctx.target.env, self.to, self.allow_downgrade, self.backup_done, self.order))
        if not plan.allowed:
            raise PreflightFailed(f"upgrade to {self.to} refused: {len(plan.problems)} problem(s); nothing was changed",
                                  [str(p) for p in plan.problems])
        if not plan.steps:
            raise BadInput(f"release {ctx.target.release} already runs image tag {self.to}; nothing to upgrade")
        self.upgrade_plan = plan
        self.from_tag = ", ".join(sorted(set(plan.from_tags.values())))
        self.components = list(plan.from_tags)
        self.ledger = Ledger(ctx.kube, ctx.target.namespace, ctx.target.release, ctx.endpoint)
        simulated = ctx.faults.simulates_image_pulls and release_pods_simulated(
            _release_pod_nodes(ctx), ctx.conn.simulated_nodes())
        self.simulate_broken = simulated and self.to.endswith(faults.BROKEN_SUFFIX)
        ctx.parameters["pods"] = "simulated" if simulated else "real"
        ctx.parameters.update(to=self.to, from_tag=self.from_tag, order=plan.request.order,
                              components=self.components, steps=[s.label for s in plan.steps], plan=plan.as_dict())
        ctx.notes.append(f"upgrade plan: {plan.reason}; " + "; ".join(
            f"{s.label}: {s.strategy}, downtime {s.downtime}" for s in plan.steps))
        ctx.notes.append(f"one `helm upgrade` per step; rollback = `helm rollback {ctx.revision}`")
        if self.simulate_broken:
            ctx.notes.append("simulated: kwok marks every pod Ready, so a ValidatingAdmissionPolicy refuses pods "
                             f"whose image tag ends in {faults.BROKEN_SUFFIX} (the new ReplicaSet never gets a pod, "
                             "as with a tag that cannot be pulled)")
        elif not simulated:
            ctx.notes.append("the release's pods run on real nodes: nothing is simulated; the target tag's images "
                             "are what the cluster's provider has (its prerequisites step says which it built), "
                             "and a tag that cannot be pulled fails on the kubelet by itself")

    def run(self, ctx: DrillContext) -> None:
        assert self.upgrade_plan is not None and self.ledger is not None
        if self.simulate_broken:
            ctx.phase("fault installed", ctx.faults.make_unpullable(ctx.target.namespace, faults.BROKEN_SUFFIX))
            self.policy_installed = True
        engine = Upgrade(ctx.kube, ctx.helm, ctx.target, self.upgrade_plan, ctx.values, ctx.revision,
                         ApplyOptions(timeout_s=ctx.options.timeout_s), ctx.phase, self.ledger,
                         prepare=ctx.conn.prepare)
        try:
            self.result = result = engine.run()
        finally:
            ctx.parameters["ledger"] = [e.as_dict() for e in self.ledger.entries]
            if engine.result.prepared:
                ctx.parameters["prepared"] = engine.result.prepared
                ctx.timings["provider prerequisites"] = engine.result.prepare_seconds
        for step in result.steps:
            ctx.timings[f"step {step.label}" + ("" if step.ok else " (failed)")] = step.seconds
        if result.detect_seconds is not None:
            ctx.timings["stall detected after (cause visible -> decision)"] = result.detect_seconds
        if result.rolled_back:
            ctx.timings["rollback"] = result.rollback_seconds
        else:
            ctx.timings["upgrade total"] = result.seconds
            ctx.phase("upgrade complete", f"all pods on {self.to}")

    def restore(self, ctx: DrillContext) -> None:
        if self.policy_installed:
            ctx.faults.restore_pullable()
            ctx.phase("fault removed")
        if self.ledger is not None and self.ledger.entries:
            ctx.notes.append(self.ledger.drop_canary())
        history = ctx.helm.history(ctx.target.release, ctx.target.namespace)
        made = [h for h in history if int(h["revision"]) > ctx.revision]
        ctx.parameters["revisions"] = [{"revision": h["revision"], "status": h.get("status"),
                                        "description": h.get("description")} for h in made]

    # -- verdict -----------------------------------------------------------------------------
    def _tags(self, ctx: DrillContext) -> tuple[dict[str, str], list[str]]:
        return serving_tags(final_pods(ctx.rec), self.components)

    def assertions(self, ctx: DrillContext) -> list[Assertion]:
        result = self.result
        assert result is not None and self.ledger is not None
        start = next((p.t for p in ctx.rec.phases if p.name.startswith("upgrade ")), None)
        found = [floor_assertion(ctx.rec, start=start)]
        tags, leaving = self._tags(ctx)
        wrong = sorted(f"{pod} on {tag}" for pod, tag in tags.items() if tag != self.to)
        left = [f"still terminating at the end, not counted: {', '.join(leaving[:5])}"] if leaving else []
        if result.rolled_back:
            back = sorted(f"{pod} on {tag}" for pod, tag in tags.items() if tag != self.from_tag)
            detect = "" if result.detect_seconds is None else f", stall seen for {result.detect_seconds:.1f}s"
            found.append(Assertion(f"upgrade to {self.to} completed", False, f"every component on {self.to}",
                                   f"step '{result.failed_step}' stalled{detect}; rolled back to revision "
                                   f"{result.start_revision} after {result.rollback_seconds:.1f}s",
                                   result.causes[:3]))
            found.append(Assertion(f"rollback restored {self.from_tag}", bool(result.rollback_ok) and not back
                                   and bool(tags), f"every pod back on {self.from_tag}",
                                   f"{len(tags) - len(back)}/{len(tags)} pods on {self.from_tag}", back[:5] + left))
        else:
            found.append(Assertion(f"every pod on {self.to}", not wrong and bool(tags), f"image tag {self.to}",
                                   f"{len(tags) - len(wrong)}/{len(tags)} pods on {self.to}", wrong[:5] + left))
        found += ledger_assertions(self.ledger)
        return found


def serving_tags(final: dict[str, PodSample], components: list[str]) -> tuple[dict[str, str], list[str]]:
    """The image tag of each pod of `components` still there at the end and not terminating, and the
    terminating ones ("<pod> on <tag>"): an old pod in its preStop sleep or graceful stop (30 s and
    more on real nodes) has left its Service and is on its way out, so it is not counted."""
    pods = {name: p for name, p in final.items() if p.component in components}
    leaving = sorted(f"{name} on {p.tag}" for name, p in pods.items() if p.terminating)
    return {name: p.tag for name, p in pods.items() if not p.terminating}, leaving


def release_pods_simulated(pod_nodes: set[str], simulated_nodes: set[str]) -> bool:
    """Whether the release's pods are simulated (no image is pulled): any of them bound to a simulated
    node. A release on real nodes only gets no simulated fault: a tag that cannot be pulled fails there
    by itself."""
    return bool(pod_nodes & simulated_nodes)


def _release_pod_nodes(ctx: DrillContext) -> set[str]:
    pods = ctx.kube.core.list_namespaced_pod(ctx.target.namespace, label_selector=ctx.selector).items
    return {str(p.spec.node_name) for p in pods if p.spec.node_name}


def ledger_assertions(ledger: Ledger) -> list[Assertion]:
    entries = ledger.entries
    evidence = [f"{e.label}: {e.canary_found}/{e.canary_total} canary vectors, {len(e.collections)} collection(s), "
                f"{sum(c.rows for c in e.collections)} rows" + (f" — {e.error}" if e.error else "") for e in entries]
    short = [e.label for e in entries if e.error or e.canary_found < e.canary_total]
    lost = [f"{e.label}: {p}" for e in entries for p in e.problems]
    total = entries[0].canary_total if entries else 0
    return [
        Assertion("every canary vector found after each step", bool(entries) and not short,
                  f"{total}/{total} found by exact search in every ledger entry",
                  f"{len(entries) - len(short)}/{len(entries)} entries complete" + (
                      f" (short: {', '.join(short)})" if short else ""), evidence),
        Assertion("no data lost", bool(entries) and not lost, "no collection, row, index or load state lost",
                  f"{len(lost)} loss(es) across {len(entries)} ledger entries", lost[:5]),
    ]
