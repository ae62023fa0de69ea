"""The `local` provider: a real control plane with simulated nodes and a real Milvus engine.

Real: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, metrics-server (all started
by `kwokctl create cluster --runtime binary` from our pinned builds), and milvus-lite.
Simulated by kwok on its nodes: kubelets (node heartbeats, pod status), the container runtime, pod
CPU/memory usage. Real nodes (--real-nodes, realnodes.py) run a kubelet, containerd and runc each:
their pods are real containers. See docs/local-cluster.md.

Everything lives in ~/.cache/deploytool/clusters/<name>/ (layout.py); several clusters can
exist side by side (each gets its own free ports). Creating runs the actions of create.py,
deleting those of teardown.py.
"""

from __future__ import annotations

import functools
import shutil
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client

from deploytool.clusters.base import (
    SIMULATED,
    ClusterProvider,
    ClusterRef,
    ClusterSpec,
    Connection,
    ProviderInfo,
    check_name,
)
from deploytool.clusters.local import create, kwok, milvus, nodes, real_values, realnodes
from deploytool.clusters.local.create import AGENT, MILVUS
from deploytool.clusters.local.faults import LocalFaults
from deploytool.clusters.local.layout import Layout, cluster_lock, clusters_root
from deploytool.clusters.local.teardown import teardown
from deploytool.clusters.status import ApiServerStatus, ClusterStatus, DeleteResult, ProcessStatus
from deploytool.core import output, procs
from deploytool.core.errors import ClusterUnreachable, DeploytoolError
from deploytool.core.steps import run_steps
from deploytool.render.values import deep_merge

if TYPE_CHECKING:
    from deploytool.core.kube import Kube


class LocalProvider(ClusterProvider):
    info = ProviderInfo("local", manages_lifecycle=True, default_node_kind=SIMULATED, runs_real_nodes=True)

    # -- discovery -----------------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        try:
            kwok.binaries()
        except DeploytoolError as exc:
            return False, str(exc)
        return True, ""

    def exists(self, name: str) -> bool:
        return Layout(check_name(name)).state_file.is_file()

    def ref(self, name: str) -> ClusterRef:
        layout = Layout(check_name(name))
        if not layout.state_file.is_file():
            raise ClusterUnreachable(f"no local cluster named '{name}' (create it with "
                                     f"`deploytool cluster create --name {name}`)")
        state = layout.read_state() or {}
        return ClusterRef("local", name, layout.kubeconfig, state.get("context") or name)

    def faults(self, kube: Kube) -> LocalFaults:
        return LocalFaults(kube, Layout(kube.context or ""))

    # -- what an env needs here ----------------------------------------------------------------
    def values_overlay(self, name: str, real_nodes: int, values: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """On a cluster with real nodes (existing, or created with --real-nodes): the images built
        here, and requests/limits scaled to the real nodes' share when needed (real_values.py)."""
        overlay, note = super().values_overlay(name, real_nodes, values)
        layout = Layout(check_name(name))
        count, share = real_values.real_shares(layout, 0 if self.exists(name) else real_nodes)
        if share is None:
            return overlay, note
        fit = real_values.fit(values, count, share)
        overlay = deep_merge(deep_merge(overlay, real_values.image_overlay()),
                             real_values.resources_overlay(values, fit))
        return overlay, f"images built here; {fit.describe()}"

    def connect_to(self, ref: ClusterRef) -> Connection:
        conn = super().connect_to(ref)
        layout = Layout(check_name(ref.name))
        if realnodes.existing(layout):
            conn.prepare = functools.partial(real_values.prepare, layout, conn.kube)
        return conn

    # -- create --------------------------------------------------------------------------------
    def create(self, name: str, spec: ClusterSpec | None = None, progress: bool = True,
               retain: bool = False) -> ClusterRef:
        ctx = create.plan(name, spec or ClusterSpec())  # BadInput / ToolMissing before anything is made
        layout = ctx.layout
        with cluster_lock():
            if layout.state_file.is_file():
                self._reuse(layout, progress)
                return self.ref(name)
            if layout.root.exists():
                if progress:
                    output.status(output.WARN, f"removing leftovers of an unfinished create in {layout.root}")
                teardown(layout, progress=False)
            started = time.monotonic()
            try:
                done = run_steps(ctx, create.ACTIONS, quiet=not progress).as_list()
            except BaseException:
                if not retain:
                    kept = self._save_logs(layout)
                    if progress:
                        output.info(f"removed the partial cluster; its logs are in {kept} (--retain keeps "
                                    "the whole cluster)")
                    teardown(layout, progress=False)
                elif progress:
                    output.info(f"kept the partial cluster in {layout.root} (--retain)")
                raise
            seconds = time.monotonic() - started
            layout.write_state(create.state(ctx, seconds, datetime.now(UTC).isoformat(timespec="seconds"), done))
            if progress:
                output.status(output.OK, f"local cluster '{name}' ready", seconds,
                              f"kubectl --kubeconfig {layout.kubeconfig} get nodes")
        return self.ref(name)

    def _save_logs(self, layout: Layout) -> Path:
        """Copy the logs of a failed create to <clusters>/.failed/<name>/ before the folder goes."""
        target = clusters_root() / ".failed" / layout.name
        shutil.rmtree(target, ignore_errors=True)
        for source, name in ((layout.logs_dir, "deploytool"), (layout.kwok_logs_dir, "kwokctl-components")):
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True)
        return target

    def _reuse(self, layout: Layout, progress: bool) -> None:
        """An existing cluster: restart whatever is not running, and say that it was reused."""
        state = layout.read_state() or {}
        ports = state.get("ports") or {}
        restarted = []
        components = kwok.component_procs(layout)
        alive = [procs.pid_alive(p.pid, p.start_time) for p in components.values()]
        if not any(alive):
            kwok.start_cluster(layout, kwok.binaries())
            restarted.append("control plane")
        elif not all(alive):  # `kwokctl start cluster` starts nothing while any component runs
            kwok.restart_cluster(layout, kwok.binaries())
            restarted.append("control plane")
        if not procs.is_alive(layout.pid_file(AGENT)) and ports.get("health"):
            create.start_agent(layout, ports["health"])
            restarted.append(AGENT)
        if ports.get("milvus-lite") and not procs.is_alive(layout.pid_file(MILVUS)):
            create.start_milvus(layout, ports["milvus-lite"])
            restarted.append(MILVUS)
        restarted += realnodes.restart_dead(layout)
        if progress:
            detail = f"restarted {', '.join(restarted)}" if restarted else "all processes running"
            output.status(output.OK, f"local cluster '{layout.name}' already exists: reusing it", None, detail)

    # -- delete --------------------------------------------------------------------------------
    def delete(self, name: str, progress: bool = True) -> DeleteResult:
        layout = Layout(check_name(name))
        with cluster_lock():
            existed = layout.root.exists()
            started = time.monotonic()
            leftovers = teardown(layout, progress) if existed else []
        return DeleteResult(name, existed, existed and not layout.root.exists(),
                            round(time.monotonic() - started, 2), tuple(leftovers))

    # -- status --------------------------------------------------------------------------------
    def status(self, name: str) -> ClusterStatus:
        layout = Layout(check_name(name))
        state = layout.read_state()
        info = ClusterStatus("local", name, state is not None, extra={"dir": str(layout.root)})
        if state is None:
            return info
        ports = dict(state.get("ports") or {})
        info.kubeconfig, info.context, info.ports = str(layout.kubeconfig), state.get("context"), ports
        info.extra.update(created=state.get("created"), create_seconds=state.get("create_seconds"))
        for component, proc in kwok.component_procs(layout).items():
            info.processes[component] = ProcessStatus(proc.pid, procs.pid_alive(proc.pid, proc.start_time))
        for daemon in (AGENT, MILVUS, *realnodes.daemons(layout)):
            pinfo = procs.read_pid_file(layout.pid_file(daemon))
            info.processes[daemon] = ProcessStatus(pinfo.pid if pinfo else None,
                                                   bool(pinfo and procs.pid_alive(pinfo.pid, pinfo.start_time)))
        url, version = f"https://127.0.0.1:{ports.get('kube-apiserver')}", ""
        try:
            api = ClusterRef("local", name, layout.kubeconfig, layout.name).api_client()
            version = client.VersionApi(api).get_code(_request_timeout=5).git_version
            info.nodes = nodes.summary(client.CoreV1Api(api))
            info.api_server = ApiServerStatus(True, url, version)
        except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
            info.api_server = ApiServerStatus(False, url, version,
                                              str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        milvus_port, health_port = ports.get("milvus-lite"), ports.get("health")
        milvus_up = bool(milvus_port and milvus.port_open(milvus_port))
        info.extra["milvus"] = {"port": milvus_port, "up": milvus_up}
        info.extra["health_endpoint"] = {"port": health_port, "up": bool(health_port and milvus.port_open(health_port))}
        info.ok = (all(p.alive for p in info.processes.values() if p.pid is not None)
                   and info.processes[AGENT].alive and info.api_server.reachable and bool(info.nodes)
                   and all(n.ready for n in info.nodes) and (milvus_up or not milvus_port))
        return info
