"""The kubelet of a real node: its configuration, its cgroups and its arguments.

Each kubelet has its own root dir, cgroup root, node IP (its bridge's address, serving 10250 and
healthz 10248 there), and its own containerd. Facts this configuration relies on (this machine):
cgroup v1 (`failCgroupV1: false`, cgroupfs driver), no swap accounting (`failSwapOn: false`),
and a node's capacity is the whole machine's, so `systemReserved` leaves each real node only
its share (see share_of_machine).

The kubelet authenticates the API server's requests (logs, exec, port-forward, metrics) by
client certificate (the cluster CA) and asks the API server to authorize them (Webhook); it
reaches the API server as system:node:<name> (realnodes.node_kubeconfig), under the Node authorizer.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploytool.core import quantity

CGROUP_BASE = "deploytool"  # every real node's cgroup root is /deploytool/<cluster>-<node>
CGROUP_FS = Path("/sys/fs/cgroup")
KUBELET_PORT = 10250
HEALTHZ_PORT = 10248
EVICTION_MEMORY = "100Mi"


@dataclass(frozen=True)
class Share:
    """What one real node may use of this machine (the scheduler's allocatable)."""

    cpu_millis: int
    memory_bytes: int


def machine_capacity() -> Share:
    cpus = os.cpu_count() or 1
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return Share(cpus * 1000, pages)


def share_of_machine(nodes: int, cpu: str | None = None, memory: str | None = None,
                     machine: Share | None = None) -> Share:
    """Each real node's share: the given cpu/memory, or an equal part of the machine (cpu at least 100m)."""
    machine = machine or machine_capacity()
    cpu_m = int(quantity.parse(cpu) * 1000) if cpu else max(100, machine.cpu_millis // nodes)
    mem = int(quantity.parse(memory)) if memory else (machine.memory_bytes // nodes)
    return Share(min(cpu_m, machine.cpu_millis), min(mem, machine.memory_bytes))


def system_reserved(share: Share, machine: Share | None = None) -> dict[str, str]:
    """systemReserved so that allocatable = share (the kubelet subtracts the eviction threshold too)."""
    machine = machine or machine_capacity()
    eviction = int(quantity.parse(EVICTION_MEMORY))
    cpu = max(0, machine.cpu_millis - share.cpu_millis)
    mem = max(0, machine.memory_bytes - share.memory_bytes - eviction)
    return {"cpu": f"{cpu}m", "memory": f"{mem // (1 << 20)}Mi"}


def cgroup_root(cluster: str, node: str) -> str:
    return f"/{CGROUP_BASE}/{cluster}-{node}"


def cgroup_controllers() -> list[Path]:
    """The mounted cgroup v1 hierarchies (cpu, memory, pids, ...; name=systemd included)."""
    if not CGROUP_FS.is_dir():
        return []
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and (p / "cgroup.procs").exists())


def ensure_cgroup(path: str) -> None:
    """The kubelet wants its cgroupRoot to exist in every hierarchy."""
    for hierarchy in cgroup_controllers():
        (hierarchy / path.lstrip("/")).mkdir(parents=True, exist_ok=True)


def cgroup_pids(path: str) -> set[int]:
    """Every process in the cgroup subtree path (any hierarchy)."""
    pids: set[int] = set()
    for hierarchy in cgroup_controllers():
        top = hierarchy / path.lstrip("/")
        if not top.is_dir():
            continue
        for procs_file in top.rglob("cgroup.procs"):
            try:
                pids.update(int(p) for p in procs_file.read_text().split())
            except OSError:
                continue
    return pids


def kill_cgroup(path: str) -> int:
    """SIGKILL every process in the cgroup subtree (the node's containers). Returns how many."""
    pids = cgroup_pids(path)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)


def remove_cgroup(path: str) -> list[str]:
    """rmdir the subtree in every hierarchy, deepest first. Returns the folders that stayed."""
    left = []
    for hierarchy in cgroup_controllers():
        top = hierarchy / path.lstrip("/")
        if not top.is_dir():
            continue
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [top]:
            try:
                folder.rmdir()
            except OSError:
                left.append(str(folder))
    return left


def remove_empty_parents(path: str) -> None:
    """rmdir /deploytool/ (and the like) where nothing is left in it."""
    base = "/" + path.strip("/").split("/")[0]
    for hierarchy in cgroup_controllers():
        try:
            (hierarchy / base.lstrip("/")).rmdir()
        except OSError:
            pass


def config(*, node_ip: str, cgroup: str, containerd_socket: Path, ca_file: Path, dns: str,
           reserved: dict[str, str], pod_logs: Path, plugins: Path) -> dict[str, Any]:
    """KubeletConfiguration (kubelet.config.k8s.io/v1beta1) of one real node."""
    endpoint = f"unix://{containerd_socket}"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": node_ip,
        "healthzPort": HEALTHZ_PORT,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca_file)}},
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": endpoint,
        "imageServiceEndpoint": endpoint,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup,
        "cgroupsPerQOS": True,
        "enforceNodeAllocatable": ["pods"],
        "failCgroupV1": False,
        "failSwapOn": False,
        "systemReserved": reserved,
        "evictionHard": {"memory.available": EVICTION_MEMORY, "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        # Our images exist only here (no registry): never garbage-collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "clusterDNS": [dns],
        "clusterDomain": "cluster.local",
        "resolvConf": "",   # pods get the cluster DNS only, never the host's resolvers
        "podLogsDir": str(pod_logs),
        "volumePluginDir": str(plugins),
        "serializeImagePulls": False,
        "maxPods": 110,
        "nodeStatusUpdateFrequency": "10s",
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "protectKernelDefaults": False,
        "localStorageCapacityIsolation": True,
    }


def argv(kubelet: Path, *, config_file: Path, kubeconfig: Path, root_dir: Path, node: str, node_ip: str,
         labels: dict[str, str]) -> list[str]:
    return [
        str(kubelet),
        f"--config={config_file}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={root_dir}",
        f"--cert-dir={root_dir / 'pki'}",
        f"--hostname-override={node}",
        f"--node-ip={node_ip}",
        "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "--v=1",
    ]
