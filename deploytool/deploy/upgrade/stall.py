"""Why a rollout does not progress, read from pod and workload state (diagnose() is pure).

Causes, each visible in the API as soon as it happens:
* FailedCreate      -- the workload's ReplicaFailure condition (admission refused the pod, quota, ...)
* Unschedulable     -- a new pod's PodScheduled=False, reason Unschedulable (the scheduler's message)
* ErrImagePull / ImagePullBackOff / ErrImageNeverPull / InvalidImageName / CrashLoopBackOff /
  CreateContainerConfigError / CreateContainerError -- a new pod's container waiting with that reason
  (kubelet; ErrImageNeverPull: imagePullPolicy Never and the image is not on the node, as for a tag
  never built on the local cluster's real nodes -- pkg/kubelet/images/types.go)
* ReadinessFailing  -- a new pod Running, its containers started, not Ready for longer than its readiness
  probe can take to pass (initialDelaySeconds + periodSeconds x failureThreshold)
A cause counts once it has been seen on consecutive polls for `grace_s` (a pod may be Unschedulable
for a moment while an old pod's place is freed); StallTracker keeps that time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deploytool.core.image_ref import image_tag
from deploytool.core.kube import Kube
from deploytool.core.labels import COMPONENT

WAITING_STALLS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CrashLoopBackOff",
                  "CreateContainerConfigError", "CreateContainerError")


@dataclass(frozen=True)
class PodState:
    name: str
    component: str
    tag: str
    phase: str
    unschedulable: str = ""  # the scheduler's message when PodScheduled=False/Unschedulable
    waiting: tuple[tuple[str, str], ...] = ()  # (reason, message) of waiting containers
    started: bool = False  # every container running
    ready: bool = False
    not_ready_s: float = 0.0  # seconds since Ready turned False (or since the pod started)
    readiness_window_s: float = 30.0
    terminating: bool = False


@dataclass(frozen=True)
class WorkloadCondition:
    component: str
    workload: str
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Cause:
    component: str
    subject: str  # pod or workload name
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.component}: {self.subject}: {self.reason}: {self.message}"[:500]


def diagnose(pods: list[PodState], conditions: list[WorkloadCondition], components: list[str],
             to_tag: str) -> list[Cause]:
    """The causes that keep the rollout of `components` to `to_tag` from progressing, now."""
    causes = []
    for cond in conditions:
        if cond.component in components and cond.type == "ReplicaFailure" and cond.status == "True":
            causes.append(Cause(cond.component, cond.workload, cond.reason or "FailedCreate", cond.message))
    for pod in pods:
        if pod.component not in components or pod.tag != to_tag or pod.terminating:
            continue
        if pod.unschedulable:
            causes.append(Cause(pod.component, pod.name, "Unschedulable", pod.unschedulable))
        for reason, message in pod.waiting:
            if reason in WAITING_STALLS:
                causes.append(Cause(pod.component, pod.name, reason, message))
        if pod.phase == "Running" and pod.started and not pod.ready and pod.not_ready_s > pod.readiness_window_s:
            causes.append(Cause(pod.component, pod.name, "ReadinessFailing",
                                f"Running but not Ready for {pod.not_ready_s:.0f}s (its readiness probe passes "
                                f"within {pod.readiness_window_s:.0f}s when healthy)"))
    return causes


@dataclass
class StallTracker:
    """Causes seen on consecutive polls for at least grace_s count as a stall."""

    grace_s: float = 5.0
    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)

    def observe(self, causes: list[Cause], now: float) -> list[Cause]:
        keys = {(c.subject, c.reason) for c in causes}
        self.first_seen = {k: t for k, t in self.first_seen.items() if k in keys}
        for key in keys:
            self.first_seen.setdefault(key, now)
        return [c for c in causes if now - self.first_seen[(c.subject, c.reason)] >= self.grace_s]

    def visible_since(self, cause: Cause) -> float | None:
        return self.first_seen.get((cause.subject, cause.reason))


# -- reading the state (one LIST of pods, Deployments, StatefulSets) ----------------------------------

def _readiness_window(pod: Any) -> float:
    window = 0.0
    for c in pod.spec.containers:
        probe = c.readiness_probe
        if probe is not None:
            window = max(window, (probe.initial_delay_seconds or 0)
                         + (probe.period_seconds or 10) * (probe.failure_threshold or 3))
    return window or 30.0


def pod_state(pod: Any, now: datetime) -> PodState:
    labels = pod.metadata.labels or {}
    status = pod.status
    unschedulable, ready, ready_since = "", False, None
    for cond in status.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable":
            unschedulable = (cond.message or "")[:400]
        if cond.type == "Ready":
            ready = cond.status == "True"
            ready_since = cond.last_transition_time
    statuses = status.container_statuses or []
    waiting = tuple((cs.state.waiting.reason or "", (cs.state.waiting.message or "")[:300])
                    for cs in statuses if cs.state and cs.state.waiting)
    started = bool(statuses) and all(cs.state and cs.state.running for cs in statuses)
    since = ready_since or status.start_time
    not_ready_s = (now - since).total_seconds() if since and not ready else 0.0
    return PodState(str(pod.metadata.name), labels.get(COMPONENT, ""), image_tag(pod.spec.containers[0].image),
                    status.phase or "", unschedulable, waiting, started, ready, not_ready_s,
                    _readiness_window(pod), bool(pod.metadata.deletion_timestamp))


def read_state(kube: Kube, namespace: str, selector: str) -> tuple[list[PodState], list[WorkloadCondition]]:
    now = datetime.now(UTC)
    pods = [pod_state(p, now) for p in kube.core.list_namespaced_pod(namespace, label_selector=selector).items]
    conditions = []
    for workload in (*kube.apps.list_namespaced_deployment(namespace, label_selector=selector).items,
                     *kube.apps.list_namespaced_stateful_set(namespace, label_selector=selector).items):
        component = (workload.metadata.labels or {}).get(COMPONENT, "")
        for cond in (workload.status.conditions or []) if workload.status else []:
            conditions.append(WorkloadCondition(component, str(workload.metadata.name), cond.type, cond.status,
                                                cond.reason or "", (cond.message or "")[:400]))
    return pods, conditions
