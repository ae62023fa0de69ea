"""Memory limits as the kernel enforces them: no container of the namespace was killed at its limit.

A container that allocates beyond `resources.limits.memory` is killed by the kernel's OOM killer in
its cgroup; the kubelet reports it as a terminated state with reason `OOMKilled` (exit 137), in
`state` while it is down and in `lastState` after it restarted. Only containers on real nodes can be
OOMKilled: on simulated (kwok) nodes no container runs.
"""

from __future__ import annotations

from deploytool.clusters.base import REAL
from deploytool.deploy.snapshot import Pod, Snapshot
from deploytool.deploy.verify import FAIL, PASS, SKIP, Result
from deploytool.render.manifests import Rendered

OOM = "OOMKilled"
FIX = ("raise the component's resources.limits.memory above what it uses (and requests with it), or find what "
       "grew; the pod's lastState shows the kill")


def _limit(pod: Pod, container: str) -> str:
    for c in pod.containers + pod.init_containers:
        if c.name == container:
            return c.limits.get("memory", "")
    return ""


def check_oom_killed(expected: Rendered, snap: Snapshot) -> Result:
    pods = [p for p in snap.pods if not p.terminating and p.node_name]
    real = [p for p in pods if snap.node_kind(p.node_name) == REAL]
    simulated = len(pods) - len(real)
    if not real:
        return Result("oom-killed", SKIP, [
            f"nothing to check: no pod of {snap.namespace} runs on a real node"
            + (f" ({simulated} on simulated nodes, where no container runs and none can be OOMKilled)"
               if simulated else "")])
    bad: list[str] = []
    containers = 0
    for pod in real:
        for cs in pod.container_statuses:
            containers += 1
            when = "is down: killed" if cs.terminated_reason == OOM else \
                "was killed" if cs.last_terminated_reason == OOM else ""
            if when:
                limit = _limit(pod, cs.name)
                bad.append(f"pod {pod.name} (node {pod.node_name}) container {cs.name} {when} by the kernel at its "
                           f"memory limit {limit or '(none: the node ran out of memory)'} ({OOM}, "
                           f"{cs.restart_count} restart(s))")
    evidence = [f"no container was {OOM}: {containers} container(s) in {len(real)} pod(s) on real nodes"]
    if simulated:
        evidence.append(f"{simulated} pod(s) on simulated nodes not counted: no container runs there")
    if bad:
        return Result("oom-killed", FAIL, bad + evidence[1:], FIX)
    return Result("oom-killed", PASS, evidence)
