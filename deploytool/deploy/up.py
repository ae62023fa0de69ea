"""`up`: plan, then connect, then steps over a context that is complete when built.

1. Plan (up_plan.py, pure): render + validate, the credentials the user gave, whether the cluster
   exists -- and so whether it must be created, and how big. Bad input stops here.
2. Connect: create the cluster if the plan says so, connect, and read once what the rest decides
   on (cluster_state.py): nodes and their room, StorageClasses, the namespace, the credentials
   Secret, the release history.
3. Decide (pure, still nothing applied): pre-flight over that state, the credentials to write.
4. Act: namespace, Secret, helm, restart on new credentials, wait, smoke, HPA metrics, verify.

Nothing is applied on exit 2 because every refusal happens in 1-3, before the first step of 4.
An interrupted helm step (Ctrl-C) leaves no release pending: the step settles it before the
interrupt propagates, and the next `up` settles any it finds (release.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.base import ClusterSpec, Connection
from deploytool.core import paths, quantity, yamlio
from deploytool.core.errors import CheckFailed, CommandFailed, PreflightFailed
from deploytool.core.hpa import current_utilization
from deploytool.core.labels import ENV, MANAGED_BY, MANAGER, release_selector
from deploytool.core.steps import Run, Step, run_step, run_steps
from deploytool.core.wait import wait_until
from deploytool.deploy import credentials, preflight
from deploytool.deploy.cluster_select import provider_of
from deploytool.deploy.cluster_state import ClusterState, observe
from deploytool.deploy.drift import find_drift, restore_hpa_range
from deploytool.deploy.release import read_state, settle
from deploytool.deploy.smoke import SmokeResult, run_smoke
from deploytool.deploy.up_plan import HPA_METRICS, SMOKE, VERIFY, UpPlan, UpRequest, plan_up
from deploytool.deploy.workloads import wait_available
from deploytool.render import manifests


@dataclass(frozen=True)
class Preflight:
    summary: str
    warnings: list[str]
    data: dict[str, Any]


@dataclass
class UpOutcome:
    """What `up` did (filled in as the steps run; the JSON output and the final line read it)."""

    changed: bool = False
    revision: int = 0
    preflight: dict[str, Any] = field(default_factory=dict)
    smoke: SmokeResult | None = None  # None: the smoke did not run
    verify: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class UpContext:
    """Everything the acting steps need, complete before the first of them runs."""

    plan: UpPlan
    cluster: Connection
    state: ClusterState
    creds: credentials.Credentials
    outcome: UpOutcome

    @property
    def namespace(self) -> str:
        return self.plan.target.namespace

    @property
    def rotates_credentials(self) -> bool:
        """The Secret exists and gets another pair: the pods must restart to read it."""
        return bool(self.state.secret) and credentials.differs(self.creds, self.state.secret)


# -- 1. plan ----------------------------------------------------------------------------------

def make_plan(request: UpRequest) -> UpPlan:
    provider = provider_of(request.choice)
    rendered = manifests.render(request.layers, request.target)  # raises ToolMissing / ValidationFailed
    given = credentials.explicit(request.target.env, request.credentials_file)
    return plan_up(request, rendered, given, provider.exists(request.choice.name), provider.info.manages_lifecycle)


# -- 2. connect -------------------------------------------------------------------------------

def connect(plan: UpPlan) -> tuple[tuple[Connection, ClusterState], str]:
    """Create the cluster if planned, connect to it, and read its state once. Returns both and a
    status detail."""
    choice = plan.request.choice
    provider = provider_of(choice)
    if plan.create:
        new = plan.create
        spec = ClusterSpec(new.nodes, new.node_cpu, new.node_memory, real_nodes=new.real_nodes)
        conn = provider.connect_to(provider.create(choice.name, spec))
        detail = f"{conn.describe()} created with {new.describe()} ({new.reason})"
    else:
        conn = provider.connect_to(provider.ref(choice.name))
        detail = f"{conn.describe()} exists"
    state = observe(conn.kube, conn.helm, plan.target)
    if not plan.create:
        detail += f" ({state.nodes} nodes)"
    return (conn, state), detail


# -- 3. decide --------------------------------------------------------------------------------

def check_preflight(plan: UpPlan, state: ClusterState) -> Preflight:
    """Will the env fit the cluster as it is? PreflightFailed (nothing applied) if not. Pure."""
    objects = plan.rendered.objects
    rooms = copy.deepcopy(list(state.rooms))  # the simulation consumes room
    fit = preflight.simulate(preflight.demands_from_objects(objects), rooms)
    problems = fit.problems + preflight.storage_problems(objects, list(state.storage_classes))
    warnings = preflight.rollout_warnings(objects, list(state.rooms))
    summary = (f"needs {quantity.format_cpu(fit.need_cpu)} CPU/{quantity.format_bytes(fit.need_mem)}, "
               f"{len(rooms)} nodes have {quantity.format_cpu(fit.free_cpu)} CPU/"
               f"{quantity.format_bytes(max(fit.free_mem, Decimal(0)))} free")
    if problems:
        raise PreflightFailed(f"the cluster cannot hold env '{plan.target.env}' ({summary}); "
                              f"{len(problems)} problem(s); nothing applied", problems)
    data = {"nodes": len(rooms), "need_cpu": str(fit.need_cpu), "need_memory": str(fit.need_mem),
            "free_cpu": str(fit.free_cpu), "free_memory": str(fit.free_mem), "problems": problems,
            "warnings": warnings}
    return Preflight(summary, warnings, data)


# -- 4. act -----------------------------------------------------------------------------------

def _namespace(ctx: UpContext) -> str:
    if ctx.state.namespace_exists:
        return f"{ctx.namespace} exists"
    ctx.cluster.kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=ctx.namespace, labels={MANAGED_BY: MANAGER, ENV: ctx.plan.target.env})))
    ctx.outcome.changed = True
    return f"created {ctx.namespace}"


def _secret(ctx: UpContext) -> str:
    target = ctx.plan.target
    detail = credentials.apply(ctx.cluster.kube, target.namespace, target.secret_name, target.release,
                               ctx.creds, ctx.state.secret)
    ctx.outcome.changed = ctx.outcome.changed or "unchanged" not in detail
    return detail


def _roll_for_credentials(ctx: UpContext) -> str:
    """Pods read the Secret at start: after a rotation every workload restarts (as kubectl rollout
    restart does), so none keeps the old pair."""
    kube, ns = ctx.cluster.kube, ctx.namespace
    stamp = {"spec": {"template": {"metadata": {"annotations": {
        "deploytool/credentials-rotated-at": datetime.now(UTC).isoformat(timespec="seconds")}}}}}
    selector = release_selector(ctx.plan.target.release)
    names = []
    for dep in kube.apps.list_namespaced_deployment(ns, label_selector=selector).items:
        kube.apps.patch_namespaced_deployment(dep.metadata.name, ns, stamp)
        names.append(dep.metadata.name)
    for sts in kube.apps.list_namespaced_stateful_set(ns, label_selector=selector).items:
        kube.apps.patch_namespaced_stateful_set(sts.metadata.name, ns, stamp)
        names.append(sts.metadata.name)
    return f"restarted {len(names)} workloads for the new credentials"


def _normalized(text: str) -> list[str]:
    return sorted(yamlio.dump(d, sort_keys=True) for d in yamlio.load_all(text) if d)


def helm_reason(ctx: UpContext) -> str:
    """Why helm must run ("" if the release is deployed, equal to the render, and not drifted)."""
    release, target, helm = ctx.state.release, ctx.plan.target, ctx.cluster.helm
    if not release.installed:
        return "install"
    if not release.deployed:
        return f"last revision is {release.status}"
    deployed = helm.get_manifest(target.release, target.namespace)
    if _normalized(deployed) != sorted(yamlio.dump(o, sort_keys=True) for o in ctx.plan.rendered.objects):
        return "upgrade"
    drift = find_drift(ctx.cluster.kube, target.namespace, ctx.plan.rendered.objects)
    if drift:
        return f"repair drift: {'; '.join(drift[:3])}" + (f" (+{len(drift) - 3})" if len(drift) > 3 else "")
    return ""


def _helm(ctx: UpContext) -> str:
    target, helm, release = ctx.plan.target, ctx.cluster.helm, ctx.state.release
    reason = helm_reason(ctx)
    if not reason:
        ctx.outcome.revision = release.revision
        return f"release {target.release} unchanged (revision {release.revision})"
    settled = settle(helm, target.release, target.namespace, release, wait=True)  # left by an interrupted run
    reason += f"; {settled}" if settled else ""
    if release.installed:  # an HPA target scaled outside its range by hand: helm does not own that count
        restored = restore_hpa_range(ctx.cluster.kube, target.namespace, ctx.plan.rendered.objects)
        reason += f"; replicas back in HPA range: {', '.join(restored)}" if restored else ""
    try:
        helm.upgrade_install(target.release, paths.chart_dir(), target.namespace, ctx.plan.rendered.values,
                             timeout_s=ctx.plan.request.timeout_s)
    except BaseException:  # Ctrl-C included: never leave the release pending for the next run
        settle(helm, target.release, target.namespace, read_state(helm, target.release, target.namespace),
               wait=False)
        raise
    ctx.outcome.changed = True
    ctx.outcome.revision = read_state(helm, target.release, target.namespace).revision
    return f"release {target.release} revision {ctx.outcome.revision} ({reason})"


def _provider_prepares(ctx: UpContext) -> str:
    """What the provider does before helm (local real nodes: the images built here imported into
    every node, the stand-in proxies' shared engine)."""
    assert ctx.cluster.prepare is not None
    return ctx.cluster.prepare(ctx.namespace, ctx.plan.rendered.values)


def _available(ctx: UpContext) -> str:
    ready = wait_available(ctx.cluster.kube, ctx.namespace, release_selector(ctx.plan.target.release),
                           timeout_s=ctx.plan.request.timeout_s, minimums=ctx.plan.hpa_minimums)
    return f"{len(ready)} workloads available"


def _smoke(ctx: UpContext) -> str:
    smoke = wait_until(lambda: run_smoke(ctx.cluster.kube, ctx.namespace, ctx.plan.target.release,
                                         ctx.plan.endpoint),
                       60, 3, "the pymilvus smoke", error=CheckFailed, retry=(CheckFailed, CommandFailed, OSError,
                                                                                 ApiException))
    ctx.outcome.smoke = smoke
    return f"{smoke.inserted} vectors via {smoke.pod}, top hit is the query itself (server {smoke.server_version})"


def _hpa_metrics(ctx: UpContext) -> str:
    """HPAs need a metrics-server scrape and an HPA sync before they report usage (~1 minute)."""
    autoscaling, names = ctx.cluster.kube.autoscaling, ctx.plan.hpas

    def missing() -> list[str]:
        return [n for n in names if not current_utilization(
            autoscaling.read_namespaced_horizontal_pod_autoscaler(n, ctx.namespace))]

    wait_until(lambda: not missing(), max(180, ctx.plan.request.timeout_s // 2), 5,
               "HPA metrics (is metrics-server answering?)", pending=lambda: "no metrics yet: " + ", ".join(missing()),
               error=CheckFailed, retry=())
    return f"{len(names)} HPA(s) report CPU utilization"


def _verify(ctx: UpContext) -> str:
    from deploytool.deploy.verify import FAIL, PASS, SKIP, WARN
    from deploytool.deploy.verify_run import verify

    skip = ["milvus"] if ctx.outcome.smoke else []  # the smoke step just proved Milvus answers
    results = verify(ctx.cluster.kube, ctx.cluster.helm, ctx.plan.request.layers,
                     default_node_kind=ctx.cluster.info.default_node_kind, skip=skip)
    ctx.outcome.verify = results
    failed = [r for r in results if r.status == FAIL]
    if failed:
        raise CheckFailed("verify failed: " + "; ".join(f"{r.name}: {r.evidence[0] if r.evidence else ''}"
                                                        for r in failed) + " (details: deploytool verify)")
    warned = [r.name for r in results if r.status == WARN]
    skipped = [r.name for r in results if r.status == SKIP]
    passed = sum(r.status == PASS for r in results)
    return (f"{passed} checks passed" + (f", warnings: {', '.join(warned)}" if warned else "")
            + (f", nothing to check: {', '.join(skipped)}" if skipped else ""))


def acting_steps() -> list[Step[UpContext]]:
    return [
        Step("namespace", _namespace),
        Step("credentials Secret", _secret),
        Step("provider prerequisites", _provider_prepares, applies=lambda ctx: ctx.cluster.prepare is not None),
        Step("helm upgrade --install", _helm),
        Step("restart for new credentials", _roll_for_credentials, applies=lambda ctx: ctx.rotates_credentials),
        Step("workloads available", _available),
        Step(SMOKE, _smoke, applies=lambda ctx: SMOKE in ctx.plan.checks),
        Step(HPA_METRICS, _hpa_metrics, applies=lambda ctx: HPA_METRICS in ctx.plan.checks),
        Step(VERIFY, _verify, applies=lambda ctx: VERIFY in ctx.plan.checks),
    ]


def up(request: UpRequest, record: Run | None = None, quiet: bool = False) -> tuple[UpPlan, UpOutcome]:
    record = record if record is not None else Run()
    plan = run_step(record, "plan", lambda: _plan_line(make_plan(request)), quiet)
    cluster, state = run_step(record, "cluster", lambda: connect(plan), quiet)
    checked = run_step(record, "pre-flight", lambda: _preflight_line(check_preflight(plan, state)), quiet)
    creds = run_step(record, "credentials", lambda: _credentials_line(plan, state), quiet)
    ctx = UpContext(plan, cluster, state, creds, UpOutcome(preflight=checked.data))
    run_steps(ctx, acting_steps(), record, quiet)
    return plan, ctx.outcome


def _plan_line(plan: UpPlan) -> tuple[UpPlan, str]:
    return plan, plan.describe()


def _preflight_line(result: Preflight) -> tuple[Preflight, str]:
    return result, result.summary + (f"; warning: {' | '.join(result.warnings)}" if result.warnings else "")


def _credentials_line(plan: UpPlan, state: ClusterState) -> tuple[credentials.Credentials, str]:
    creds = credentials.choose(plan.target.env, plan.given_credentials, state.secret)
    kept = not credentials.differs(creds, state.secret)
    return creds, "existing Secret kept" if kept else f"from {creds.source}"

