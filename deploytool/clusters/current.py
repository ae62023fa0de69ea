"""The `current` provider: whatever cluster your kubeconfig points at, used as it is.

Nothing is created or deleted. The kubeconfig is $KUBECONFIG or ~/.kube/config; the cluster
"name" is a context in it ("" = the current context).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from kubernetes import client, config

from deploytool.clusters.base import REAL, ClusterProvider, ClusterRef, ClusterSpec, ProviderInfo, node_kind
from deploytool.clusters.faults import Faults, NoFaults
from deploytool.clusters.status import ApiServerStatus, ClusterStatus, DeleteResult, NodeStatus
from deploytool.core import output
from deploytool.core.conditions import is_ready
from deploytool.core.errors import BadInput, ClusterUnreachable
from deploytool.core.labels import ZONE

if TYPE_CHECKING:
    from deploytool.core.kube import Kube


def _kubeconfig_files() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


class CurrentProvider(ClusterProvider):
    info = ProviderInfo("current", manages_lifecycle=False, default_node_kind=REAL)

    def faults(self, kube: Kube) -> Faults:
        return NoFaults(self.name)

    def _contexts(self) -> tuple[list[str], str | None]:
        try:
            contexts, active = config.list_kube_config_contexts()
        except (config.ConfigException, FileNotFoundError) as exc:
            files = ", ".join(map(str, _kubeconfig_files()))
            raise ClusterUnreachable(f"no usable kubeconfig ({files}): {exc}") from None
        return [c["name"] for c in contexts], (active or {}).get("name")

    def available(self) -> tuple[bool, str]:
        files = [p for p in _kubeconfig_files() if p.is_file()]
        if not files:
            return False, f"no kubeconfig at {', '.join(map(str, _kubeconfig_files()))}"
        return True, ""

    def exists(self, name: str) -> bool:
        try:
            names, active = self._contexts()
        except ClusterUnreachable:
            return False
        return (name or active) in names

    def ref(self, name: str) -> ClusterRef:
        names, active = self._contexts()
        context = name or active
        if not context or context not in names:
            raise ClusterUnreachable(f"kubeconfig has no context {name!r} (contexts: {', '.join(names) or 'none'})")
        return ClusterRef("current", context, None, context)

    def _ping(self, ref: ClusterRef) -> str:
        try:
            api = ref.api_client()
            return str(client.VersionApi(api).get_code(_request_timeout=10).git_version)
        except Exception as exc:  # noqa: BLE001 - any failure means unreachable
            raise ClusterUnreachable(f"context {ref.context!r} is not reachable: "
                                     f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None

    def create(self, name: str, spec: ClusterSpec | None = None, progress: bool = True,
               retain: bool = False) -> ClusterRef:
        """Nothing to create: check that the context exists and answers."""
        ref = self.ref(name)
        version = self._ping(ref)
        if progress:
            output.status(output.OK, f"using kubeconfig context '{ref.context}' as it is", None, f"server {version}")
        return ref

    def delete(self, name: str, progress: bool = True) -> DeleteResult:
        raise BadInput("the 'current' provider does not delete clusters; it only uses your kubeconfig")

    def status(self, name: str) -> ClusterStatus:
        try:
            ref = self.ref(name)
        except ClusterUnreachable as exc:
            return ClusterStatus("current", name, False, error=str(exc))
        info = ClusterStatus("current", ref.context or name, True, context=ref.context,
                             kubeconfig=os.pathsep.join(map(str, _kubeconfig_files())))
        try:
            version = self._ping(ref)
            for node in client.CoreV1Api(ref.api_client()).list_node(_request_timeout=10).items:
                alloc = node.status.allocatable or {}
                info.nodes.append(NodeStatus(node.metadata.name, is_ready(node), node_kind(node.metadata.labels, REAL),
                                             (node.metadata.labels or {}).get(ZONE, "-"),
                                             alloc.get("cpu"), alloc.get("memory")))
            info.api_server = ApiServerStatus(True, version=version)
        except ClusterUnreachable as exc:
            info.api_server = ApiServerStatus(False, error=str(exc))
        info.ok = info.api_server.reachable and info.nodes_ready > 0
        return info
