"""Creating a local cluster: actions over a context that is complete when built.

As kind's create/actions/<name>/: plan() checks the request and the tools and fixes everything
the actions need (folders, binaries, versions, the ports of our own daemons) before anything is
made; each action is a module-level function that does one thing and returns its status detail;
core.steps runs them in order (ACTIONS) and prints one ✓/✗ line each.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from kubernetes import client

from deploytool.clusters.base import ClusterRef, ClusterSpec, check_name
from deploytool.clusters.local import hostslot, images, kubelet, kwok, milvus, nodes, realnet, realnodes, storage
from deploytool.clusters.local.layout import Layout
from deploytool.core import procs, quantity
from deploytool.core.errors import BadInput, ToolMissing
from deploytool.core.labels import NODE_ZONES
from deploytool.core.steps import Step
from deploytool.core.wait import wait_until

AGENT = "agent"
MILVUS = "milvus-lite"
CRD_PLURALS = ["clusterportforwards", "portforwards", "clusterresourceusages", "resourceusages"]


@dataclass(frozen=True)
class CreateContext:
    layout: Layout
    spec: ClusterSpec
    bins: dict[str, Path]  # kwokctl option (and "kwokctl") -> our pinned build
    versions: dict[str, str]  # kwokctl option -> pinned version
    health_port: int  # the agent's /healthz, standing in for Milvus's 9091
    milvus_port: int  # milvus-lite
    real_share: kubelet.Share | None = None  # what each real node may use of this machine (None: no real nodes)

    @property
    def real_nodes(self) -> list[realnodes.RealNode]:
        return realnodes.plan(self.layout, self.spec.real_nodes)

    @cached_property
    def api(self) -> client.ApiClient:
        """A client of the cluster's API server (its kubeconfig exists once the control plane is up)."""
        return ClusterRef("local", self.layout.name, self.layout.kubeconfig, self.layout.name).api_client()


def check_spec(spec: ClusterSpec) -> None:
    if not 0 <= spec.real_nodes <= realnet.MAX_REAL_NODES:
        raise BadInput(f"--real-nodes must be between 0 and {realnet.MAX_REAL_NODES}, not {spec.real_nodes}")
    if not (0 if spec.real_nodes else 1) <= spec.nodes <= 100:
        raise BadInput(f"--nodes must be between {0 if spec.real_nodes else 1} and 100, not {spec.nodes}")
    for what, value in (("--node-cpu", spec.node_cpu), ("--node-memory", spec.node_memory)):
        try:
            if quantity.parse(str(value)) <= 0:
                raise ValueError
        except ValueError:
            raise BadInput(f"{what} {value!r} is not a positive Kubernetes quantity") from None
    if spec.images:
        raise BadInput("--load-image does not apply to the local provider (its pods run no images)")


def plan(name: str, spec: ClusterSpec) -> CreateContext:
    """Everything the actions need, or BadInput/ToolMissing before anything is made."""
    check_spec(spec)
    bins = kwok.binaries()
    if not milvus.milvus_lite_installed():
        raise ToolMissing("milvus-lite is not installed: the local cluster's Milvus engine "
                          "(pip install 'deploytool[local]', or make setup)")
    share = None
    if spec.real_nodes:
        realnodes.check_available()
        owner = hostslot.owner()
        if owner not in (None, name):
            hostslot.acquire(name)  # BadInput naming the cluster that has them
        # each real node gets an equal part of this machine (its kubelet reports that as allocatable)
        share = kubelet.share_of_machine(spec.real_nodes)
    return CreateContext(Layout(check_name(name)), spec, bins, kwok.versions(), milvus.free_port(),
                         milvus.free_port(), share)


# -- actions, in order --------------------------------------------------------------------------

def control_plane(ctx: CreateContext) -> str:
    kwok.create_cluster(ctx.layout, ctx.bins)
    port = kwok.saved_options(ctx.layout).get("kubeApiserverPort")
    return f"kwokctl create cluster --runtime binary, API server on 127.0.0.1:{port}"


def api_server(ctx: CreateContext) -> str:
    core = client.CoreV1Api(ctx.api)
    version = wait_until(lambda: client.VersionApi(ctx.api).get_code(_request_timeout=5).git_version, 90,
                       what="the API server")
    # the controller-manager is working once it made the default service account
    wait_until(lambda: core.read_namespaced_service_account("default", "default", _request_timeout=5), 90,
             what="the default service account")
    return f"kube-apiserver {version}"


def kwok_crds(ctx: CreateContext) -> str:
    wait_until(lambda: milvus.crds_established(client.ApiextensionsV1Api(ctx.api), CRD_PLURALS), 60,
             what="kwok CRDs")
    return ", ".join(kwok.ENABLED_CRDS)


def _has_real(ctx: CreateContext) -> bool:
    return ctx.spec.real_nodes > 0


def simulated_nodes(ctx: CreateContext) -> str:
    core = client.CoreV1Api(ctx.api)
    spec = ctx.spec
    names = nodes.create_nodes(core, spec.nodes, str(spec.node_cpu), str(spec.node_memory))

    def all_ready() -> bool:
        ready = {n.name for n in nodes.summary(core) if n.ready}
        return all(n in ready for n in names)

    wait_until(all_ready, 90, what=f"{spec.nodes} nodes Ready")
    return (f"{spec.nodes} Ready ({spec.node_cpu} CPU, {spec.node_memory} each; "
            f"zones {', '.join(NODE_ZONES[:spec.nodes])})")


def host_network(ctx: CreateContext) -> str:
    return realnodes.start_host_network(ctx.layout)


def real_nodes(ctx: CreateContext) -> str:
    assert ctx.real_share is not None
    share = ctx.real_share
    pause = images.pause_image()
    planned = ctx.real_nodes
    for node in planned:
        realnodes.start_node(node, [pause], share)
        realnodes.record(node, share)
    core = client.CoreV1Api(ctx.api)
    names = {n.name for n in planned}

    def all_ready() -> bool:
        for node in planned:
            if not procs.is_alive(ctx.layout.pid_file(node.daemon("kubelet"))):
                raise RuntimeError(f"the kubelet of {node.name} exited: "
                                   f"{procs.tail(ctx.layout.log_file(node.daemon('kubelet')), 3)}")
        return names <= {n.name for n in nodes.summary(core) if n.ready}

    wait_until(all_ready, 90, what=f"{len(planned)} real nodes Ready")
    cpu = quantity.format_cpu(quantity.parse(f"{share.cpu_millis}m"))
    return (f"{len(planned)} Ready (kubelet + containerd each; {cpu} CPU, "
            f"{share.memory_bytes // (1 << 20)}Mi each of this machine)")


def cluster_dns(ctx: CreateContext) -> str:
    realnodes.start_coredns(ctx.layout)
    return f"CoreDNS on {realnet.DNS_ADDRESS}:53 (cluster.local only)"


def service_proxy(ctx: CreateContext) -> str:
    realnodes.start_kube_proxy(ctx.layout, ctx.real_nodes[0].name)
    return f"kube-proxy (iptables) for Services in {realnet.SERVICE_RANGE}"


def volumes(ctx: CreateContext) -> str:
    storage.ensure_storage_class(client.StorageV1Api(ctx.api))
    start_agent(ctx.layout, ctx.health_port)
    wait_until(lambda: milvus.port_open(ctx.health_port), 30, what="the agent's health endpoint")
    return f"default StorageClass '{storage.STORAGE_CLASS}', provisioner {storage.PROVISIONER}"


def milvus_engine(ctx: CreateContext) -> str:
    start_milvus(ctx.layout, ctx.milvus_port)
    return f"milvus-lite on 127.0.0.1:{ctx.milvus_port}"


def simulation_rules(ctx: CreateContext) -> str:
    custom = client.CustomObjectsApi(ctx.api)
    milvus.apply_cluster_object(custom, "clusterportforwards",
                                milvus.port_forward_rule(ctx.milvus_port, ctx.health_port))
    milvus.apply_cluster_object(custom, "clusterresourceusages", milvus.usage_rule())
    milvus.ensure_baseline(client.AppsV1Api(ctx.api))
    return (f"pod :{milvus.MILVUS_PORT} -> milvus-lite, :{milvus.HEALTH_PORT} -> /healthz; "
            f"usage {milvus.DEFAULT_CPU} CPU / {milvus.DEFAULT_MEMORY} per container; "
            f"kube-system/{milvus.BASELINE_NAME} on every simulated node")


def metrics_api(ctx: CreateContext) -> str:
    api_reg = client.ApiregistrationV1Api(ctx.api)

    restarted: list[str] = []

    def available() -> bool:
        # kwokctl may start metrics-server before the API server answers; it then exits ("unable to
        # load configmap based request-header-client-ca-file") and kwokctl does not restart it.
        ms = kwok.component_procs(ctx.layout).get("metrics-server")
        if ms and not procs.pid_alive(ms.pid, ms.start_time) and not restarted:
            kwok.restart_cluster(ctx.layout, ctx.bins)
            restarted.append("metrics-server")
        svc = api_reg.read_api_service("v1beta1.metrics.k8s.io", _request_timeout=5)
        return any(c.type == "Available" and c.status == "True" for c in (svc.status.conditions or []))

    wait_until(available, 120, interval=1.0, what="APIService v1beta1.metrics.k8s.io Available")
    again = " (control plane restarted: metrics-server had exited before the API server answered)" if restarted else ""
    return f"metrics.k8s.io available (node/pod metrics follow within ~30s){again}"


ACTIONS: list[Step[CreateContext]] = [
    Step("control plane", control_plane),
    Step("API server", api_server),
    Step("kwok CRDs", kwok_crds),
    Step("nodes", simulated_nodes, lambda ctx: ctx.spec.nodes > 0),
    Step("real-node network", host_network, _has_real),
    Step("real nodes", real_nodes, _has_real),
    Step("cluster DNS", cluster_dns, _has_real),
    Step("kube-proxy", service_proxy, _has_real),
    Step("storage", volumes),
    Step("milvus engine", milvus_engine),
    Step("simulation rules", simulation_rules),
    Step("metrics API", metrics_api),
]


def state(ctx: CreateContext, seconds: float, created: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """What cluster.json records once every action succeeded."""
    opts = kwok.saved_options(ctx.layout)
    return {
        "provider": "local", "name": ctx.layout.name, "context": ctx.layout.name,
        "kubeconfig": str(ctx.layout.kubeconfig), "created": created, "create_seconds": round(seconds, 1),
        "nodes": ctx.spec.nodes, "real_nodes": ctx.spec.real_nodes,
        "node_cpu": str(ctx.spec.node_cpu), "node_memory": str(ctx.spec.node_memory),
        "ports": {"kube-apiserver": opts.get("kubeApiserverPort"), "etcd": opts.get("etcdPort"),
                  "kwok-controller": opts.get("kwokControllerPort"), "metrics-server": opts.get("metricsServerPort"),
                  "health": ctx.health_port, "milvus-lite": ctx.milvus_port},
        "steps": steps,
    }


# -- our daemons (also restarted when an existing cluster is reused) -------------------------------

def start_agent(layout: Layout, health_port: int) -> int:
    argv = [sys.executable, "-m", "deploytool.clusters.local.agent", "--kubeconfig", str(layout.kubeconfig),
            "--volumes-dir", str(layout.volumes_dir), "--health-port", str(health_port)]
    return procs.start_daemon(argv, pid_file=layout.pid_file(AGENT), log_file=layout.log_file(AGENT))


def start_milvus(layout: Layout, port: int) -> int:
    pid = milvus.start_milvus_lite(layout.milvus_data, port, layout.pid_file(MILVUS), layout.log_file(MILVUS))

    def up() -> bool:
        if not procs.is_alive(layout.pid_file(MILVUS)):
            raise RuntimeError(f"milvus-lite exited: {procs.tail(layout.log_file(MILVUS), 5)}")
        return milvus.port_open(port)

    wait_until(up, 60, what=f"milvus-lite on port {port}")
    return pid
