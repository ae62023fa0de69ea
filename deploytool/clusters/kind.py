"""The kind provider: Docker-backed nodes, for laptops and CI runners with Docker.

The cluster config is rendered here (one control-plane, N workers with zone labels, and an
extraPortMapping from the host to the proxy Service's NodePort); kind creates the nodes, optional
pre-pulled images are loaded with `kind load docker-image`, and metrics-server is applied from a
manifest shipped in this package so HPAs have CPU metrics.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from deploytool.clusters.base import ClusterProvider, ClusterRef, check_name, wait_for
from deploytool.core import paths
from deploytool.core.conditions import is_ready
from deploytool.core.errors import BadInput, CommandFailed, ToolMissing
from deploytool.core.steps import Step, run_steps

ZONES = ("zone-a", "zone-b", "zone-c")
NODE_PORT = 31953  # the proxy Service's NodePort on kind (values override below)
HOST_PORT = 19530
METRICS_SERVER_MANIFEST = Path(__file__).with_name("kind_metrics_server.yaml")

# What up layers over the env's values on kind, so the host reaches Milvus through the NodePort.
VALUES_OVERRIDES = {"service": {"type": "NodePort", "nodePort": NODE_PORT}}


def render_config(name: str, workers: int, host_port: int = HOST_PORT) -> dict[str, Any]:
    """A kind Cluster config: control-plane with the port mapping, workers labelled by zone."""
    if workers < 1:
        raise BadInput("kind needs at least one worker node")
    nodes: list[dict[str, Any]] = [{
        "role": "control-plane",
        "extraPortMappings": [{"containerPort": NODE_PORT, "hostPort": host_port, "listenAddress": "127.0.0.1",
                               "protocol": "TCP"}],
    }]
    for index in range(workers):
        nodes.append({"role": "worker", "labels": {"topology.kubernetes.io/zone": ZONES[index % len(ZONES)]}})
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": name, "nodes": nodes}


class KindProvider(ClusterProvider):
    name = "kind"

    def __init__(self, images: list[str] | None = None) -> None:
        self.images = list(images or [])

    # -- helpers -------------------------------------------------------------------------------
    def _kind(self, *args: str, stdin: str | None = None, timeout: float = 900) -> str:
        binary = shutil.which("kind")
        if binary is None:
            raise ToolMissing("kind is not on PATH (https://kind.sigs.k8s.io); or use --provider local")
        argv = [binary, *args]
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise CommandFailed(argv, proc.returncode, proc.stderr or proc.stdout)
        return proc.stdout

    def workdir(self, name: str) -> Path:
        return paths.cache_dir() / "clusters" / f"kind-{name}"

    def kubeconfig(self, name: str) -> Path:
        return self.workdir(name) / "kubeconfig"

    # -- provider API ----------------------------------------------------------------------------
    def available(self) -> tuple[bool, str]:
        from deploytool.clusters import docker_works

        if shutil.which("kind") is None:
            return False, "kind is not on PATH"
        if not docker_works():
            return False, "no Docker engine answers `docker info`"
        return True, ""

    def exists(self, name: str) -> bool:
        return name in self._kind("get", "clusters").split()

    def ref(self, name: str) -> ClusterRef:
        return ClusterRef("kind", name, self.kubeconfig(name), f"kind-{name}")

    def create(self, name: str, nodes: int = 3, node_cpu: str = "16", node_memory: str = "64Gi",
               progress: bool = True, retain: bool = False) -> ClusterRef:
        check_name(name)
        ok, why = self.available()
        if not ok:
            raise ToolMissing(f"the kind provider cannot run here: {why}; use --provider local")
        if self.exists(name):
            return self.ref(name)
        workdir = self.workdir(name)
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "kind-config.yaml"
        steps: list[Step[None] | None] = [
            Step("render kind config", lambda _: self._write_config(config_path, name, nodes)),
            Step("kind create cluster", lambda _: self._create(name, config_path)),
            Step("load images", lambda _: self._load_images(name)) if self.images else None,
            Step("metrics-server", lambda _: self._metrics_server(name)),
        ]
        try:
            run_steps(None, [s for s in steps if s is not None], quiet=not progress)
        except BaseException:
            if not retain:
                self.delete(name, progress=False)
            raise
        return self.ref(name)

    def _write_config(self, path: Path, name: str, workers: int) -> str:
        path.write_text(yaml.safe_dump(render_config(name, workers), sort_keys=False))
        return f"1 control-plane + {workers} workers over {min(workers, len(ZONES))} zones"

    def _create(self, name: str, config_path: Path) -> str:
        self._kind("create", "cluster", "--name", name, "--config", str(config_path),
                   "--kubeconfig", str(self.kubeconfig(name)), "--wait", "180s")
        return f"context kind-{name}"

    def _load_images(self, name: str) -> str:
        for image in self.images:
            self._kind("load", "docker-image", image, "--name", name)
        return f"{len(self.images)} image(s)"

    def _metrics_server(self, name: str) -> str:
        from kubernetes import utils

        api = self.ref(name).api_client()
        try:
            utils.create_from_yaml(api, str(METRICS_SERVER_MANIFEST))
        except utils.FailToCreateError as exc:
            if not all(getattr(e, "status", None) == 409 for e in exc.api_exceptions):
                raise
        from kubernetes import client

        apps = client.AppsV1Api(api)
        wait_for(lambda: (apps.read_namespaced_deployment("metrics-server", "kube-system").status.ready_replicas
                          or 0) >= 1, timeout=300, what="metrics-server ready")
        return "ready"

    def delete(self, name: str, progress: bool = True) -> dict[str, Any]:
        started = time.monotonic()
        existed = shutil.which("kind") is not None and self.exists(name)
        if existed:
            self._kind("delete", "cluster", "--name", name, "--kubeconfig", str(self.kubeconfig(name)))
        shutil.rmtree(self.workdir(name), ignore_errors=True)
        return {"name": name, "existed": existed, "deleted": existed, "seconds": round(time.monotonic() - started, 2),
                "leftover_pids": []}

    def status(self, name: str) -> dict[str, Any]:
        """The same shape as the local provider's status (processes aside: Docker runs the nodes)."""
        ok, why = self.available()
        exists = ok and self.exists(name)
        info: dict[str, Any] = {"provider": "kind", "name": name, "available": ok, "reason": why,
                                "exists": exists, "ok": False}
        if not exists:
            return info
        info.update(kubeconfig=str(self.kubeconfig(name)), context=f"kind-{name}",
                    containers=self._kind("get", "nodes", "--name", name).split())
        api: dict[str, Any] = {"reachable": False}
        nodes: list[dict[str, Any]] = []
        try:
            from kubernetes import client

            api_client = self.ref(name).api_client()
            api["url"] = api_client.configuration.host
            api["version"] = client.VersionApi(api_client).get_code(_request_timeout=5).git_version
            api["reachable"] = True
            for node in client.CoreV1Api(api_client).list_node(_request_timeout=10).items:
                labels = node.metadata.labels or {}
                alloc = node.status.allocatable or {}
                nodes.append({"name": node.metadata.name, "zone": labels.get("topology.kubernetes.io/zone", "-"),
                              "ready": is_ready(node),
                              "cpu": alloc.get("cpu"), "memory": alloc.get("memory"),
                              "taints": [f"{t.key}:{t.effect}" for t in node.spec.taints or []]})
        except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
            api["error"] = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        info["api_server"] = api
        info["nodes"] = {"total": len(nodes), "ready": sum(n["ready"] for n in nodes), "items": nodes}
        info["ok"] = api["reachable"] and bool(nodes) and all(n["ready"] for n in nodes)
        return info
