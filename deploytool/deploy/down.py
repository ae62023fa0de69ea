"""`down`: uninstall the release; delete the namespace, or keep it for its PVCs.

The same shape as `up`: connect, read once what the steps decide on (the release, the namespace
and its PVCs), then steps over a context that is complete when built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubernetes.client.exceptions import ApiException

from deploytool.core.config import Target
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.core.steps import Run, Step, run_steps
from deploytool.core.wait import wait_until
from deploytool.deploy.release import ReleaseState, read_state


@dataclass(frozen=True)
class DownState:
    release: ReleaseState
    namespace_exists: bool
    pvcs: int  # PersistentVolumeClaims in the namespace (the release's data)


@dataclass
class DownOutcome:
    changed: bool = False


@dataclass(frozen=True)
class DownContext:
    target: Target
    kube: Kube
    helm: Helm
    state: DownState
    delete_data: bool = False
    timeout_s: int = 300
    outcome: DownOutcome = field(default_factory=DownOutcome)


def _namespace_exists(kube: Kube, ns: str) -> bool:
    try:
        kube.core.read_namespace(ns)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def observe(kube: Kube, helm: Helm, target: Target) -> DownState:
    exists = _namespace_exists(kube, target.namespace)
    pvcs = len(kube.core.list_namespaced_persistent_volume_claim(target.namespace).items) if exists else 0
    return DownState(read_state(helm, target.release, target.namespace), exists, pvcs)


def _uninstall(ctx: DownContext) -> str:
    if not ctx.state.release.installed:
        return f"release {ctx.target.release} not installed"
    ctx.helm.uninstall(ctx.target.release, ctx.target.namespace, ctx.timeout_s)
    ctx.outcome.changed = True
    return f"uninstalled {ctx.target.release}"


def _namespace(ctx: DownContext) -> str:
    ns, pvcs = ctx.target.namespace, ctx.state.pvcs
    if not ctx.state.namespace_exists:
        return f"{ns} absent"
    if pvcs and not ctx.delete_data:
        return (f"{ns} kept: it holds {pvcs} PVC(s) and the credentials Secret "
                f"(--delete-data deletes them with the namespace)")
    ctx.kube.core.delete_namespace(ns)
    ctx.outcome.changed = True
    try:
        wait_until(lambda: not _namespace_exists(ctx.kube, ns), ctx.timeout_s, 1, f"{ns} to go", retry=())
    except TimeoutError:
        return f"{ns} is terminating (still there after {ctx.timeout_s}s)"
    return f"deleted {ns}" + (f" with {pvcs} PVC(s)" if pvcs else "")


def down(ctx: DownContext, quiet: bool = False) -> Run:
    return run_steps(ctx, [Step("helm uninstall", _uninstall), Step("namespace", _namespace)], quiet=quiet)
