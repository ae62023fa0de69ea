"""The `local` provider: a real control plane with simulated nodes and a real Milvus engine.

Real: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, metrics-server (all started
by `kwokctl create cluster --runtime binary` from our pinned builds), and milvus-lite.
Simulated by kwok: kubelets (node heartbeats, pod status), the container runtime, pod CPU/memory
usage. See docs/local-cluster.md.

Everything lives in ~/.cache/deploytool/clusters/<name>/ (layout.py); several clusters can
exist side by side (each gets its own free ports).
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client

from deploytool.clusters.base import ClusterProvider, ClusterRef, check_name, wait_for
from deploytool.clusters.local import kwok as local_kwok
from deploytool.clusters.local import milvus as local_milvus
from deploytool.clusters.local import nodes as local_nodes
from deploytool.clusters.local import storage as local_storage
from deploytool.clusters.local.layout import Layout, cluster_lock, clusters_root
from deploytool.core import output, procs, quantity
from deploytool.core.errors import BadInput, ClusterUnreachable, DeploytoolError, ToolMissing
from deploytool.core.steps import Step, run_steps

AGENT = "agent"
MILVUS = "milvus-lite"
CRD_PLURALS = ["clusterportforwards", "portforwards", "clusterresourceusages", "resourceusages"]


def _api(layout: Layout) -> client.ApiClient:
    return ClusterRef("local", layout.name, layout.kubeconfig, layout.name).api_client()


class LocalProvider(ClusterProvider):
    name = "local"

    # -- discovery -----------------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        try:
            local_kwok.binaries()
        except DeploytoolError as exc:
            return False, str(exc)
        return True, ""

    def exists(self, name: str) -> bool:
        return Layout(check_name(name)).state_file.is_file()

    def names(self) -> list[str]:
        """Names of the local clusters that exist."""
        root = clusters_root()
        return sorted(p.name for p in root.iterdir() if (p / "cluster.json").is_file()) if root.is_dir() else []

    def ref(self, name: str) -> ClusterRef:
        layout = Layout(check_name(name))
        if not layout.state_file.is_file():
            raise ClusterUnreachable(f"no local cluster named '{name}' (create it with "
                                     f"`deploytool cluster create --name {name}`)")
        state = layout.read_state() or {}
        return ClusterRef("local", name, layout.kubeconfig, state.get("context") or name)

    # -- create --------------------------------------------------------------------------------
    def create(self, name: str, nodes: int = 3, node_cpu: str = "16", node_memory: str = "64Gi",
               progress: bool = True, retain: bool = False) -> ClusterRef:
        check_name(name)
        if not 1 <= nodes <= 100:
            raise BadInput(f"--nodes must be between 1 and 100, not {nodes}")
        for what, value in (("--node-cpu", node_cpu), ("--node-memory", node_memory)):
            try:
                if quantity.parse(value) <= 0:
                    raise ValueError
            except ValueError:
                raise BadInput(f"{what} {value!r} is not a positive Kubernetes quantity") from None
        layout = Layout(name)
        with cluster_lock():
            if layout.state_file.is_file():
                self._reuse(layout, progress)
                return self.ref(name)
            if layout.root.exists():
                if progress:
                    output.status(output.WARN, f"removing leftovers of an unfinished create in {layout.root}")
                self._teardown(layout, progress=False)
            started = time.monotonic()
            ctx: dict[str, Any] = {}
            try:
                steps_done = run_steps(ctx, self._create_steps(layout, ctx, nodes, str(node_cpu), str(node_memory)),
                                       quiet=not progress).as_list()
            except BaseException:
                if not retain:
                    kept = self._save_logs(layout)
                    if progress:
                        output.info(f"removed the partial cluster; its logs are in {kept} (--retain keeps "
                                    "the whole cluster)")
                    self._teardown(layout, progress=False)
                elif progress:
                    output.info(f"kept the partial cluster in {layout.root} (--retain)")
                raise
            seconds = time.monotonic() - started
            layout.write_state({
                "provider": "local", "name": name, "context": ctx["context"],
                "kubeconfig": str(layout.kubeconfig),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "create_seconds": round(seconds, 1),
                "nodes": nodes, "node_cpu": str(node_cpu), "node_memory": str(node_memory),
                "ports": ctx["ports"], "steps": steps_done,
            })
            if progress:
                output.status(output.OK, f"local cluster '{name}' ready", seconds,
                              f"kubectl --kubeconfig {layout.kubeconfig} get nodes")
        return self.ref(name)

    def _create_steps(self, layout: Layout, ctx: dict[str, Any], nodes: int, cpu: str, memory: str) -> list[Step]:
        def tools(_: dict[str, Any]) -> str:
            ctx["bins"] = local_kwok.binaries()
            ctx["milvus"] = local_milvus.milvus_lite_installed()
            if not ctx["milvus"]:
                raise ToolMissing("milvus-lite is not installed: the local cluster's Milvus engine "
                                  "(pip install 'deploytool[local]', or make setup)")
            return f"kwokctl {local_kwok.KWOK_VERSION}, kubernetes {local_kwok.KUBE_VERSION}, milvus-lite"

        def control_plane(_: dict[str, Any]) -> str:
            local_kwok.create_cluster(layout, ctx["bins"])
            opts = local_kwok.saved_options(layout)
            ctx["ports"] = {"kube-apiserver": opts.get("kubeApiserverPort"), "etcd": opts.get("etcdPort"),
                            "kwok-controller": opts.get("kwokControllerPort"),
                            "metrics-server": opts.get("metricsServerPort")}
            return f"kwokctl create cluster --runtime binary, API server on 127.0.0.1:{ctx['ports']['kube-apiserver']}"

        def api_ready(_: dict[str, Any]) -> str:
            ctx["api"] = api = _api(layout)
            ctx["context"] = layout.name
            core = client.CoreV1Api(api)
            version = wait_for(lambda: client.VersionApi(api).get_code(_request_timeout=5).git_version, 90,
                               what="the API server")
            # the controller-manager is working once it made the default service account
            wait_for(lambda: core.read_namespaced_service_account("default", "default", _request_timeout=5), 90,
                     what="the default service account")
            return f"kube-apiserver {version}"

        def crds(_: dict[str, Any]) -> str:
            wait_for(lambda: local_milvus.crds_established(client.ApiextensionsV1Api(ctx["api"]), CRD_PLURALS),
                     60, what="kwok CRDs")
            return ", ".join(local_kwok.ENABLED_CRDS)

        def make_nodes(_: dict[str, Any]) -> str:
            core = client.CoreV1Api(ctx["api"])
            names = local_nodes.create_nodes(core, nodes, cpu, memory)

            def all_ready() -> bool:
                rows = {r["name"]: r for r in local_nodes.summary(core)}
                return all(rows.get(n, {}).get("ready") for n in names)

            wait_for(all_ready, 90, what=f"{nodes} nodes Ready")
            return f"{nodes} Ready ({cpu} CPU, {memory} each; zones {', '.join(local_nodes.ZONES[:nodes])})"

        def storage(_: dict[str, Any]) -> str:
            local_storage.ensure_storage_class(client.StorageV1Api(ctx["api"]))
            ctx["ports"]["health"] = health = local_milvus.free_port()
            self._start_agent(layout, health)
            wait_for(lambda: local_milvus.port_open(health), 30, what="the agent's health endpoint")
            return f"default StorageClass '{local_storage.STORAGE_CLASS}', provisioner {local_storage.PROVISIONER}"

        def milvus(_: dict[str, Any]) -> str:
            ctx["ports"]["milvus-lite"] = port = local_milvus.free_port()
            self._start_milvus(layout, port)
            return f"milvus-lite on 127.0.0.1:{port}"

        def rules(_: dict[str, Any]) -> str:
            custom = client.CustomObjectsApi(ctx["api"])
            if ctx["ports"].get("milvus-lite"):
                local_milvus.apply_cluster_object(custom, "clusterportforwards", local_milvus.port_forward_rule(
                    ctx["ports"]["milvus-lite"], ctx["ports"]["health"]))
            local_milvus.apply_cluster_object(custom, "clusterresourceusages", local_milvus.usage_rule())
            local_milvus.ensure_baseline(client.AppsV1Api(ctx["api"]))
            return (f"pod :{local_milvus.MILVUS_PORT} -> milvus-lite, :{local_milvus.HEALTH_PORT} -> /healthz; "
                    f"usage {local_milvus.DEFAULT_CPU} CPU / {local_milvus.DEFAULT_MEMORY} per container; "
                    f"kube-system/{local_milvus.BASELINE_NAME} on every simulated node")

        def metrics_api(_: dict[str, Any]) -> str:
            api_reg = client.ApiregistrationV1Api(ctx["api"])

            def available() -> bool:
                svc = api_reg.read_api_service("v1beta1.metrics.k8s.io", _request_timeout=5)
                return any(c.type == "Available" and c.status == "True" for c in (svc.status.conditions or []))

            wait_for(available, 120, interval=1.0, what="APIService v1beta1.metrics.k8s.io Available")
            return "metrics.k8s.io available (node/pod metrics follow within ~30s)"

        return [Step("tools", tools), Step("control plane", control_plane), Step("API server", api_ready),
                Step("kwok CRDs", crds), Step("nodes", make_nodes), Step("storage", storage),
                Step("milvus engine", milvus), Step("simulation rules", rules),
                Step("metrics API", metrics_api)]

    def _save_logs(self, layout: Layout) -> Path:
        """Copy the logs of a failed create to <clusters>/.failed/<name>/ before the folder goes."""
        target = clusters_root() / ".failed" / layout.name
        shutil.rmtree(target, ignore_errors=True)
        for source, name in ((layout.logs_dir, "deploytool"), (layout.kwok_logs_dir, "kwokctl-components")):
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True)
        return target

    def _start_agent(self, layout: Layout, health_port: int) -> int:
        argv = [sys.executable, "-m", "deploytool.clusters.local.agent", "--kubeconfig", str(layout.kubeconfig),
                "--volumes-dir", str(layout.volumes_dir), "--health-port", str(health_port)]
        return procs.start_daemon(argv, pid_file=layout.pid_file(AGENT), log_file=layout.log_file(AGENT))

    def _start_milvus(self, layout: Layout, port: int) -> int:
        pid = local_milvus.start_milvus_lite(layout.milvus_data, port, layout.pid_file(MILVUS), layout.log_file(MILVUS))

        def up() -> bool:
            if not procs.is_alive(layout.pid_file(MILVUS)):
                raise RuntimeError(f"milvus-lite exited: {procs.tail(layout.log_file(MILVUS), 5)}")
            return local_milvus.port_open(port)

        wait_for(up, 60, what=f"milvus-lite on port {port}")
        return pid

    def _reuse(self, layout: Layout, progress: bool) -> None:
        """An existing cluster: restart whatever is not running, and say that it was reused."""
        state = layout.read_state() or {}
        ports = state.get("ports") or {}
        restarted = []
        pids = local_kwok.component_pids(layout)
        if not pids or not all(procs.pid_alive(p) for p in pids.values()):
            local_kwok.start_cluster(layout, local_kwok.binaries())
            restarted.append("control plane")
        if not procs.is_alive(layout.pid_file(AGENT)) and ports.get("health"):
            self._start_agent(layout, ports["health"])
            restarted.append(AGENT)
        if ports.get("milvus-lite") and not procs.is_alive(layout.pid_file(MILVUS)):
            self._start_milvus(layout, ports["milvus-lite"])
            restarted.append(MILVUS)
        if progress:
            detail = f"restarted {', '.join(restarted)}" if restarted else "all processes running"
            output.status(output.OK, f"local cluster '{layout.name}' already exists: reusing it", None, detail)

    # -- delete --------------------------------------------------------------------------------
    def delete(self, name: str, progress: bool = True) -> dict[str, Any]:
        layout = Layout(check_name(name))
        with cluster_lock():
            existed = layout.root.exists()
            started = time.monotonic()
            leftovers = self._teardown(layout, progress) if existed else []
        return {"name": name, "existed": existed, "deleted": existed and not layout.root.exists(),
                "seconds": round(time.monotonic() - started, 2), "leftover_pids": leftovers}

    def _teardown(self, layout: Layout, progress: bool) -> list[int]:
        """Stop every process and remove every file of the cluster. Returns pids that would not die."""
        def step(label: str, fn: Any) -> None:
            start = time.monotonic()
            try:
                detail = fn() or ""
            except Exception as exc:  # noqa: BLE001 - deletion goes on; the safety net below kills the rest
                if progress:
                    output.status(output.WARN, label, time.monotonic() - start, str(exc).splitlines()[0][:200])
                return
            if progress:
                output.status(output.OK, label, time.monotonic() - start, detail)

        step("stop milvus-lite", lambda: None if procs.stop_daemon(layout.pid_file(MILVUS)) else "still running")
        step("stop agent", lambda: None if procs.stop_daemon(layout.pid_file(AGENT)) else "still running")
        step("kwokctl delete cluster",
             lambda: "done" if local_kwok.delete_cluster(layout) else "nothing to delete (or kwokctl not built)")
        left = []
        for pid in local_kwok.leftover_processes(layout.root):
            if procs.pid_alive(pid) and not procs.stop_pid(pid, timeout=5):
                left.append(pid)
        step("remove files", lambda: shutil.rmtree(layout.root, ignore_errors=False) if layout.root.exists() else None)
        return left

    # -- status --------------------------------------------------------------------------------
    def status(self, name: str) -> dict[str, Any]:
        layout = Layout(check_name(name))
        state = layout.read_state()
        info: dict[str, Any] = {"provider": "local", "name": name, "exists": state is not None,
                                "dir": str(layout.root)}
        if state is None:
            info["ok"] = False
            return info
        ports = dict(state.get("ports") or {})
        info.update(kubeconfig=str(layout.kubeconfig), context=state.get("context"), created=state.get("created"),
                    create_seconds=state.get("create_seconds"), ports=ports)
        processes: dict[str, Any] = {}
        for component, pid in local_kwok.component_pids(layout).items():
            processes[component] = {"pid": pid, "alive": procs.pid_alive(pid)}
        for daemon in (AGENT, MILVUS):
            pinfo = procs.read_pid_file(layout.pid_file(daemon))
            processes[daemon] = {"pid": pinfo.pid if pinfo else None,
                                 "alive": bool(pinfo and procs.pid_alive(pinfo.pid, pinfo.start_time))}
        info["processes"] = processes
        api_info: dict[str, Any] = {"url": f"https://127.0.0.1:{ports.get('kube-apiserver')}", "reachable": False}
        nodes: list[dict[str, Any]] = []
        try:
            api = _api(layout)
            api_info["version"] = client.VersionApi(api).get_code(_request_timeout=5).git_version
            api_info["reachable"] = True
            nodes = local_nodes.summary(client.CoreV1Api(api))
        except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
            api_info["error"] = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        info["api_server"] = api_info
        info["nodes"] = {"total": len(nodes), "ready": sum(1 for n in nodes if n["ready"]), "items": nodes}
        milvus_port = ports.get("milvus-lite")
        info["milvus"] = {"port": milvus_port, "up": bool(milvus_port and local_milvus.port_open(milvus_port))}
        health_port = ports.get("health")
        info["health_endpoint"] = {"port": health_port, "up": bool(health_port and local_milvus.port_open(health_port))}
        info["ok"] = (all(p["alive"] for p in processes.values() if p["pid"] is not None)
                      and processes[AGENT]["alive"] and api_info["reachable"] and bool(nodes)
                      and all(n["ready"] for n in nodes)
                      and (info["milvus"]["up"] or not milvus_port))
        return info
