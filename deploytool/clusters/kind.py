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
from typing import TYPE_CHECKING, Any

import yaml

from deploytool.clusters.base import REAL, ClusterProvider, ClusterRef, ClusterSpec, ProviderInfo, check_name
from deploytool.clusters.faults import Faults
from deploytool.clusters.status import ApiServerStatus, ClusterStatus, DeleteResult, NodeStatus
from deploytool.core import paths
from deploytool.core.conditions import is_ready
from deploytool.core.errors import BadInput, CommandFailed, ToolMissing
from deploytool.core.labels import MILVUS_PORT, NODE_ZONES, ZONE
from deploytool.core.steps import Step, run_steps
from deploytool.core.wait import wait_until

if TYPE_CHECKING:
    from deploytool.core.kube import Kube

NODE_PORT = 31953  # the proxy Service's NodePort on kind (values override below)
HOST_PORT = MILVUS_PORT  # the host reaches Milvus on its usual port
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
        nodes.append({"role": "worker", "labels": {ZONE: NODE_ZONES[index % len(NODE_ZONES)]}})
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": name, "nodes": nodes}


def _docker(*args: str) -> None:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise CommandFailed(["docker", *args], proc.returncode, proc.stderr or proc.stdout)


class KindFaults(Faults):
    """kind nodes are Docker containers running a real kubelet: a node fails with `docker stop`."""

    def node_failure_unsupported(self) -> str:
        return ""

    def fail_node(self, node: str) -> str:
        _docker("stop", node)
        return f"docker stop {node}: kubelet and containers stopped"

    def restore_node(self, node: str) -> str:
        _docker("start", node)
        return f"docker start {node}"


class KindProvider(ClusterProvider):
    info = ProviderInfo("kind", manages_lifecycle=True, default_node_kind=REAL, loads_images=True,
                        values_overlay=VALUES_OVERRIDES)

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

    def faults(self, kube: Kube) -> Faults:
        return KindFaults()

    def create(self, name: str, spec: ClusterSpec | None = None, progress: bool = True,
               retain: bool = False) -> ClusterRef:
        check_name(name)
        spec = spec or ClusterSpec()
        ok, why = self.available()
        if not ok:
            raise ToolMissing(f"the kind provider cannot run here: {why}; use --provider local")
        if self.exists(name):
            return self.ref(name)
        workdir = self.workdir(name)
        workdir.mkdir(parents=True, exist_ok=True)
        config_path = workdir / "kind-config.yaml"
        steps: list[Step[None] | None] = [
            Step("render kind config", lambda _: self._write_config(config_path, name, spec.nodes)),
            Step("kind create cluster", lambda _: self._create(name, config_path)),
            Step("load images", lambda _: self._load_images(name, spec.images)) if spec.images else None,
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
        return f"1 control-plane + {workers} workers over {min(workers, len(NODE_ZONES))} zones"

    def _create(self, name: str, config_path: Path) -> str:
        self._kind("create", "cluster", "--name", name, "--config", str(config_path),
                   "--kubeconfig", str(self.kubeconfig(name)), "--wait", "180s")
        return f"context kind-{name}"

    def _load_images(self, name: str, images: tuple[str, ...]) -> str:
        for image in images:
            self._kind("load", "docker-image", image, "--name", name)
        return f"{len(images)} image(s)"

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
        wait_until(lambda: (apps.read_namespaced_deployment("metrics-server", "kube-system").status.ready_replicas
                          or 0) >= 1, timeout=300, what="metrics-server ready")
        return "ready"

    def delete(self, name: str, progress: bool = True) -> DeleteResult:
        started = time.monotonic()
        existed = shutil.which("kind") is not None and self.exists(name)
        if existed:
            self._kind("delete", "cluster", "--name", name, "--kubeconfig", str(self.kubeconfig(name)))
        shutil.rmtree(self.workdir(name), ignore_errors=True)
        return DeleteResult(name, existed, existed, round(time.monotonic() - started, 2))

    def status(self, name: str) -> ClusterStatus:
        """Processes aside (Docker runs the nodes), the same facts as the local provider's status."""
        ok, why = self.available()
        exists = ok and self.exists(name)
        info = ClusterStatus("kind", name, exists, error=why)
        if not exists:
            return info
        info.kubeconfig, info.context = str(self.kubeconfig(name)), f"kind-{name}"
        info.extra["containers"] = self._kind("get", "nodes", "--name", name).split()
        url = version = ""
        try:
            from kubernetes import client

            api_client = self.ref(name).api_client()
            url = api_client.configuration.host
            version = client.VersionApi(api_client).get_code(_request_timeout=5).git_version
            for node in client.CoreV1Api(api_client).list_node(_request_timeout=10).items:
                labels = node.metadata.labels or {}
                alloc = node.status.allocatable or {}
                info.nodes.append(NodeStatus(node.metadata.name, is_ready(node), REAL,
                                             labels.get(ZONE, "-"),
                                             alloc.get("cpu"), alloc.get("memory"),
                                             tuple(f"{t.key}:{t.effect}" for t in node.spec.taints or [])))
            info.api_server = ApiServerStatus(True, url, version)
        except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
            info.api_server = ApiServerStatus(False, url, version,
                                              str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        info.ok = info.api_server.reachable and bool(info.nodes) and all(n.ready for n in info.nodes)
        return info
