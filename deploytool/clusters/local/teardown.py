"""Deleting a local cluster: the same step runner as create, going on past a failed step.

The processes the cluster runs are listed before anything is stopped (with their start times,
so a recycled pid is never signalled); the last-but-one action waits until every one of them
has exited -- SIGTERM, then SIGKILL -- so `cluster delete` returns only when nothing of the
cluster runs any more, and a `create` of the same name right after it starts from a clean slate.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from deploytool.clusters.local import kwok, realnodes
from deploytool.clusters.local.create import AGENT, MILVUS
from deploytool.clusters.local.layout import Layout
from deploytool.core import procs
from deploytool.core.steps import Run, Step, run_steps

STOP_TIMEOUT = 10.0  # seconds a process gets after SIGTERM before SIGKILL


@dataclass
class TeardownContext:
    layout: Layout
    processes: dict[int, int | None]  # pid -> start time: everything of the cluster that ran at the start
    left: list[int] = field(default_factory=list)  # pids that would not die


def plan(layout: Layout) -> TeardownContext:
    found: dict[int, int | None] = {}
    for info in kwok.component_procs(layout).values():
        found[info.pid] = info.start_time
    # our daemons: agent, milvus-lite and, with real nodes, every kubelet, containerd, kube-proxy, CoreDNS
    pid_files = sorted(layout.pids_dir.glob("*.pid")) if layout.pids_dir.is_dir() else []
    for pid_file in {layout.pid_file(AGENT), layout.pid_file(MILVUS), *pid_files}:
        daemon_info = procs.read_pid_file(pid_file)
        if daemon_info:
            found[daemon_info.pid] = daemon_info.start_time
    for pid in kwok.leftover_processes(layout.root):
        found.setdefault(pid, procs.start_time(pid))
    return TeardownContext(layout, {pid: start for pid, start in found.items() if procs.pid_alive(pid, start)})


def _stopped(gone: bool) -> str:
    return "" if gone else "still running"


def stop_milvus(ctx: TeardownContext) -> str:
    return _stopped(procs.stop_daemon(ctx.layout.pid_file(MILVUS)))


def stop_agent(ctx: TeardownContext) -> str:
    return _stopped(procs.stop_daemon(ctx.layout.pid_file(AGENT)))


def stop_real_nodes(ctx: TeardownContext) -> str:
    """Kubelets, their containers and containerds, kube-proxy, CoreDNS; then bridges, iptables, cgroups, mounts."""
    left = realnodes.teardown(ctx.layout)
    if left:
        raise RuntimeError("left behind: " + "; ".join(left[:5]))
    return f"{len(realnodes.existing(ctx.layout))} real node(s) stopped; bridges, chains, cgroups, mounts removed"


def kwokctl_delete(ctx: TeardownContext) -> str:
    return "done" if kwok.delete_cluster(ctx.layout) else "nothing to delete (or kwokctl not built)"


def wait_processes(ctx: TeardownContext) -> str:
    """Every process listed at the start (and any other still running from the folder) has exited."""
    known = dict(ctx.processes)
    for pid in kwok.leftover_processes(ctx.layout.root):
        known.setdefault(pid, procs.start_time(pid))
    ctx.left = sorted(pid for pid, start in known.items() if not procs.stop_pid(pid, start, STOP_TIMEOUT))
    if ctx.left:
        raise RuntimeError(f"processes {ctx.left} would not stop")
    return f"{len(known)} processes exited"


def remove_files(ctx: TeardownContext) -> str:
    if ctx.layout.root.exists():
        shutil.rmtree(ctx.layout.root)
    return str(ctx.layout.root)


ACTIONS: list[Step[TeardownContext]] = [
    Step("stop milvus-lite", stop_milvus),
    Step("stop agent", stop_agent),
    Step("stop real nodes", stop_real_nodes, lambda ctx: realnodes.has_any(ctx.layout)),
    Step("kwokctl delete cluster", kwokctl_delete),
    Step("wait for every process", wait_processes),
    Step("remove files", remove_files),
]


def teardown(layout: Layout, progress: bool) -> list[int]:
    """Stop every process and remove every file of the cluster. Returns pids that would not die."""
    ctx = plan(layout)
    run_steps(ctx, ACTIONS, Run(), quiet=not progress, keep_going=True)
    return ctx.left
