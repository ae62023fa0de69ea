"""The real Milvus engine behind a local cluster, and the kwok rules that reach it.

milvus-lite (`python -m milvus_lite server`) runs on 127.0.0.1:<free port> with its data under
the cluster folder. A kwok ClusterPortForward sends a port-forward to port 19530 of a pod to that
server, and port 9091 to the agent's /healthz endpoint, so `kubectl port-forward` or
deploytool.core.portforward.PodPortForward to a Milvus proxy/standalone pod reaches a real
Milvus. (kwok's selectors match namespaces and names only, not labels, so the rule covers every
pod; in our chart only proxy/standalone pods serve 19530.)

A kwok ClusterResourceUsage gives every container a small CPU/memory usage, overridable per pod
with the annotations kwok.x-k8s.io/usage-cpu / kwok.x-k8s.io/usage-memory, or per pod with a
ResourceUsage object named after the pod.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.base import NODE_KIND_LABEL, SIMULATED
from deploytool.core import procs
from deploytool.core.labels import MILVUS_PORT

KWOK_GROUP = "kwok.x-k8s.io"
KWOK_API_VERSION = "v1alpha1"
HEALTH_PORT = 9091
PORT_FORWARD_RULE = "milvus-engine"
USAGE_RULE = "deploytool-default-usage"
USAGE_CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
USAGE_MEMORY_ANNOTATION = "kwok.x-k8s.io/usage-memory"
DEFAULT_CPU = "5m"
DEFAULT_MEMORY = "64Mi"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def milvus_lite_installed() -> bool:
    return importlib.util.find_spec("milvus_lite") is not None


def start_milvus_lite(data_dir: Path, port: int, pid_file: Path, log_file: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir),
            "--host", "127.0.0.1", "--port", str(port)]
    return procs.start_daemon(argv, pid_file=pid_file, log_file=log_file)


def port_forward_rule(milvus_port: int, health_port: int | None) -> dict[str, Any]:
    forwards: list[dict[str, Any]] = [{"ports": [MILVUS_PORT], "target": {"address": "127.0.0.1", "port": milvus_port}}]
    if health_port:
        forwards.append({"ports": [HEALTH_PORT], "target": {"address": "127.0.0.1", "port": health_port}})
    return {
        "apiVersion": f"{KWOK_GROUP}/{KWOK_API_VERSION}",
        "kind": "ClusterPortForward",
        "metadata": {"name": PORT_FORWARD_RULE},
        "spec": {"forwards": forwards},
    }


def usage_rule(cpu: str = DEFAULT_CPU, memory: str = DEFAULT_MEMORY) -> dict[str, Any]:
    def expression(annotation: str, default: str) -> str:
        return (f'"{annotation}" in pod.metadata.annotations '
                f'? Quantity(pod.metadata.annotations["{annotation}"]) : Quantity("{default}")')

    return {
        "apiVersion": f"{KWOK_GROUP}/{KWOK_API_VERSION}",
        "kind": "ClusterResourceUsage",
        "metadata": {"name": USAGE_RULE},
        "spec": {"usages": [{"usage": {
            "cpu": {"expression": expression(USAGE_CPU_ANNOTATION, cpu)},
            "memory": {"expression": expression(USAGE_MEMORY_ANNOTATION, memory)},
        }}]},
    }


BASELINE_NAME = "node-baseline"
BASELINE_CPU = "50m"
BASELINE_MEMORY = "256Mi"


def baseline_daemonset() -> dict[str, Any]:
    """A system pod on every simulated node (like kube-proxy) so nodes report usage before anything is deployed.

    No requests (it takes no schedulable capacity); tolerates every taint, like real node agents.
    """
    labels = {"app.kubernetes.io/name": BASELINE_NAME, "app.kubernetes.io/part-of": "deploytool-local-cluster"}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": BASELINE_NAME, "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {USAGE_CPU_ANNOTATION: BASELINE_CPU,
                                                               USAGE_MEMORY_ANNOTATION: BASELINE_MEMORY}},
                "spec": {
                    "containers": [{"name": "agent", "image": "registry.k8s.io/pause:3.10"}],
                    "tolerations": [{"operator": "Exists"}],
                    # simulated nodes only: a real node runs real node agents (kube-proxy is on the host)
                    "nodeSelector": {NODE_KIND_LABEL: SIMULATED},
                    "priorityClassName": "system-node-critical",
                    "automountServiceAccountToken": False,
                },
            },
        },
    }


def ensure_baseline(apps: client.AppsV1Api) -> None:
    try:
        apps.create_namespaced_daemon_set("kube-system", baseline_daemonset())
    except ApiException as exc:
        if exc.status != 409:
            raise


def apply_cluster_object(custom: client.CustomObjectsApi, plural: str, body: dict[str, Any]) -> None:
    """Create a cluster-scoped kwok object, or replace its spec if it exists."""
    name = body["metadata"]["name"]
    try:
        custom.create_cluster_custom_object(KWOK_GROUP, KWOK_API_VERSION, plural, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        custom.patch_cluster_custom_object(KWOK_GROUP, KWOK_API_VERSION, plural, name, {"spec": body["spec"]})


def crds_established(extensions: client.ApiextensionsV1Api, plurals: list[str]) -> bool:
    for plural in plurals:
        try:
            crd = extensions.read_custom_resource_definition(f"{plural}.{KWOK_GROUP}", _request_timeout=10)
        except ApiException:
            return False
        conditions = {c.type: c.status for c in (crd.status.conditions or [])} if crd.status else {}
        if conditions.get("Established") != "True":
            return False
    return True
