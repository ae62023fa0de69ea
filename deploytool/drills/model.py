"""What a drill records: plain dataclasses, every time in seconds since the drill started.

The recorder appends WorkloadSample / PodSample / EndpointSample / HpaSample / NodeSample, the
probe appends ProbeSample, the drill appends Phase markers; the checks turn a Recording into
Assertions; the report writes all of it (data.json) and draws it (timeline.png).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class WorkloadInfo:
    """What a workload promises, read once from its spec at the start of the drill."""

    component: str
    kind: str  # Deployment | StatefulSet
    name: str
    max_unavailable: int  # update budget in pods (Deployment strategy, StatefulSet default 1; Recreate: all)
    max_surge: int
    anti_affinity_key: str | None  # topologyKey of required pod anti-affinity, if any
    pdb_max_unavailable: int | None = None
    strategy: str = "RollingUpdate"  # Deployment: RollingUpdate | Recreate (stops every pod before starting new ones)
    preferred_anti_affinity_key: str | None = None  # topologyKey of preferred (soft) pod anti-affinity, if any

    @property
    def recreates(self) -> bool:
        return self.kind == "Deployment" and self.strategy == "Recreate"

    def floor(self, desired: int) -> int:
        """The fewest available replicas its update promises: 0 for Recreate, else desired - maxUnavailable."""
        return 0 if self.recreates else desired - self.max_unavailable


@dataclass
class WorkloadSample:
    t: float
    component: str
    desired: int
    ready: int
    available: int
    updated: int
    current: int = 0  # pods the controller owns (status.replicas): more than desired while surging


@dataclass
class PodSample:
    t: float
    pod: str
    component: str
    node: str  # "" while unscheduled
    phase: str
    ready: bool
    terminating: bool
    deleted: bool
    tag: str  # image tag of the first container


@dataclass
class EndpointSample:
    t: float
    service: str
    ready: int  # ready endpoints across the Service's EndpointSlices


@dataclass
class HpaSample:
    t: float
    name: str
    current: int
    desired: int
    cpu_percent: int | None


@dataclass
class NodeSample:
    t: float
    node: str
    ready: bool
    unschedulable: bool
    taints: list[str] = field(default_factory=list)
    reason: str = ""  # the Ready condition's reason (NodeStatusUnknown: set by the node controller)


@dataclass
class ProbeSample:
    t: float  # when the search started
    ok: bool
    latency_ms: float | None
    pod: str
    error: str = ""
    kind: str = "search"  # search | reconnect | skipped


@dataclass
class Phase:
    t: float
    name: str
    detail: str = ""


@dataclass
class Assertion:
    name: str
    ok: bool
    expected: str
    observed: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class Recording:
    """Everything observed during one drill."""

    workloads: dict[str, WorkloadInfo] = field(default_factory=dict)
    workload_samples: list[WorkloadSample] = field(default_factory=list)
    pod_samples: list[PodSample] = field(default_factory=list)
    endpoint_samples: list[EndpointSample] = field(default_factory=list)
    hpa_samples: list[HpaSample] = field(default_factory=list)
    node_samples: list[NodeSample] = field(default_factory=list)
    node_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    probe_samples: list[ProbeSample] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)

    def phase_time(self, name: str) -> float | None:
        return next((p.t for p in self.phases if p.name == name), None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recording:
        def rows(kind: type, items: list[dict[str, Any]]) -> list[Any]:
            names = {f.name for f in fields(kind)}
            return [kind(**{k: v for k, v in item.items() if k in names}) for item in items]

        return cls(
            workloads={k: WorkloadInfo(**v) for k, v in (data.get("workloads") or {}).items()},
            workload_samples=rows(WorkloadSample, data.get("workload_samples") or []),
            pod_samples=rows(PodSample, data.get("pod_samples") or []),
            endpoint_samples=rows(EndpointSample, data.get("endpoint_samples") or []),
            hpa_samples=rows(HpaSample, data.get("hpa_samples") or []),
            node_samples=rows(NodeSample, data.get("node_samples") or []),
            node_labels=dict(data.get("node_labels") or {}),
            probe_samples=rows(ProbeSample, data.get("probe_samples") or []),
            phases=rows(Phase, data.get("phases") or []),
        )


@dataclass
class DrillResult:
    drill: str
    env: str
    cluster: str
    started_utc: str
    seconds: float
    parameters: dict[str, Any]
    recording: Recording
    assertions: list[Assertion] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was simulated, what happened besides the assertions

    @property
    def ok(self) -> bool:
        return bool(self.assertions) and all(a.ok for a in self.assertions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "drill": self.drill, "env": self.env, "cluster": self.cluster, "ok": self.ok,
            "started_utc": self.started_utc, "seconds": round(self.seconds, 2),
            "parameters": self.parameters, "timings": {k: round(v, 2) for k, v in self.timings.items()},
            "notes": self.notes, "assertions": [asdict(a) for a in self.assertions],
            "recording": self.recording.as_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DrillResult:
        return cls(data["drill"], data["env"], data["cluster"], data["started_utc"], data["seconds"],
                   data.get("parameters") or {}, Recording.from_dict(data.get("recording") or {}),
                   [Assertion(**a) for a in data.get("assertions") or []], dict(data.get("timings") or {}),
                   list(data.get("notes") or []))
