"""What `cluster status` and `cluster delete` report, the same shape for every provider."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeStatus:
    name: str
    ready: bool
    kind: str  # base.REAL or base.SIMULATED: whether the pods on it really run
    zone: str = ""
    cpu: str | None = None  # allocatable
    memory: str | None = None
    taints: tuple[str, ...] = ()  # "key:effect"


@dataclass(frozen=True)
class ProcessStatus:
    pid: int | None
    alive: bool


@dataclass(frozen=True)
class ApiServerStatus:
    reachable: bool
    url: str = ""
    version: str = ""
    error: str = ""


@dataclass
class ClusterStatus:
    provider: str
    name: str
    exists: bool
    ok: bool = False
    error: str = ""  # why the cluster cannot be looked at (it is absent, the provider cannot run here, ...)
    kubeconfig: str | None = None
    context: str | None = None
    api_server: ApiServerStatus | None = None
    nodes: list[NodeStatus] = field(default_factory=list)
    processes: dict[str, ProcessStatus] = field(default_factory=dict)  # processes the provider runs
    ports: dict[str, int | None] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific facts (milvus-lite, containers, ...)

    @property
    def nodes_ready(self) -> int:
        return sum(1 for n in self.nodes if n.ready)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"provider": self.provider, "name": self.name, "exists": self.exists, "ok": self.ok}
        if self.error:
            data["error"] = self.error
        if not self.exists:
            return data
        data.update(kubeconfig=self.kubeconfig, context=self.context,
                    api_server=asdict(self.api_server) if self.api_server else None,
                    nodes={"total": len(self.nodes), "ready": self.nodes_ready,
                           "items": [{**asdict(n), "taints": list(n.taints)} for n in self.nodes]})
        if self.processes:
            data["processes"] = {name: asdict(p) for name, p in self.processes.items()}
        if self.ports:
            data["ports"] = dict(self.ports)
        data.update(self.extra)
        return data


@dataclass(frozen=True)
class DeleteResult:
    name: str
    existed: bool
    deleted: bool
    seconds: float
    leftover_pids: tuple[int, ...] = ()  # processes of the cluster that would not stop

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "leftover_pids": list(self.leftover_pids)}
