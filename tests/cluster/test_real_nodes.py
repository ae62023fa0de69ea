"""Real nodes (kubelet + containerd + runc) in the local cluster: real containers, real failures.

One cluster `dt-real-<random>` with two real nodes and no kwok node for the module (one cluster
with real nodes per machine: the fixture waits for another session's to go), the test image
localhost/deploytool/webapp built here and imported into both nodes. The last test deletes the
cluster and checks that no process, bridge, mount, cgroup or iptables chain is left; the fixture
deletes it too (also when a test failed or the run was interrupted).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from real_up import require_real_nodes

from deploytool.clusters.base import NODE_KIND_LABEL, REAL, ClusterSpec
from deploytool.clusters.local import LocalProvider, hostslot, images, kubelet, realnet, realnodes
from deploytool.clusters.local.layout import Layout
from deploytool.core.conditions import is_ready
from deploytool.core.errors import BadInput
from deploytool.core.kube import Kube
from deploytool.core.portforward import PodPortForward

pytestmark = pytest.mark.cluster

IMAGE_TAG = "t1"
NODES = 2


@dataclass
class RealCluster:
    provider: LocalProvider
    name: str
    kube: Kube  # .core, .apps, ...
    image: str  # the test image, imported into every real node

    @property
    def layout(self) -> Layout:
        return Layout(self.name)

    @property
    def core(self) -> client.CoreV1Api:
        return self.kube.core


def _wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except ApiException as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last: {last})" if last else ""))


@pytest.fixture(scope="module")
def real_cluster(cluster_lifetime: Any) -> Iterator[RealCluster]:
    provider = LocalProvider()
    require_real_nodes(provider)
    name = f"dt-real-{uuid.uuid4().hex[:6]}"
    hostslot.wait_free(name, timeout=900)  # another session's cluster with real nodes
    with cluster_lifetime(provider, name):  # deleted at the end, also on failure or SIGTERM
        for attempt in range(3):  # another session may take the machine's real-node slot first
            try:
                ref = provider.create(name, ClusterSpec(nodes=0, real_nodes=NODES), progress=True)
                break
            except BadInput as exc:
                if "has real nodes" not in str(exc) or attempt == 2:
                    raise
                hostslot.wait_free(name, timeout=900)
        built = images.build_image(images.program_image("webapp", IMAGE_TAG, exposed_ports=(8080,)))
        realnodes.import_into_nodes(Layout(name), [built])
        yield RealCluster(provider, name, Kube(str(ref.kubeconfig), ref.context), built.ref)


@pytest.fixture
def ns(real_cluster: RealCluster) -> Iterator[str]:
    name = f"r-{uuid.uuid4().hex[:8]}"
    core = real_cluster.core
    core.create_namespace({"metadata": {"name": name}})
    _wait(lambda: core.read_namespaced_service_account("default", name), 30, "the default service account")
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name, grace_period_seconds=0)
        except ApiException:
            pass


def _container(image: str, *args: str, memory: str = "64Mi", probes: bool = True, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "web", "image": image, "imagePullPolicy": "Never", "args": list(args),
                            "ports": [{"containerPort": 8080}],
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": memory}}}
    if probes:
        spec["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1}
        spec["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 2,
                                 "failureThreshold": 2}
    spec.update(extra)
    return spec


def _pod(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [container], "terminationGracePeriodSeconds": 1, **spec}}


def _ready_pod(core: client.CoreV1Api, ns: str, name: str, timeout: float = 60) -> Any:
    def ready() -> Any:
        pod = core.read_namespaced_pod(name, ns)
        return pod if is_ready(pod) else None

    return _wait(ready, timeout, f"pod {ns}/{name} Ready")


def _container_id(pod: Any) -> str:
    return str(pod.status.container_statuses[0].container_id).split("://", 1)[1]


# -- the nodes ------------------------------------------------------------------------------------

def test_real_nodes_are_ready_labelled_and_hold_a_share_of_the_machine(real_cluster: RealCluster) -> None:
    nodes = real_cluster.core.list_node().items
    assert sorted(n.metadata.name for n in nodes) == [f"real-node-{i}" for i in range(1, NODES + 1)]
    share = kubelet.share_of_machine(NODES)
    for node in nodes:
        assert is_ready(node)
        assert node.metadata.labels[NODE_KIND_LABEL] == REAL
        assert node.status.node_info.container_runtime_version.startswith("containerd://")
        internal = [a.address for a in node.status.addresses if a.type == "InternalIP"]
        assert internal and realnet.all_addresses_ours(internal)
        # allocatable is the node's share of this machine, not the whole machine
        alloc_mib = int(str(node.status.allocatable["memory"]).removesuffix("Ki")) // 1024
        assert abs(alloc_mib - share.memory_bytes // (1 << 20)) <= 1
    for node in realnodes.existing(real_cluster.layout):  # each kubelet is its node, under the Node authorizer
        subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(node.root / "pki" / "node.crt")],
                                 capture_output=True, text=True, check=True).stdout
        assert f"CN = system:node:{node.name}" in subject and "O = system:nodes" in subject
    status = real_cluster.provider.status(real_cluster.name)
    assert status.ok and {n.kind for n in status.nodes} == {REAL}
    assert all(status.processes[f"kubelet-real-node-{i}"].alive for i in range(1, NODES + 1))


# -- pods: probes, restarts, limits, port-forward ------------------------------------------------

def test_http_probes_make_a_locally_built_image_ready_and_a_killed_process_restarts(
        real_cluster: RealCluster, ns: str) -> None:
    core = real_cluster.core
    core.create_namespaced_pod(ns, _pod("web", _container(real_cluster.image)))
    pod = _ready_pod(core, ns, "web")
    assert realnet.all_addresses_ours([pod.status.pod_ip])
    assert pod.status.container_statuses[0].restart_count == 0
    # the process really runs: kill it on its node, the kubelet restarts the container
    node = realnodes.RealNode(real_cluster.layout, int(pod.spec.node_name.rsplit("-", 1)[1]))
    subprocess.run(["ctr", "--address", str(node.socket), "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL",
                    _container_id(pod)], check=True, capture_output=True, timeout=30)

    def restarted() -> Any:
        current = core.read_namespaced_pod("web", ns)
        status = current.status.container_statuses[0]
        return current if status.restart_count >= 1 and is_ready(current) else None

    after = _wait(restarted, 60, "the killed container restarted and Ready again")
    last = after.status.container_statuses[0].last_state.terminated
    assert last is not None and last.exit_code == 137


def test_a_container_over_its_memory_limit_is_oom_killed_while_one_within_it_runs(
        real_cluster: RealCluster, ns: str) -> None:
    core = real_cluster.core
    core.create_namespaced_pod(ns, _pod("hog", _container(real_cluster.image, "--alloc-mb=200", memory="48Mi",
                                                          probes=False), restartPolicy="Never"))
    core.create_namespaced_pod(ns, _pod("modest", _container(real_cluster.image, "--alloc-mb=16", memory="96Mi")))

    def oom() -> Any:
        statuses = core.read_namespaced_pod("hog", ns).status.container_statuses or []
        return statuses[0].state.terminated if statuses and statuses[0].state.terminated else None

    terminated = _wait(oom, 60, "hog terminated")
    assert terminated.reason == "OOMKilled" and terminated.exit_code == 137
    modest = _ready_pod(core, ns, "modest")
    time.sleep(2)
    modest = core.read_namespaced_pod("modest", ns)
    assert modest.status.container_statuses[0].restart_count == 0 and is_ready(modest)


def test_port_forward_goes_through_the_kubelet_to_the_container(real_cluster: RealCluster, ns: str) -> None:
    core = real_cluster.core
    core.create_namespaced_pod(ns, _pod("pf", _container(real_cluster.image)))
    _ready_pod(core, ns, "pf")
    with PodPortForward(real_cluster.kube.core, ns, "pf", 8080) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
            assert resp.status == 200 and resp.read().decode().strip() == "webapp on pf"
    logs = core.read_namespaced_pod_log("pf", ns)
    assert "listening on :8080" in logs


def test_exec_runs_in_the_container_and_the_cpu_limit_is_a_cfs_quota(real_cluster: RealCluster, ns: str) -> None:
    core = real_cluster.core
    container = _container(real_cluster.image)
    container["resources"]["limits"]["cpu"] = "250m"
    core.create_namespaced_pod(ns, _pod("cpu", container))
    pod = _ready_pod(core, ns, "cpu")
    # exec through the API server and the kubelet (its own client: stream() patches the client it uses)
    fresh = Kube(str(real_cluster.layout.kubeconfig), real_cluster.name).core
    out = stream(fresh.connect_get_namespaced_pod_exec, "cpu", ns, command=["/webapp", "--get=http://127.0.0.1:8080/healthz"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out.strip() == "200 ok"
    node = realnodes.RealNode(real_cluster.layout, int(pod.spec.node_name.rsplit("-", 1)[1]))
    (folder,) = list((kubelet.CGROUP_FS / "cpu").glob(f"{node.cgroup.lstrip('/')}/**/{_container_id(pod)}"))
    assert (folder / "cpu.cfs_quota_us").read_text().strip() == "25000"
    assert (folder / "cpu.cfs_period_us").read_text().strip() == "100000"


def test_services_and_cluster_dns_reach_pods_across_nodes(real_cluster: RealCluster, ns: str) -> None:
    core = real_cluster.core
    core.create_namespaced_pod(ns, _pod("srv", _container(real_cluster.image), nodeName="real-node-1"))
    core.create_namespaced_service(ns, {"metadata": {"name": "srv"}, "spec": {
        "selector": {"app": "srv"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    _ready_pod(core, ns, "srv")
    url = f"http://srv.{ns}.svc.cluster.local/"
    core.create_namespaced_pod(ns, _pod("client", _container(real_cluster.image, f"--get={url}", probes=False),
                                        nodeName="real-node-2", restartPolicy="Never"))

    def done() -> Any:
        statuses = core.read_namespaced_pod("client", ns).status.container_statuses or []
        return statuses[0].state.terminated if statuses and statuses[0].state.terminated else None

    terminated = _wait(done, 60, "the client pod finished")
    assert terminated.exit_code == 0, core.read_namespaced_pod_log("client", ns)
    assert core.read_namespaced_pod_log("client", ns).strip() == "200 webapp on srv"


def test_an_image_that_was_not_built_here_is_never_pulled(real_cluster: RealCluster, ns: str) -> None:
    core = real_cluster.core
    core.create_namespaced_pod(ns, _pod("nopull", _container("localhost/deploytool/never-built:v0", probes=False)))

    def waiting() -> Any:
        statuses = core.read_namespaced_pod("nopull", ns).status.container_statuses or []
        return statuses[0].state.waiting if statuses and statuses[0].state.waiting else None

    reason = _wait(lambda: (w := waiting()) and w.reason == "ErrImageNeverPull" and w, 60, "ErrImageNeverPull")
    assert "never-built" in reason.message


def test_cpu_usage_of_real_pods_cannot_be_simulated(real_cluster: RealCluster, ns: str) -> None:
    core = real_cluster.core
    core.create_namespaced_pod(ns, _pod("busy", _container(real_cluster.image, probes=False)))
    _wait(lambda: core.read_namespaced_pod("busy", ns).spec.node_name, 30, "busy scheduled")
    faults = real_cluster.provider.faults(real_cluster.kube)
    with pytest.raises(BadInput, match="run on real nodes"):
        faults.drive_cpu(ns, {"busy": 500})
    assert "kwok.x-k8s.io/usage-cpu" not in (core.read_namespaced_pod("busy", ns).metadata.annotations or {})


# -- a StatefulSet pod keeps its name, claim and data -------------------------------------------

def test_a_deleted_statefulset_pod_comes_back_with_its_claim_and_data(real_cluster: RealCluster, ns: str) -> None:
    core, apps = real_cluster.core, real_cluster.kube.apps
    labels = {"app": "store"}
    container = _container(real_cluster.image, "--data-dir=/data",
                           volumeMounts=[{"name": "data", "mountPath": "/data"}])
    apps.create_namespaced_stateful_set(ns, {
        "metadata": {"name": "store"},
        "spec": {"serviceName": "store", "replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container], "terminationGracePeriodSeconds": 1}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                     "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}}]}})
    first = _ready_pod(core, ns, "store-0", timeout=90)
    claim = core.read_namespaced_persistent_volume_claim("data-store-0", ns)
    assert "boots: 1" in core.read_namespaced_pod_log("store-0", ns)
    core.delete_namespaced_pod("store-0", ns)

    def replaced() -> Any:
        pod = core.read_namespaced_pod("store-0", ns)
        return pod if pod.metadata.uid != first.metadata.uid and is_ready(pod) else None

    second = _wait(replaced, 90, "store-0 back and Ready")
    assert second.spec.volumes[0].persistent_volume_claim.claim_name == "data-store-0"
    assert core.read_namespaced_persistent_volume_claim("data-store-0", ns).metadata.uid == claim.metadata.uid
    assert "boots: 2" in core.read_namespaced_pod_log("store-0", ns)  # the file written by the first pod


# -- a node dies ---------------------------------------------------------------------------------

def test_a_stopped_kubelet_makes_its_node_not_ready_and_its_pods_move(real_cluster: RealCluster, ns: str) -> None:
    core, apps = real_cluster.core, real_cluster.kube.apps
    labels = {"app": "mover"}
    fast_eviction = [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
                      "tolerationSeconds": 2} for t in ("not-ready", "unreachable")]
    apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "mover"},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {
                     "containers": [_container(real_cluster.image)], "tolerations": fast_eviction,
                     "terminationGracePeriodSeconds": 1}}}})

    def running_pod() -> Any:
        pods = [p for p in core.list_namespaced_pod(ns, label_selector="app=mover").items
                if is_ready(p) and p.metadata.deletion_timestamp is None]
        return pods[0] if pods else None

    before = _wait(running_pod, 60, "the mover pod Ready")
    victim = before.spec.node_name
    kube = real_cluster.kube
    faults = real_cluster.provider.faults(kube)
    try:
        faults.fail_node(victim)
        assert not realnodes.kubelet_running(real_cluster.layout, victim)

        def not_ready() -> bool:
            return not is_ready(core.read_node(victim))

        _wait(not_ready, 120, f"{victim} NotReady (the node controller's grace period)", interval=2)

        def moved() -> Any:
            pod = running_pod()
            return pod if pod and pod.spec.node_name != victim else None

        after = _wait(moved, 120, "the pod rescheduled on another node and Ready", interval=2)
        assert after.metadata.name != before.metadata.name
    finally:
        faults.restore_node(victim)
    _wait(lambda: is_ready(core.read_node(victim)), 60, f"{victim} Ready again")


# -- create again restarts what died ---------------------------------------------------------------

def test_create_of_the_existing_cluster_restarts_dead_real_node_daemons(real_cluster: RealCluster, ns: str) -> None:
    layout, core = real_cluster.layout, real_cluster.core
    core.create_namespaced_pod(ns, _pod("survivor", _container(real_cluster.image), nodeName="real-node-2"))
    before = _ready_pod(core, ns, "survivor")
    for daemon in ("kubelet-real-node-2", "containerd-real-node-2", realnodes.COREDNS):
        pid = realnodes.daemon_pid(layout, daemon)
        assert pid
        os.kill(pid, signal.SIGKILL)
    _wait(lambda: realnodes.daemon_pid(layout, "kubelet-real-node-2") is None, 10, "the kubelet gone")
    real_cluster.provider.create(real_cluster.name, ClusterSpec(nodes=0, real_nodes=NODES), progress=False)
    restarted = realnodes.daemon_pid(layout, "kubelet-real-node-2")
    time.sleep(5)  # the node stays Ready for its grace period anyway: the kubelet itself must stay up
    assert all(realnodes.daemon_pid(layout, d) for d in realnodes.daemons(layout))
    assert realnodes.daemon_pid(layout, "kubelet-real-node-2") == restarted
    # the container outlived its containerd and kubelet (its shim kept it), as on a real node
    after = _ready_pod(core, ns, "survivor")
    assert _container_id(after) == _container_id(before)
    assert after.status.container_statuses[0].restart_count == 0


# -- delete leaves nothing behind (runs last in this module) ------------------------------------

def test_delete_stops_every_process_and_removes_bridges_chains_cgroups_and_mounts(
        real_cluster: RealCluster) -> None:
    layout = real_cluster.layout
    for node in realnodes.existing(layout):  # the Node authorizer let each kubelet do all it had to
        log = layout.log_file(node.daemon("kubelet")).read_text()
        denied = re.findall(r'User "system:node:[^"]+" cannot [^"]*', log)
        assert not denied, denied[:3]
    pids = [realnodes.daemon_pid(layout, d) for d in realnodes.daemons(layout)]
    assert pids and all(pids)
    sockets = [n.socket for n in realnodes.existing(layout)]
    cgroups = [n.cgroup for n in realnodes.existing(layout)]
    result = real_cluster.provider.delete(real_cluster.name, progress=True)  # step times in the output
    assert result.deleted and not result.leftover_pids
    assert not any(os.path.exists(f"/proc/{pid}") and _not_zombie(pid) for pid in pids)
    assert not any(realnodes.shim_pids(s) for s in sockets)
    assert realnet.our_bridges() == []
    assert realnodes.mounts_under(layout.root) == []
    assert not any(kubelet.cgroup_pids(c) for c in cgroups)
    assert not any((h / c.lstrip("/")).exists() for h in kubelet.cgroup_controllers() for c in cgroups)
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    assert realnet.GUARD_CHAIN not in rules and "KUBE-" not in rules
    assert hostslot.owner() is None


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
