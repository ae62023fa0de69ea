"""`up`: render, find or create the cluster, pre-flight, credentials, helm, wait, smoke.

Bad input (unknown env, invalid values, missing tool, unreachable cluster, too-small cluster,
missing credentials) raises before the first step that changes the cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.base import ClusterSpec, Connection
from deploytool.core import paths, quantity
from deploytool.core.conditions import is_ready
from deploytool.core.config import Target
from deploytool.core.errors import BadInput, CheckFailed, CommandFailed, PreflightFailed
from deploytool.core.helm import Helm
from deploytool.core.hpa import current_utilization
from deploytool.core.kube import Kube, release_selector
from deploytool.core.steps import Run, Step, run_steps
from deploytool.deploy import credentials, preflight
from deploytool.deploy.cluster_select import ClusterChoice, connect, provider_of
from deploytool.deploy.drift import find_drift, restore_hpa_range
from deploytool.deploy.smoke import SmokeResult, run_smoke
from deploytool.deploy.workloads import wait_available
from deploytool.render import manifests
from deploytool.render.components import endpoint_component
from deploytool.render.manifests import Rendered
from deploytool.render.values import Layers


@dataclass
class UpOptions:
    nodes: int = 3
    node_cpu: str = "16"
    node_memory: str = "64Gi"
    credentials_file: Path | None = None
    timeout_s: int = 600
    smoke: bool = True
    verify: bool = True
    real_nodes: int = 0


@dataclass
class UpContext:
    target: Target
    layers: Layers
    choice: ClusterChoice
    options: UpOptions
    rendered: Rendered | None = None
    conn: Connection | None = None
    kube: Kube | None = None
    helm: Helm | None = None
    given_creds: credentials.Credentials | None = None  # from --credentials-file or the environment
    creds: credentials.Credentials | None = None
    changed: bool = False
    revision: int | None = None
    smoke: SmokeResult | None = None
    preflight: dict[str, Any] = field(default_factory=dict)
    verify: list[Any] = field(default_factory=list)
    credentials_rotated: bool = False


def _render(ctx: UpContext) -> str:
    ctx.helm = Helm()  # raises ToolMissing before anything else happens
    ctx.rendered = manifests.render(ctx.layers, ctx.target, ctx.helm)
    # Credentials that must come from the user are checked before any cluster is created.
    ctx.given_creds = given = credentials.explicit(ctx.target.env, ctx.options.credentials_file)
    provider = provider_of(ctx.choice)
    if given is None and credentials.must_come_from_user(ctx.target.env) and (
            provider.info.manages_lifecycle and not provider.exists(ctx.choice.name)):
        raise BadInput(credentials.missing_message(ctx.target.env))
    return f"{len(ctx.rendered.objects)} objects"


def _cluster(ctx: UpContext) -> str:
    provider = provider_of(ctx.choice)
    detail = "exists"
    if provider.info.manages_lifecycle and not provider.exists(ctx.choice.name):
        opts = ctx.options
        provider.create(ctx.choice.name, ClusterSpec(opts.nodes, opts.node_cpu, opts.node_memory,
                                                     real_nodes=opts.real_nodes))
        detail = (f"created with {opts.nodes} nodes" if not opts.real_nodes
                  else f"created with {opts.real_nodes} real + {opts.nodes} simulated nodes")
    ctx.conn = connect(ctx.choice)
    ctx.kube, ctx.helm = ctx.conn.kube, ctx.conn.helm
    return f"{ctx.choice.describe()} {detail}"


def node_rooms(kube: Kube, namespace: str, release: str) -> list[preflight.NodeRoom]:
    """Each node's allocatable minus the requests of pods already on it (our release's excluded)."""
    rooms = {}
    for node in kube.core.list_node().items:
        ready = is_ready(node)
        alloc = node.status.allocatable or {}
        taints = [{"key": t.key, "value": t.value or "", "effect": t.effect} for t in node.spec.taints or []
                  if t.effect in ("NoSchedule", "NoExecute")]
        rooms[str(node.metadata.name)] = preflight.NodeRoom(
            str(node.metadata.name), dict(node.metadata.labels or {}), quantity.parse(alloc.get("cpu", "0")),
            quantity.parse(alloc.get("memory", "0")), ready and not node.spec.unschedulable, taints=taints)
    live = "status.phase!=Succeeded,status.phase!=Failed"
    for pod in kube.core.list_pod_for_all_namespaces(field_selector=live).items:
        labels = pod.metadata.labels or {}
        if pod.metadata.namespace == namespace and labels.get("app.kubernetes.io/instance") == release:
            continue  # our own pods are replaced by the new desired state
        room = rooms.get(pod.spec.node_name or "")
        if room is None:
            continue
        for c in pod.spec.containers:
            req = (c.resources.requests if c.resources else None) or {}
            room.cpu_free -= quantity.parse(req.get("cpu", "0"))
            room.mem_free -= quantity.parse(req.get("memory", "0"))
    return list(rooms.values())


def _preflight(ctx: UpContext) -> str:
    assert ctx.kube and ctx.rendered
    rooms = node_rooms(ctx.kube, ctx.target.namespace, ctx.target.release)
    fit = preflight.simulate(preflight.demands_from_objects(ctx.rendered.objects), rooms)
    classes = [{"name": sc.metadata.name, "default": (sc.metadata.annotations or {}).get(
        "storageclass.kubernetes.io/is-default-class") == "true"} for sc in ctx.kube.storage.list_storage_class().items]
    problems = fit.problems + preflight.storage_problems(ctx.rendered.objects, classes)
    warnings = preflight.rollout_warnings(ctx.rendered.objects, rooms)
    ctx.preflight = {"nodes": len(rooms), "need_cpu": str(fit.need_cpu), "need_memory": str(fit.need_mem),
                     "free_cpu": str(fit.free_cpu), "free_memory": str(fit.free_mem), "problems": problems,
                     "warnings": warnings}
    summary = (f"needs {quantity.format_cpu(fit.need_cpu)} CPU/{quantity.format_bytes(fit.need_mem)}, "
               f"{len(rooms)} nodes have {quantity.format_cpu(fit.free_cpu)} CPU/"
               f"{quantity.format_bytes(max(fit.free_mem, Decimal(0)))} free")
    if problems:
        raise PreflightFailed(f"the cluster cannot hold env '{ctx.target.env}' ({summary}); "
                              f"{len(problems)} problem(s); nothing applied", problems)
    if warnings:
        return f"{summary}; warning: " + " | ".join(warnings)
    return summary


def _namespace_exists(kube: Kube, name: str) -> bool:
    try:
        kube.core.read_namespace(name)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def _credentials(ctx: UpContext) -> str:
    assert ctx.kube
    existing = _namespace_exists(ctx.kube, ctx.target.namespace) and credentials.read_existing(
        ctx.kube, ctx.target.namespace, ctx.target.secret_name) is not None
    ctx.creds = credentials.resolve(ctx.target.env, ctx.given_creds, existing)
    return "existing Secret kept" if ctx.creds is None else f"from {ctx.creds.source}"


def _namespace(ctx: UpContext) -> str:
    assert ctx.kube
    if _namespace_exists(ctx.kube, ctx.target.namespace):
        return f"{ctx.target.namespace} exists"
    ctx.kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
        name=ctx.target.namespace, labels={"app.kubernetes.io/managed-by": "deploytool",
                                           "deploytool/env": ctx.target.env})))
    ctx.changed = True
    return f"created {ctx.target.namespace}"


def _secret(ctx: UpContext) -> str:
    assert ctx.kube
    if ctx.creds is None:
        return f"{ctx.target.secret_name} unchanged"
    detail = credentials.apply(ctx.kube, ctx.target.namespace, ctx.target.secret_name, ctx.target.release, ctx.creds)
    ctx.changed = ctx.changed or "unchanged" not in detail
    ctx.credentials_rotated = detail.startswith("updated")
    return detail


def _roll_for_credentials(ctx: UpContext) -> str:
    """Pods read the Secret at start: after a rotation every workload restarts (as kubectl rollout
    restart does), so none keeps the old pair."""
    assert ctx.kube
    stamp = {"spec": {"template": {"metadata": {"annotations": {
        "deploytool/credentials-rotated-at": datetime.now(UTC).isoformat(timespec="seconds")}}}}}
    selector = release_selector(ctx.target.release)
    names = []
    for dep in ctx.kube.apps.list_namespaced_deployment(ctx.target.namespace, label_selector=selector).items:
        ctx.kube.apps.patch_namespaced_deployment(dep.metadata.name, ctx.target.namespace, stamp)
        names.append(dep.metadata.name)
    for sts in ctx.kube.apps.list_namespaced_stateful_set(ctx.target.namespace, label_selector=selector).items:
        ctx.kube.apps.patch_namespaced_stateful_set(sts.metadata.name, ctx.target.namespace, stamp)
        names.append(sts.metadata.name)
    return f"restarted {len(names)} workloads for the new credentials"


def _normalized(text: str) -> list[str]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    return sorted(yaml.safe_dump(d, sort_keys=True) for d in docs)


def _helm(ctx: UpContext) -> str:
    assert ctx.helm and ctx.rendered and ctx.kube
    history = ctx.helm.history(ctx.target.release, ctx.target.namespace)
    reason = "install"
    if history and history[-1].get("status") == "deployed":
        deployed = ctx.helm.get_manifest(ctx.target.release, ctx.target.namespace)
        desired = yaml.safe_dump_all(ctx.rendered.objects, sort_keys=True)
        if _normalized(deployed) != _normalized(desired):
            reason = "upgrade"
        else:
            drift = find_drift(ctx.kube, ctx.target.namespace, ctx.rendered.objects)
            if not drift:
                ctx.revision = int(history[-1]["revision"])
                return f"release {ctx.target.release} unchanged (revision {ctx.revision})"
            reason = f"repair drift: {'; '.join(drift[:3])}" + (f" (+{len(drift) - 3})" if len(drift) > 3 else "")
    elif history:
        reason = f"last revision is {history[-1].get('status')}"
    if history:  # an HPA target scaled outside its range by hand: helm does not own that count
        restored = restore_hpa_range(ctx.kube, ctx.target.namespace, ctx.rendered.objects)
        reason += f"; replicas back in HPA range: {', '.join(restored)}" if restored else ""
    ctx.helm.upgrade_install(ctx.target.release, paths.chart_dir(), ctx.target.namespace, ctx.rendered.values,
                             timeout_s=ctx.options.timeout_s)
    ctx.changed = True
    history = ctx.helm.history(ctx.target.release, ctx.target.namespace)
    ctx.revision = int(history[-1]["revision"]) if history else None
    return f"release {ctx.target.release} revision {ctx.revision} ({reason})"


def _available(ctx: UpContext) -> str:
    assert ctx.kube and ctx.rendered
    minimums = {h["spec"]["scaleTargetRef"]["name"]: int(h["spec"]["minReplicas"])
                for h in ctx.rendered.by_kind("HorizontalPodAutoscaler")}
    ready = wait_available(ctx.kube, ctx.target.namespace, release_selector(ctx.target.release),
                           timeout_s=ctx.options.timeout_s, minimums=minimums)
    return f"{len(ready)} workloads available"


def _smoke(ctx: UpContext) -> str:
    assert ctx.kube and ctx.rendered
    component = endpoint_component(ctx.rendered.values)
    deadline = time.monotonic() + 60
    while True:
        try:
            ctx.smoke = run_smoke(ctx.kube, ctx.target.namespace, ctx.target.release, component)
            break
        except (CheckFailed, CommandFailed, OSError, ApiException) as exc:
            if time.monotonic() > deadline:
                raise CheckFailed(f"pymilvus smoke failed: {exc}") from exc
            time.sleep(3)
    return (f"{ctx.smoke.inserted} vectors via {ctx.smoke.pod}, top hit is the query itself "
            f"(server {ctx.smoke.server_version})")


def _hpa_metrics(ctx: UpContext) -> str:
    """HPAs need a metrics-server scrape and an HPA sync before they report usage (~1 minute)."""
    assert ctx.kube and ctx.rendered
    names = [o["metadata"]["name"] for o in ctx.rendered.by_kind("HorizontalPodAutoscaler")]
    deadline = time.monotonic() + max(180, ctx.options.timeout_s // 2)
    while True:
        missing = []
        for name in names:
            hpa = ctx.kube.autoscaling.read_namespaced_horizontal_pod_autoscaler(name, ctx.target.namespace)
            if not current_utilization(hpa):
                missing.append(name)
        if not missing:
            return f"{len(names)} HPA(s) report CPU utilization"
        if time.monotonic() > deadline:
            raise CheckFailed(f"HPA(s) {', '.join(missing)} have no metrics yet: is metrics-server answering?")
        time.sleep(5)


def _verify(ctx: UpContext) -> str:
    assert ctx.kube and ctx.helm
    from deploytool.deploy.verify import FAIL, WARN
    from deploytool.deploy.verify_run import verify

    skip = ["milvus"] if ctx.smoke else []  # the smoke step just proved Milvus answers
    assert ctx.conn
    ctx.verify = verify(ctx.kube, ctx.helm, ctx.layers, simulated_pods=bool(ctx.conn.simulated_nodes()), skip=skip)
    failed = [r for r in ctx.verify if r.status == FAIL]
    if failed:
        raise CheckFailed("verify failed: " + "; ".join(f"{r.name}: {r.evidence[0] if r.evidence else ''}"
                                                        for r in failed) + " (details: deploytool verify)")
    warned = [r.name for r in ctx.verify if r.status == WARN]
    return f"{len(ctx.verify)} checks passed" + (f", warnings: {', '.join(warned)}" if warned else "")


def steps() -> list[Step[UpContext]]:
    return [
        Step("render and validate", _render),
        Step("cluster", _cluster),
        Step("pre-flight", _preflight),
        Step("credentials", _credentials),
        Step("namespace", _namespace),
        Step("credentials Secret", _secret),
        Step("helm upgrade --install", _helm),
        Step("restart for new credentials", _roll_for_credentials, applies=lambda ctx: ctx.credentials_rotated),
        Step("workloads available", _available),
        Step("pymilvus smoke", _smoke, applies=lambda ctx: ctx.options.smoke),
        Step("autoscaler metrics", _hpa_metrics,
             applies=lambda ctx: ctx.options.verify and bool(ctx.rendered and ctx.rendered.by_kind(
                 "HorizontalPodAutoscaler"))),
        Step("verify", _verify, applies=lambda ctx: ctx.options.verify),
    ]


def up(ctx: UpContext, record: Run | None = None, quiet: bool = False) -> Run:
    return run_steps(ctx, steps(), record, quiet)
