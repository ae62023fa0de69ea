"""The local provider against a real control plane: scheduling, storage, services, metrics, Milvus.

Run: .venv/bin/pytest -m cluster tests/cluster -x   (needs the pinned tools: make tools)
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.local import kwok
from deploytool.clusters.local import milvus as local_milvus
from deploytool.clusters.local import nodes as local_nodes
from deploytool.clusters.local.layout import Layout
from deploytool.core import procs
from deploytool.core.conditions import is_ready, pod_ready
from deploytool.core.portforward import PodPortForward

pytestmark = pytest.mark.cluster
Cluster = Any  # conftest.Cluster: provider, ref, api, core, apps, custom

DEPLOYTOOL = [sys.executable, "-c", "from deploytool.cli.main import run; run()"]


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 1.0, what: str = "condition") -> Any:
    """Poll check() until truthy (returned); fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except ApiException as exc:
            last = f"{exc.status} {exc.reason}"
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def deployment(name: str, replicas: int, labels: dict[str, str], **pod_spec: Any) -> dict[str, Any]:
    annotations = pod_spec.pop("annotations", {})
    spec = {"containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}], **pod_spec}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec}},
    }


def pods_by_phase(core: client.CoreV1Api, namespace: str, selector: str) -> dict[str, list[Any]]:
    phases: dict[str, list[Any]] = {}
    for pod in core.list_namespaced_pod(namespace, label_selector=selector).items:
        phases.setdefault(pod.status.phase or "Unknown", []).append(pod)
    return phases


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run deploytool with captured output: a daemon holding our pipes would make this time out."""
    return subprocess.run([*DEPLOYTOOL, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


# -- the daemon helper (no cluster needed) ---------------------------------------------------------

def test_daemon_start_stop_never_holds_output(tmp_path: Path) -> None:
    pid_file, log_file = tmp_path / "d.pid", tmp_path / "d.log"
    code = ("import subprocess, sys; from deploytool.core import procs; "
            f"print(procs.start_daemon([sys.executable, '-c', 'import time; print(1, flush=True); time.sleep(60)'], "
            f"pid_file={str(pid_file)!r}, log_file={str(log_file)!r}))")
    start = time.monotonic()
    # capture_output: if the daemon inherited our stdout, communicate() would wait for it (60s).
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - start < 20
        pid = int(done.stdout.strip())
        assert procs.is_alive(pid_file)
        assert os.getpgid(pid) == pid  # its own session / process group
        wait_until(lambda: "1" in log_file.read_text().splitlines()[-1:], 10, 0.2, "daemon output in its log")
        assert procs.stop_daemon(pid_file, timeout=5)
        assert not pid_file.exists()
        assert not procs.pid_alive(pid)
    finally:
        procs.stop_daemon(pid_file, timeout=5)  # never leave the daemon behind, also when an assert failed


# -- the cluster -----------------------------------------------------------------------------------

def test_nodes_ready_with_zones(local_cluster: Cluster) -> None:
    nodes = local_cluster.core.list_node().items
    assert len(nodes) == 3
    zones = set()
    for node in nodes:
        labels, annotations = node.metadata.labels, node.metadata.annotations
        assert is_ready(node), node.metadata.name
        assert labels["kubernetes.io/hostname"] == node.metadata.name
        assert labels["kubernetes.io/os"] == "linux"
        assert labels["type"] == "kwok"
        assert labels["deploytool.io/node-kind"] == "simulated"
        assert annotations["kwok.x-k8s.io/node"] == "fake"
        assert not node.spec.taints
        assert node.status.allocatable["cpu"] == "16"
        assert node.status.allocatable["memory"] == "64Gi"
        assert node.status.allocatable["pods"] == "110"
        zones.add(labels["topology.kubernetes.io/zone"])
    assert zones == {"zone-a", "zone-b", "zone-c"}


def test_create_is_idempotent(local_cluster: Cluster) -> None:
    start = time.monotonic()
    ref = local_cluster.provider.create(local_cluster.name, progress=False)
    assert ref == local_cluster.ref
    assert time.monotonic() - start < 15
    assert ref.context == local_cluster.name
    assert Path(ref.kubeconfig).is_file()


def test_statefulset_claims_bind_and_pods_run(local_cluster: Cluster, namespace: str) -> None:
    core, labels = local_cluster.core, {"app": "db"}
    sts = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {
            "serviceName": "db", "replicas": 3, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                "name": "db", "image": "registry.k8s.io/pause:3.10",
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            # no storageClassName: the default class must be used
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "100Gi"}}}}],
        },
    }
    local_cluster.apps.create_namespaced_stateful_set(namespace, sts)
    core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "extra"},
        "spec": {"storageClassName": "standard", "accessModes": ["ReadWriteOnce"],
                 "resources": {"requests": {"storage": "5Gi"}}}})

    def claims_bound() -> bool:
        claims = core.list_namespaced_persistent_volume_claim(namespace).items
        return len(claims) == 4 and all(c.status.phase == "Bound" for c in claims)

    wait_until(claims_bound, 90, what="4 Bound PVCs")
    claims = {c.metadata.name: c for c in core.list_namespaced_persistent_volume_claim(namespace).items}
    assert {f"data-db-{i}" for i in range(3)} | {"extra"} == set(claims)
    assert claims["data-db-0"].spec.storage_class_name == "standard"
    assert claims["data-db-0"].status.capacity["storage"] == "100Gi"
    assert claims["extra"].status.capacity["storage"] == "5Gi"
    wait_until(lambda: sum(pod_ready(p) for p in core.list_namespaced_pod(namespace).items) == 3, 90,
               what="3 ready StatefulSet pods")


def test_required_anti_affinity_leaves_one_pending(local_cluster: Cluster, namespace: str) -> None:
    labels = {"app": "spread"}
    affinity = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}}
    local_cluster.apps.create_namespaced_deployment(namespace, deployment("spread", 4, labels, affinity=affinity))

    def settled() -> dict[str, list[Any]] | None:
        phases = pods_by_phase(local_cluster.core, namespace, "app=spread")
        running, pending = phases.get("Running", []), phases.get("Pending", [])
        if len(running) == 3 and len(pending) == 1:
            return phases
        return None

    phases = wait_until(settled, 90, what="3 Running + 1 Pending")
    assert len({p.spec.node_name for p in phases["Running"]}) == 3
    pending = phases["Pending"][0]
    assert not pending.spec.node_name
    scheduled = [c for c in (pending.status.conditions or []) if c.type == "PodScheduled"]
    assert scheduled and scheduled[0].status == "False" and scheduled[0].reason == "Unschedulable"
    time.sleep(3)  # still exactly one pending a moment later (the real scheduler keeps it there)
    assert len(pods_by_phase(local_cluster.core, namespace, "app=spread").get("Pending", [])) == 1


def test_service_gets_endpoints_for_ready_pods(local_cluster: Cluster, namespace: str) -> None:
    labels = {"app": "web"}
    local_cluster.apps.create_namespaced_deployment(namespace, deployment("web", 2, labels))
    local_cluster.core.create_namespaced_service(namespace, {
        "metadata": {"name": "web"}, "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
    discovery = client.DiscoveryV1Api(local_cluster.api)

    def ready_endpoints() -> list[str]:
        slices = discovery.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=web")
        addresses = [a for s in slices.items for e in (s.endpoints or [])
                     if e.conditions and e.conditions.ready for a in e.addresses]
        return addresses if len(addresses) == 2 else []

    addresses = wait_until(ready_endpoints, 90, what="2 ready endpoints")
    pods = local_cluster.core.list_namespaced_pod(namespace, label_selector="app=web").items
    pod_ips = {p.status.pod_ip for p in pods}
    assert set(addresses) == pod_ips


def test_metrics_server_reports_node_and_simulated_pod_usage(local_cluster: Cluster, namespace: str) -> None:
    labels = {"app": "busy"}
    local_cluster.apps.create_namespaced_deployment(namespace, deployment(
        "busy", 1, labels, annotations={local_milvus.USAGE_CPU_ANNOTATION: "250m"}))
    custom = local_cluster.custom

    def node_metrics() -> list[Any]:
        items = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]
        return items if len(items) == 3 else []

    nodes = wait_until(node_metrics, 150, 3, "metrics.k8s.io node metrics for 3 nodes")
    assert all("cpu" in n["usage"] and "memory" in n["usage"] for n in nodes)

    def pod_cpu_millis() -> float:
        items = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods")["items"]
        if not items:
            return 0
        usage = items[0]["containers"][0]["usage"]["cpu"]
        return float(usage[:-1]) / 1e6 if usage.endswith("n") else float(usage.rstrip("m"))

    millis = wait_until(pod_cpu_millis, 150, 3, "pod metrics of the annotated pod")
    assert 200 <= millis <= 300, millis  # the simulated usage set by the pod's annotation


def test_pymilvus_through_pod_port_forward(local_cluster: Cluster, namespace: str) -> None:
    from pymilvus import DataType, MilvusClient

    labels = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/component": "proxy",
              "app.kubernetes.io/instance": "t"}
    local_cluster.apps.create_namespaced_deployment(namespace, deployment("milvus-proxy", 1, labels))
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    pod = wait_until(lambda: next((p for p in local_cluster.core.list_namespaced_pod(
        namespace, label_selector=selector).items if pod_ready(p)), None), 90, what="a ready proxy pod")
    name = f"t_{uuid.uuid4().hex[:8]}"
    rng = random.Random(7)
    vectors = [[rng.random() for _ in range(8)] for _ in range(1000)]
    forward = PodPortForward(local_cluster.core, namespace, pod.metadata.name, 19530)
    with forward as local_port:
        milvus = MilvusClient(uri=f"http://127.0.0.1:{local_port}", timeout=30)
        try:
            assert milvus.get_server_version()
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=8)
            milvus.create_collection(name, schema=schema)
            result = milvus.insert(name, [{"id": i, "vector": v} for i, v in enumerate(vectors)])
            assert result["insert_count"] == 1000
            index = milvus.prepare_index_params()
            index.add_index(field_name="vector", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 16})
            milvus.create_index(name, index)
            milvus.load_collection(name)
            hits = milvus.search(name, data=[vectors[123]], limit=3, search_params={"metric_type": "L2"})
            assert hits[0][0]["id"] == 123
            milvus.drop_collection(name)
            assert name not in milvus.list_collections()
        finally:
            milvus.close()
    assert forward.connections >= 1
    assert not forward.errors, forward.errors
    # port 9091 of the same pod answers /healthz (the agent's endpoint)
    with PodPortForward(local_cluster.core, namespace, pod.metadata.name, 9091) as health_port:
        body = urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=10).read()
    assert body == b"OK"


def test_node_failure_and_recovery(local_cluster: Cluster) -> None:
    """The drill mechanism: a node whose Lease nobody renews goes NotReady, tainted; then recovers."""
    core, coordination = local_cluster.core, client.CoordinationV1Api(local_cluster.api)
    node = "kwok-node-3"

    def node_ready() -> bool:
        return is_ready(core.read_node(node))

    local_nodes.set_node_failed(coordination, node, True)
    try:
        wait_until(lambda: not node_ready(), 120, 2, f"{node} NotReady")

        def taints() -> set[tuple[str, str]]:
            return {(t.key, t.effect) for t in core.read_node(node).spec.taints or []}

        # the node lifecycle controller adds NoSchedule with NotReady, NoExecute on a later (rate-limited) pass
        wait_until(lambda: ("node.kubernetes.io/unreachable", "NoExecute") in taints(), 30, 1,
                   f"{node} tainted unreachable:NoExecute")
    finally:
        local_nodes.set_node_failed(coordination, node, False)
    wait_until(node_ready, 60, 1, f"{node} Ready again")
    wait_until(lambda: not core.read_node(node).spec.taints, 60, 1, f"{node} untainted")


def test_cli_status_json(local_cluster: Cluster) -> None:
    done = run_cli("cluster", "status", "--name", local_cluster.name, "--output", "json", timeout=60)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["ok"] is True
    assert info["provider"] == "local" and info["name"] == local_cluster.name
    assert info["api_server"]["reachable"] and info["api_server"]["version"] == "v1.34.4"
    assert info["nodes"]["ready"] == info["nodes"]["total"] == 3
    assert {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller",
            "metrics-server", "agent", "milvus-lite"} <= set(info["processes"])
    assert all(p["alive"] for p in info["processes"].values())
    assert info["milvus"]["up"] and info["context"] == local_cluster.name


def test_cli_create_then_delete_leaves_nothing(local_cluster: Cluster) -> None:
    """A second cluster beside the session's: create (pipes captured), status, delete -> no pids, no files."""
    name = f"{local_cluster.name}-cli"
    layout = Layout(name)
    try:
        created = run_cli("cluster", "create", "--name", name, "--nodes", "1", "--node-cpu", "4",
                          "--node-memory", "8Gi", timeout=300)
        assert created.returncode == 0, created.stderr
        assert "✓ control plane" in created.stderr and "✓ nodes" in created.stderr
        again = run_cli("cluster", "create", "--name", name, "--nodes", "1", timeout=120)
        assert again.returncode == 0 and "reusing" in again.stderr
        status = json.loads(run_cli("cluster", "status", "--name", name, "--output", "json", timeout=60).stdout)
        assert status["ok"] and status["nodes"]["total"] == 1
        # it lives beside the session's cluster, on other ports
        session = local_cluster.provider.status(local_cluster.name)
        assert session.ok and status["ports"]["kube-apiserver"] != session.ports["kube-apiserver"]
        pids = [p["pid"] for p in status["processes"].values() if p["pid"]]
        assert len(pids) == 8
        deleted = run_cli("cluster", "delete", "--name", name, "--output", "json", timeout=180)
        assert deleted.returncode == 0, deleted.stderr
        result = json.loads(deleted.stdout)
        assert result["deleted"] and not result["leftover_pids"]
        # delete returned: every process has exited (no thread of it runs), none runs from the folder
        assert not [pid for pid in pids if procs.pid_alive(pid)]
        assert not kwok.leftover_processes(layout.root)
        assert not layout.root.exists()
        again = run_cli("cluster", "delete", "--name", name, timeout=60)
        assert again.returncode == 0 and "nothing to delete" in again.stderr
        # a create of the same name right after the delete starts from a clean slate and works
        recreated = run_cli("cluster", "create", "--name", name, "--nodes", "1", "--node-cpu", "4",
                            "--node-memory", "8Gi", timeout=300)
        assert recreated.returncode == 0, recreated.stderr
        assert "reusing" not in recreated.stderr and "leftovers" not in recreated.stderr
        status = json.loads(run_cli("cluster", "status", "--name", name, "--output", "json", timeout=60).stdout)
        assert status["ok"], status
        assert not {p["pid"] for p in status["processes"].values()} & set(pids)  # all new processes
    finally:
        local_cluster.provider.delete(name, progress=False)
