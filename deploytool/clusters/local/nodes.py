"""The simulated nodes of a local cluster: Node objects that kwok keeps Ready.

Each node is created through the API like a kubelet would register it, with realistic capacity,
the well-known labels (hostname, os, arch, zone round-robin over zone-a/b/c), the label
deploytool.io/node-kind=simulated (its pods do not really run) and no taint. kwok
(the controller) manages every node annotated kwok.x-k8s.io/node=fake: it fills in conditions,
renews the node Lease, and plays the kubelet for the pods bound to it.

Node failure (for drills, see set_node_failed): the node's Lease in kube-node-lease is taken
over by another holder that never renews it. kwok then treats the node as not its own: it stops
renewing the Lease, stops updating the node's status and the status of the node's pods. The real
kube-controller-manager sees no heartbeat for its grace period (40s), sets the node's conditions
to Unknown (NotReady), taints it node.kubernetes.io/unreachable (NoSchedule, NoExecute), marks
its pods not Ready (so Services drop them) and evicts them when their toleration (300s by
default) runs out -- what happens when a real kubelet dies. Deleting the Lease ends the failure:
kwok creates a new one, takes the node back and reports it Ready again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.base import NODE_KIND_LABEL, SIMULATED, node_kind
from deploytool.clusters.local.kwok import NODE_MANAGED_ANNOTATION, NODE_MANAGED_VALUE
from deploytool.clusters.status import NodeStatus
from deploytool.core.conditions import is_ready
from deploytool.core.labels import HOSTNAME, NODE_ZONES, ZONE

LEASE_NAMESPACE = "kube-node-lease"
FAILURE_HOLDER = "deploytool-node-failure"


def node_name(index: int) -> str:
    return f"kwok-node-{index}"


def node_manifest(index: int, cpu: str, memory: str, pods: int = 110) -> dict[str, Any]:
    name = node_name(index)
    zone = NODE_ZONES[(index - 1) % len(NODE_ZONES)]
    resources = {"cpu": str(cpu), "memory": str(memory), "pods": str(pods), "ephemeral-storage": "200Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                HOSTNAME: name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                ZONE: zone,
                "topology.kubernetes.io/region": "local",
                "node.kubernetes.io/instance-type": f"kwok-{cpu}c-{memory}",
                "type": "kwok",
                NODE_KIND_LABEL: SIMULATED,
            },
            "annotations": {
                NODE_MANAGED_ANNOTATION: NODE_MANAGED_VALUE,
                "node.alpha.kubernetes.io/ttl": "0",
                # metrics-server scrapes this path of the node's kubelet endpoint (kwok serves it).
                "metrics.k8s.io/resource-metrics-path": f"/metrics/nodes/{name}/metrics/resource",
            },
        },
        # 10.245/16: simulated pod IPs never overlap real pods (10.244/16, realnet.py)
        "spec": {"podCIDR": f"10.245.{index}.0/24", "podCIDRs": [f"10.245.{index}.0/24"]},
        "status": {
            # The API server and metrics-server reach the "kubelet" (kwok's server on the host)
            # through these addresses; kwok fills in the port (daemonEndpoints).
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": "localhost"}],
            "capacity": resources,
            "allocatable": resources,
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "",
                         "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "",
                         "osImage": "kwok", "bootID": "", "machineID": "", "systemUUID": ""},
        },
    }


def create_nodes(core: client.CoreV1Api, count: int, cpu: str, memory: str) -> list[str]:
    """Create node 1..count (an existing node of the same name is left as it is)."""
    names = []
    for index in range(1, count + 1):
        body = node_manifest(index, cpu, memory)
        try:
            core.create_node(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
        names.append(body["metadata"]["name"])
    return names


def summary(core: client.CoreV1Api) -> list[NodeStatus]:
    """Every node of the cluster (kwok's and, where there are any, real ones)."""
    rows = []
    for node in core.list_node(_request_timeout=10).items:
        labels = node.metadata.labels or {}
        alloc = node.status.allocatable or {}
        rows.append(NodeStatus(node.metadata.name, is_ready(node), node_kind(labels, SIMULATED),
                               labels.get(ZONE, ""), alloc.get("cpu"), alloc.get("memory"),
                               tuple(f"{t.key}:{t.effect}" for t in (node.spec.taints or []))))
    return rows


def set_node_failed(coordination: client.CoordinationV1Api, name: str, failed: bool = True) -> None:
    """Make a node fail (no heartbeat -> NotReady after ~40s) or recover (Ready within ~15s)."""
    if failed:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {"spec": {"holderIdentity": FAILURE_HOLDER, "leaseDurationSeconds": 10 * 365 * 86400,
                         "renewTime": now}}
        coordination.patch_namespaced_lease(name, LEASE_NAMESPACE, body)
        return
    try:
        coordination.delete_namespaced_lease(name, LEASE_NAMESPACE)
    except ApiException as exc:
        if exc.status != 404:
            raise
