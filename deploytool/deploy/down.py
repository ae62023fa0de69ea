"""`down`: uninstall the release; delete the namespace, or keep it for its PVCs."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from deploytool.core.config import Target
from deploytool.core.helm import Helm
from deploytool.core.kube import Kube
from deploytool.core.steps import Run, Step, run_steps
from deploytool.core.wait import wait_until


@dataclass
class DownContext:
    target: Target
    kube: Kube
    helm: Helm
    delete_data: bool = False
    timeout_s: int = 300
    changed: bool = False


def _uninstall(ctx: DownContext) -> str:
    if not ctx.helm.history(ctx.target.release, ctx.target.namespace):
        return f"release {ctx.target.release} not installed"
    ctx.helm.uninstall(ctx.target.release, ctx.target.namespace, ctx.timeout_s)
    ctx.changed = True
    return f"uninstalled {ctx.target.release}"


def _namespace(ctx: DownContext) -> str:
    ns = ctx.target.namespace
    try:
        ctx.kube.core.read_namespace(ns)
    except ApiException as exc:
        if exc.status == 404:
            return f"{ns} absent"
        raise
    pvcs = ctx.kube.core.list_namespaced_persistent_volume_claim(ns).items
    if pvcs and not ctx.delete_data:
        return (f"{ns} kept: it holds {len(pvcs)} PVC(s) and the credentials Secret "
                f"(--delete-data deletes them with the namespace)")
    ctx.kube.core.delete_namespace(ns)
    ctx.changed = True

    def gone() -> bool:
        try:
            ctx.kube.core.read_namespace(ns)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    try:
        wait_until(gone, ctx.timeout_s, 1, f"{ns} to go", retry=())
    except TimeoutError:
        return f"{ns} is terminating (still there after {ctx.timeout_s}s)"
    return f"deleted {ns}" + (f" with {len(pvcs)} PVC(s)" if pvcs else "")


def down(ctx: DownContext, quiet: bool = False) -> Run:
    return run_steps(ctx, [Step("helm uninstall", _uninstall), Step("namespace", _namespace)], quiet=quiet)
