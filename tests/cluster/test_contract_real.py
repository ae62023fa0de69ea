"""Milvus's runtime contract and memory limits on real pods: staging on three real nodes (one cluster
for the module, deleted also on failure), where the chart's Milvus pods are real containers of the
stand-in (docs/milvus-standin.md) and etcd and MinIO are the real servers.

- verify reads /healthz from every Milvus pod, through the API server's pod proxy;
- a querynode whose memory limit is below what it holds is OOM-killed by the kernel, the other
  roles keep running, and the `oom-killed` check names the pod and its limit;
- a surging second mixcoord without active-standby (the chart refuses it: Recreate strategy and the
  rule mixcoord-exclusive-session; forced here by patching the live Deployment) cannot register its
  exclusive session and crash-loops, while the first keeps serving;
- a streamingnode on an object store without conditional writes crash-loops on woodpecker's start-up
  check. The store is moto 4.2's S3 server on the host, standing for a MinIO release from before
  conditional writes (such MinIO releases cannot be had here: tests/milvus_standin/conftest.py);
- with a simulated node added, verify skips the pod bound to it by name and reads the real ones.

Each breaking test patches one live Deployment and restores it (spec.template and strategy) at the end,
also on failure, so the next test starts from the release as `up` left it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from real_up import UpCluster, up_on_real_nodes, wait

from deploytool.clusters.base import NODE_KIND_LABEL, REAL
from deploytool.clusters.local import nodes
from deploytool.core.conditions import is_ready

pytestmark = pytest.mark.cluster

NS, ENV = "milvus-staging", "staging"
COMPONENT = "app.kubernetes.io/component"
MILVUS_ROLES = ("proxy", "mixcoord", "querynode", "datanode", "streamingnode")


@pytest.fixture(scope="module")
def staging(cluster_lifetime: Any) -> Iterator[UpCluster]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEPLOYTOOL_S3_ACCESS_KEY", "real-contract-access")
        mp.setenv("DEPLOYTOOL_S3_SECRET_KEY", "real-contract-secret")
        yield from up_on_real_nodes(cluster_lifetime, ENV, 3, prefix="rn-verify")


def _pods(staging: UpCluster, component: str | None = None) -> list[Any]:
    selector = f"{COMPONENT}={component}" if component else None
    pods = staging.kube.core.list_namespaced_pod(NS, label_selector=selector).items
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def _restarts(pod: Any) -> int:
    return sum(s.restart_count or 0 for s in pod.status.container_statuses or [])


def _serving(staging: UpCluster) -> dict[str, int]:
    """Every pod of the namespace that is Ready now, with its restart count."""
    return {p.metadata.name: _restarts(p) for p in _pods(staging) if is_ready(p)}


def _deployment(component: str) -> str:
    return f"milvus-{component}"


def _settled(staging: UpCluster, component: str) -> bool:
    d = staging.kube.apps.read_namespaced_deployment(_deployment(component), NS)
    st = d.status
    return (st.observed_generation or 0) >= d.metadata.generation and \
        (st.replicas or 0) == (st.updated_replicas or 0) == (st.ready_replicas or 0) == (d.spec.replicas or 0)


@contextlib.contextmanager
def _patched(staging: UpCluster, component: str, container_patch: dict[str, Any],
             strategy: dict[str, Any] | None = None) -> Iterator[None]:
    """Patch one container of a live Deployment (strategic merge: env by name, resources by key),
    optionally replacing its strategy first; restore the template and strategy afterwards, also on
    failure, and wait until the Deployment has settled back."""
    apps, name = staging.kube.apps, _deployment(component)
    live = apps.read_namespaced_deployment(name, NS)
    saved = staging.kube.api.sanitize_for_serialization(live.spec)
    try:
        if strategy is not None:
            apps.patch_namespaced_deployment(name, NS, [{"op": "replace", "path": "/spec/strategy", "value": strategy}])
        apps.patch_namespaced_deployment(name, NS, {"spec": {"template": {"spec": {"containers": [
            {"name": component, **container_patch}]}}}})
        yield
    finally:
        apps.patch_namespaced_deployment(name, NS, [
            {"op": "replace", "path": "/spec/template", "value": saved["template"]},
            {"op": "replace", "path": "/spec/strategy", "value": saved["strategy"]}])
        wait(lambda: _settled(staging, component), 180, f"{name} settled back to the release's template")


def _new_pod(staging: UpCluster, component: str, env_name: str) -> Any:
    """A pod of the component whose container has env_name (i.e. from the patched template)."""
    for pod in _pods(staging, component):
        if any(e.name == env_name for e in pod.spec.containers[0].env or []):
            return pod
    return None


def _backing_off(pod: Any) -> bool:
    """Failed at least twice: the kubelet waits (CrashLoopBackOff) before the next start."""
    status = (pod.status.container_statuses or [None])[0] if pod else None
    waiting = status.state.waiting if status and status.state else None
    return bool(status and status.restart_count and waiting and waiting.reason == "CrashLoopBackOff")


def _log_with(staging: UpCluster, pod: str, text: str, timeout: float = 60) -> str:
    """The log of the pod's previous or current container run that contains `text`. The kubelet
    may already have removed a dead container's log when a newer run died (its container GC
    keeps one), so both runs are read, until one says it."""
    def read() -> str | None:
        for previous in (True, False):
            with contextlib.suppress(ApiException):
                log = str(staging.kube.core.read_namespaced_pod_log(pod, NS, previous=previous))
                if text in log:
                    return log
        return None

    return str(wait(read, timeout, f"{text!r} in the log of {pod}"))


def _unchanged(staging: UpCluster, before: dict[str, int], skip: str = "") -> None:
    """Every pod that served before still serves, with no new restart (the patched one aside)."""
    now = _serving(staging)
    for pod, restarts in before.items():
        if skip and pod.startswith(_deployment(skip) + "-"):
            continue
        assert pod in now, f"{pod} no longer Ready"
        assert now[pod] == restarts, f"{pod} restarted ({restarts} -> {now[pod]})"


def test_verify_reads_healthz_from_every_milvus_pod_on_the_real_nodes(staging: UpCluster) -> None:
    real = {n.metadata.name for n in staging.kube.core.list_node().items
            if (n.metadata.labels or {}).get(NODE_KIND_LABEL) == REAL}
    milvus_pods = [p for p in _pods(staging) if p.metadata.labels.get(COMPONENT) in MILVUS_ROLES]
    assert len(milvus_pods) >= 7 and all(p.spec.node_name in real for p in milvus_pods)  # 2 proxies, 2 querynodes
    started = time.monotonic()
    result = staging.cli("verify", "--env", ENV, "--check", "milvus", "--output", "json")
    assert result.exit_code == 0, result.output
    [milvus] = json.loads(result.stdout)["results"]
    evidence = "\n".join(milvus["evidence"])
    assert milvus["status"] == "pass" and "not checked" not in evidence, evidence
    for pod in milvus_pods:
        assert f"{pod.metadata.name} /healthz: OK (via api-server pod proxy)" in evidence, (pod.metadata.name, evidence)
    assert f"/healthz read from {len(milvus_pods)} Milvus pod(s) on real nodes" in evidence
    print(f"verify --check milvus on {len(milvus_pods)} real pods: {time.monotonic() - started:.1f}s")


def test_a_querynode_over_its_memory_limit_is_oom_killed_while_the_other_roles_run(staging: UpCluster) -> None:
    before = _serving(staging)
    assert len(before) >= 9, before
    # The stand-in holds 256 MiB from its start (STANDIN_MEMORY_MB, a stand-in knob); the limit is half that.
    patch = {"env": [{"name": "STANDIN_MEMORY_MB", "value": "256"}],
             "resources": {"requests": {"memory": "64Mi"}, "limits": {"memory": "128Mi"}}}
    with _patched(staging, "querynode", patch):
        def oom_killed() -> Any:
            pod = _new_pod(staging, "querynode", "STANDIN_MEMORY_MB")
            status = (pod.status.container_statuses or [None])[0] if pod else None
            last = status.last_state.terminated if status and status.last_state else None
            return (pod, last) if last and last.reason == "OOMKilled" else None

        pod, last = wait(oom_killed, 150, "the querynode over its limit OOM-killed and restarted")
        name = pod.metadata.name
        assert last.exit_code == 137
        assert pod.spec.containers[0].resources.limits["memory"] == "128Mi"
        log = _log_with(staging, name, "allocating 256 MiB")
        assert "holding 256 MiB" not in log, log[-2000:]  # killed mid-allocation, by the kernel
        _unchanged(staging, before)  # every other role, and the querynodes within their limits, keep running
        result = staging.cli("verify", "--env", ENV, "--check", "oom-killed", "--output", "json")
        assert result.exit_code == 1, result.output
        [check] = json.loads(result.stdout)["results"]
        evidence = "\n".join(check["evidence"])
        assert check["status"] == "fail"
        assert f"pod {name} (node {pod.spec.node_name}) container querynode" in evidence, evidence
        assert "by the kernel at its memory limit 128Mi (OOMKilled" in evidence, evidence
        assert len(check["evidence"]) == 1 or "simulated" in check["evidence"][1], "only the patched pod fails"
    result = staging.cli("verify", "--env", ENV, "--check", "oom-killed", "--output", "json")
    assert result.exit_code == 0, result.output  # the OOM-killed pod is gone with the patch


def test_a_surging_second_mixcoord_without_active_standby_crash_loops_and_the_first_serves(
        staging: UpCluster) -> None:
    before = _serving(staging)
    [first] = [p for p in _pods(staging, "mixcoord") if is_ready(p)]
    # What the chart refuses (Recreate without active-standby): a surge, the new pod beside the old.
    # COMMON_SESSION_RETRYTIMES is Milvus's own common.session.retryTimes, read from the environment
    # (30 tries by default); 3 keeps the test short.
    surge = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    with _patched(staging, "mixcoord", {"env": [{"name": "COMMON_SESSION_RETRYTIMES", "value": "3"}]}, surge):
        def crash_looping() -> Any:
            pod = _new_pod(staging, "mixcoord", "COMMON_SESSION_RETRYTIMES")
            return pod if _backing_off(pod) else None

        second = wait(crash_looping, 150, "the surging mixcoord to fail its registration and restart")
        assert second.metadata.name != first.metadata.name
        _log_with(staging, second.metadata.name, "Register failed")
        assert second.status.container_statuses[0].last_state.terminated.exit_code == 1
        _unchanged(staging, before)  # the first mixcoord included: it keeps its session and serves
        healthz = staging.kube.core.connect_get_namespaced_pod_proxy_with_path(
            f"{first.metadata.name}:9091", NS, "healthz")
        assert str(healthz).strip() == "OK"

        def workloads_fails() -> Any:  # while the surging pod backs off between its failed starts
            result = staging.cli("verify", "--env", ENV, "--check", "workloads", "--output", "json")
            return result if result.exit_code == 1 and second.metadata.name in result.stdout else None

        result = wait(workloads_fails, 60, "verify's workloads check to name the crash-looping mixcoord")
        assert "CrashLoopBackOff" in result.stdout


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_conditional_write_store(staging: UpCluster, tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """moto 4.2's S3 server on the host, listening on a real node's address (the host's side of that
    node's bridge), which every pod reaches through its node's gateway."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "milvus_standin"))
    try:
        from standin_procs import moto_server
    finally:
        sys.path.pop(0)
    binary = moto_server()
    node = next(n for n in staging.kube.core.list_node().items
                if (n.metadata.labels or {}).get(NODE_KIND_LABEL) == REAL)
    host = next(a.address for a in node.status.addresses if a.type == "InternalIP")
    port, log = _free_port(host), tmp_path / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(binary), "-H", host, "-p", str(port)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        def listening() -> bool:
            assert proc.poll() is None, log.read_text()[-2000:]
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
                return True
            return False

        wait(listening, 60, "moto's S3 server listening")
        yield host, port, log
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_streamingnode_on_a_store_without_conditional_writes_crash_loops(
        staging: UpCluster, no_conditional_write_store: tuple[str, int, Path]) -> None:
    host, port, store_log = no_conditional_write_store
    before = _serving(staging)
    # MINIO_ADDRESS / MINIO_PORT are Milvus's own minio.address / minio.port, read from the environment.
    patch = {"env": [{"name": "MINIO_ADDRESS", "value": host}, {"name": "MINIO_PORT", "value": str(port)}]}
    with _patched(staging, "streamingnode", patch):
        def crash_looping() -> Any:
            pod = _new_pod(staging, "streamingnode", "MINIO_ADDRESS")
            return pod if _backing_off(pod) else None

        pod = wait(crash_looping, 240, "the streamingnode on the store without conditional writes to restart")
        _log_with(staging, pod.metadata.name, "does not support conditional writes (If-None-Match: *)")
        assert pod.status.container_statuses[0].last_state.terminated.exit_code == 1
        assert '"PUT /' in store_log.read_text()  # it wrote to that store, not to the release's MinIO
        _unchanged(staging, before)  # the streamingnode on MinIO included (maxUnavailable 0)


def test_a_cluster_with_both_kinds_of_node_is_judged_pod_by_pod(staging: UpCluster) -> None:
    """A simulated (kwok) node joins the cluster with one Milvus-labelled pod bound to it: verify
    skips that pod by name and still reads /healthz from every real one (a per-cluster flag would
    have skipped them all). The pod has no pod-template-hash, so no ReplicaSet adopts it; the node
    is tainted so that nothing else is scheduled there; both are deleted at the end."""
    core = staging.kube.core
    real_pods = [p for p in _pods(staging) if p.metadata.labels.get(COMPONENT) in MILVUS_ROLES]
    node = nodes.node_manifest(90, "4", "8Gi")
    node["spec"]["taints"] = [{"key": "deploytool.io/test", "value": "mixed", "effect": "NoSchedule"}]
    node_name, pod_name = node["metadata"]["name"], "milvus-querynode-on-kwok"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod_name, "labels": {
        COMPONENT: "querynode", "app.kubernetes.io/instance": "milvus"}}, "spec": {
        "nodeName": node_name, "containers": [{"name": "querynode", "image": "localhost/deploytool/not-run:x"}],
        "tolerations": [{"key": "deploytool.io/test", "operator": "Exists"}]}}
    core.create_node(node)
    try:
        core.create_namespaced_pod(NS, pod)
        wait(lambda: (lambda p: p.status.phase == "Running" and p.status.pod_ip)(
            core.read_namespaced_pod(pod_name, NS)), 60, "the pod on the simulated node Running")
        result = staging.cli("verify", "--env", ENV, "--check", "milvus", "--output", "json")
        assert result.exit_code == 0, result.output
        evidence = "\n".join(json.loads(result.stdout)["results"][0]["evidence"])
        assert f"/healthz not checked on 1 pod(s) simulated by kwok ({pod_name})" in evidence, evidence
        assert f"/healthz read from {len(real_pods)} Milvus pod(s) on real nodes" in evidence, evidence
    finally:
        with contextlib.suppress(ApiException):
            core.delete_namespaced_pod(pod_name, NS, grace_period_seconds=0)
        core.delete_node(node_name)
