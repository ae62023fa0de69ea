"""Real nodes of a local cluster: a kubelet with its own containerd and runc per node, real containers.

Per real node `real-node-<i>` (files in <cluster>/real-nodes/real-node-<i>/):
  containerd (own root, state, socket, runc root; containerd.py) -> CNI bridge dtbr<i> with
  10.244.<i>.0/24 (realnet.py) -> kubelet (own root dir, cgroup root /deploytool/<cluster>-<node>,
  node IP 10.244.<i>.1; kubelet.py), labelled deploytool.io/node-kind=real.
Per cluster: one kube-proxy and CoreDNS on the host (kubeproxy.py), ip forwarding between our
bridges with a guard chain (realnet.py). Only one cluster on a machine may have real nodes at a
time (hostslot.py): kube-proxy's iptables chains and the address plan are machine-wide.

Every daemon writes to <cluster>/logs/<daemon>.log and has a pid file in <cluster>/pids/;
teardown() stops them all and removes bridges, cgroups, iptables chains and mounts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from deploytool.clusters.base import NODE_KIND_LABEL, REAL
from deploytool.clusters.local import containerd, hostslot, images, kubelet, kubeproxy, realnet
from deploytool.clusters.local.layout import Layout, write_atomic
from deploytool.core import procs, toolchain
from deploytool.core.errors import DeploytoolError
from deploytool.core.labels import NODE_ZONES, ZONE
from deploytool.core.wait import wait_until

NODE_PREFIX = "real-node-"
KUBE_PROXY, COREDNS = "kube-proxy", "coredns"


@dataclass(frozen=True)
class RealNode:
    layout: Layout
    index: int

    @property
    def name(self) -> str:
        return f"{NODE_PREFIX}{self.index}"

    @property
    def net(self) -> realnet.NodeNet:
        return realnet.NodeNet(self.index)

    @property
    def root(self) -> Path:
        return self.layout.root / "real-nodes" / self.name

    @property
    def containerd_dir(self) -> Path:
        return self.root / "containerd"

    @property
    def socket(self) -> Path:
        return containerd.run_dir(self.layout.root) / f"n{self.index}" / "containerd.sock"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cgroup(self) -> str:
        return kubelet.cgroup_root(self.layout.name, self.name)

    @property
    def zone(self) -> str:
        return NODE_ZONES[(self.index - 1) % len(NODE_ZONES)]

    def daemon(self, what: str) -> str:
        return f"{what}-{self.name}"


def plan(layout: Layout, count: int) -> list[RealNode]:
    return [RealNode(layout, i) for i in range(1, count + 1)]


def existing(layout: Layout) -> list[RealNode]:
    """The real nodes a cluster has (from its folder)."""
    folder = layout.root / "real-nodes"
    if not folder.is_dir():
        return []
    return [RealNode(layout, int(p.name[len(NODE_PREFIX):])) for p in sorted(folder.iterdir())
            if p.name.startswith(NODE_PREFIX) and p.name[len(NODE_PREFIX):].isdigit()]


def has_any(layout: Layout) -> bool:
    """True if the cluster made anything for real nodes (its folder has real-nodes/)."""
    return (layout.root / "real-nodes").is_dir()


def node_labels(node: RealNode) -> dict[str, str]:
    return {NODE_KIND_LABEL: REAL, ZONE: node.zone, "topology.kubernetes.io/region": "local"}


def check_available() -> None:
    """ToolMissing naming what real nodes lack (Debian packages, pinned builds)."""
    containerd.check_installed()
    for binary in ("kubelet", "kube-proxy", "coredns"):
        toolchain.find(binary)


def _wait(check: Callable[[], object], timeout: float, what: str, log: Path | None = None) -> None:
    """core.wait.wait_until, where an exception from check() (a daemon that exited) fails at once,
    and the daemon's last log lines go into the TimeoutError."""
    wait_until(check, timeout, 0.2, what, pending=lambda: f"last log lines:\n{procs.tail(log, 8)}" if log else "",
               retry=())


# -- host network ------------------------------------------------------------------------------

def _forward_file(layout: Layout) -> Path:
    return layout.root / "real-nodes" / "ip_forward.before"


def start_host_network(layout: Layout) -> str:
    """Claim the machine's real-node slot, turn on forwarding, install the guard, the DNS bridge."""
    hostslot.acquire(layout.name)
    saved = _forward_file(layout)
    if not saved.exists():
        write_atomic(saved, realnet.read_ip_forward() + "\n")
    realnet.install_guard()
    realnet.set_ip_forward("1")
    realnet.ensure_bridge(realnet.DNS_BRIDGE, f"{realnet.DNS_ADDRESS}/32")
    return f"forwarding on, {realnet.GUARD_CHAIN} guard, DNS address {realnet.DNS_ADDRESS}"


# -- one node ----------------------------------------------------------------------------------

def start_containerd(node: RealNode, sandbox_image: images.BuiltImage) -> int:
    folder = node.containerd_dir
    folder.mkdir(parents=True, exist_ok=True)
    node.socket.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "config.toml",
                 containerd.config_toml(folder, node.socket, sandbox_image.ref, node.cni_conf_dir))
    log = node.layout.log_file(node.daemon("containerd"))
    pid = procs.start_daemon(containerd.argv(folder), pid_file=node.layout.pid_file(node.daemon("containerd")),
                             log_file=log, env=containerd.environment())

    def up() -> bool:
        if not procs.is_alive(node.layout.pid_file(node.daemon("containerd"))):
            raise DeploytoolError(f"containerd of {node.name} exited: {procs.tail(log, 5)}")
        return node.socket.exists() and cri_ready(log)

    _wait(up, 60, f"containerd of {node.name} (its CRI plugin)", log)
    return pid


def cri_ready(log: Path) -> bool:
    """True once the containerd started last (procs' "--- ... start:" marker) has its CRI plugin up.

    containerd serves its socket before the CRI plugin has recovered the containers it already
    had; a kubelet started then exits ("server is not initialized yet"). The plugin logs "Start
    streaming server" once recovery is done.
    """
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return False
    return "Start streaming server" in text[text.rfind("\n--- ") + 1:]


def node_kubeconfig(node: RealNode) -> Path:
    """The kubelet's own credentials: a client certificate for system:node:<name> in system:nodes,
    signed by the cluster CA (openssl), so the API server's Node authorizer limits the kubelet to
    its node, its pods and what they reference -- as on a production node. Made once per node."""
    pki, path = node.root / "pki", node.root / "kubeconfig.yaml"
    if path.is_file():
        return path
    pki.mkdir(parents=True, exist_ok=True)
    ca = node.layout.kwok_cluster_dir / "pki"
    key, csr, crt = pki / "node.key", pki / "node.csr", pki / "node.crt"
    for argv in (["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                  "-subj", f"/O=system:nodes/CN=system:node:{node.name}", "-out", str(csr)],
                 ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca / "ca.crt"), "-CAkey", str(ca / "ca.key"),
                  "-CAcreateserial", "-CAserial", str(pki / "ca.srl"), "-days", "3650", "-out", str(crt)]):
        proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
        if proc.returncode != 0:
            raise DeploytoolError(f"{argv[0]} {argv[1]} for {node.name} failed: {proc.stderr.strip()[-300:]}")
    key.chmod(0o600)
    cluster = yaml.safe_load(node.layout.kubeconfig.read_text())["clusters"][0]["cluster"]
    write_atomic(path, yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": node.name, "user": {"client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": node.name, "context": {"cluster": "local", "user": node.name}}],
        "current-context": node.name,
    }, sort_keys=False))
    return path


def start_kubelet(node: RealNode, share: kubelet.Share) -> int:
    layout = node.layout
    kubelet.ensure_cgroup(node.cgroup)
    node.kubelet_dir.mkdir(parents=True, exist_ok=True)
    config = kubelet.config(
        node_ip=node.net.node_ip, cgroup=node.cgroup, containerd_socket=node.socket,
        ca_file=layout.kwok_cluster_dir / "pki" / "ca.crt", dns=realnet.DNS_ADDRESS,
        reserved=kubelet.system_reserved(share), pod_logs=node.root / "pod-logs",
        plugins=node.root / "volume-plugins")
    config_file = node.root / "kubelet.yaml"
    write_atomic(config_file, yaml.safe_dump(config, sort_keys=False))
    argv = kubelet.argv(toolchain.find("kubelet"), config_file=config_file, kubeconfig=node_kubeconfig(node),
                        root_dir=node.kubelet_dir, node=node.name, node_ip=node.net.node_ip,
                        labels=node_labels(node))
    return procs.start_daemon(argv, pid_file=layout.pid_file(node.daemon("kubelet")),
                              log_file=layout.log_file(node.daemon("kubelet")))


def start_node(node: RealNode, node_images: Iterable[images.BuiltImage], share: kubelet.Share) -> None:
    """Bridge, CNI config, containerd (with the images imported), kubelet. Idempotent."""
    node.root.mkdir(parents=True, exist_ok=True)
    realnet.ensure_bridge(node.net.bridge, f"{node.net.node_ip}/24")
    realnet.write_conflist(node.cni_conf_dir, node.net, f"dt-{node.name}", node.root / "cni" / "ipam")
    built = list(node_images)
    start_containerd(node, built[0])
    for image in built:
        images.import_image(image, node.socket)
    start_kubelet(node, share)


def stop_node(node: RealNode, timeout: float = 10.0) -> list[str]:
    """Stop the kubelet, every container of the node, its containerd and shims. Returns what stayed."""
    layout = node.layout
    left = []
    if not procs.stop_daemon(layout.pid_file(node.daemon("kubelet")), timeout):
        left.append(f"kubelet of {node.name}")
    for _ in range(3):
        if not kubelet.kill_cgroup(node.cgroup):
            break
        time.sleep(0.3)
    if not procs.stop_daemon(layout.pid_file(node.daemon("containerd")), timeout):
        left.append(f"containerd of {node.name}")
    for pid in shim_pids(node.socket):
        if not procs.stop_pid(pid, timeout=3, group=False):
            left.append(f"containerd-shim {pid}")
    return left


def shim_pids(socket: Path) -> list[int]:
    """containerd-shim-runc-v2 processes serving the containerd at socket."""
    needle = str(socket).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and needle in argv:
            found.append(int(entry.name))
    return found


# -- cluster-wide daemons --------------------------------------------------------------------

def start_kube_proxy(layout: Layout, node_name: str) -> int:
    from deploytool.clusters.local.milvus import free_port  # a free loopback port

    folder = layout.root / "real-nodes"
    config_file = folder / "kube-proxy.yaml"
    write_atomic(config_file, yaml.safe_dump(kubeproxy.proxy_config(
        kubeconfig=layout.kubeconfig, node=node_name, healthz_port=free_port(), metrics_port=free_port()),
        sort_keys=False))
    return procs.start_daemon(kubeproxy.proxy_argv(toolchain.find("kube-proxy"), config_file),
                              pid_file=layout.pid_file(KUBE_PROXY), log_file=layout.log_file(KUBE_PROXY))


def start_coredns(layout: Layout) -> int:
    from deploytool.clusters.local.milvus import free_port, port_open

    folder = layout.root / "real-nodes"
    health, ready = free_port(), free_port()
    path = folder / "Corefile"
    write_atomic(path, kubeproxy.corefile(kubeconfig=layout.kubeconfig, context=layout.name,
                                          health_port=health, ready_port=ready))
    pid = procs.start_daemon(kubeproxy.coredns_argv(toolchain.find("coredns"), path),
                             pid_file=layout.pid_file(COREDNS), log_file=layout.log_file(COREDNS), cwd=folder)
    _wait(lambda: port_open(ready), 30, "CoreDNS ready", layout.log_file(COREDNS))
    return pid


def import_into_nodes(layout: Layout, built: Iterable[images.BuiltImage]) -> dict[str, int]:
    """Import into every real node's containerd the images it does not hold yet at the same digest
    (images.missing_images); nothing else on the node is touched. Returns {ref: nodes it was
    imported into} (0: every node had it)."""
    wanted = list(built)
    imported = {image.ref: 0 for image in wanted}
    for node in existing(layout):
        for image in images.missing_images(wanted, images.imported_digests(node.socket)):
            images.import_image(image, node.socket)
            imported[image.ref] += 1
    return imported


# -- teardown ----------------------------------------------------------------------------------

def mounts_under(folder: Path) -> list[str]:
    """Mount points under folder, deepest first (from /proc/self/mountinfo)."""
    prefix = str(folder).rstrip("/") + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(prefix):
            points.append(point)
    return sorted(set(points), key=lambda p: -p.count("/"))


def unmount_all(folder: Path) -> list[str]:
    """Lazily unmount everything under folder. Returns the mount points that stayed."""
    for point in mounts_under(folder):
        subprocess.run(["umount", "-l", point], capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    return mounts_under(folder)


def teardown(layout: Layout) -> list[str]:
    """Stop and remove everything real nodes made for this cluster. Returns what could not be removed.

    The machine-wide parts (bridges, iptables chains, ip_forward, the slot) only when this cluster
    holds the machine's real-node slot.
    """
    left: list[str] = []
    nodes = existing(layout)
    for node in nodes:
        left += stop_node(node)
    for daemon in (KUBE_PROXY, COREDNS):
        if layout.pid_file(daemon).exists() and not procs.stop_daemon(layout.pid_file(daemon)):
            left.append(daemon)
    owner = hostslot.owner()
    if (layout.root / "real-nodes").is_dir() and owner in (None, layout.name):
        try:
            subprocess.run(kubeproxy.cleanup_argv(toolchain.find("kube-proxy")), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        except (DeploytoolError, OSError, subprocess.TimeoutExpired) as exc:
            left.append(f"kube-proxy --cleanup: {exc}")
    left += unmount_all(layout.root)
    shutil.rmtree(containerd.run_dir(layout.root), ignore_errors=True)
    try:
        containerd.RUN_DIR.rmdir()  # when no other cluster has sockets there
    except OSError:
        pass
    for node in nodes:
        left += kubelet.remove_cgroup(node.cgroup)
    if nodes:
        kubelet.remove_empty_parents(nodes[0].cgroup)
    if owner in (None, layout.name):
        for bridge in realnet.our_bridges():
            realnet.delete_bridge(bridge)
        realnet.remove_guard()
        left += realnet.remove_kube_chains()
        saved = _forward_file(layout)
        if saved.exists():
            realnet.set_ip_forward(saved.read_text().strip() or "0")
        hostslot.release(layout.name)
    return left


def daemons(layout: Layout) -> list[str]:
    """Names of the daemons real nodes run for this cluster (their pid files are in <cluster>/pids/)."""
    names = [node.daemon(what) for node in existing(layout) for what in ("containerd", "kubelet")]
    return names + [KUBE_PROXY, COREDNS] if names else []


def restart_dead(layout: Layout) -> list[str]:
    """Start again whatever daemon of the real nodes is not running (a reused cluster). Returns their names."""
    restarted = []
    nodes = existing(layout)
    if nodes:  # after a reboot: forwarding, the guard chain and the DNS bridge are gone too
        start_host_network(layout)
    for node in nodes:
        if not all(procs.is_alive(layout.pid_file(node.daemon(w))) for w in ("containerd", "kubelet")):
            restore_node(layout, node.name)
            restarted.append(node.name)
    if nodes and not procs.is_alive(layout.pid_file(COREDNS)):
        start_coredns(layout)
        restarted.append(COREDNS)
    if nodes and not procs.is_alive(layout.pid_file(KUBE_PROXY)):
        start_kube_proxy(layout, nodes[0].name)
        restarted.append(KUBE_PROXY)
    return restarted


def fail_node(layout: Layout, name: str) -> None:
    """A real node dies: its kubelet, containers and containerd stop (the node controller notices)."""
    node = _by_name(layout, name)
    left = stop_node(node)
    if left:
        raise DeploytoolError(f"could not stop {', '.join(left)}")


def restore_node(layout: Layout, name: str) -> None:
    """Start a stopped real node again (idempotent: running daemons are kept): its bridge (gone
    after a reboot), containerd (its images and containers' state are in its root) and kubelet."""
    node = _by_name(layout, name)
    share = recorded_share(node)
    realnet.ensure_bridge(node.net.bridge, f"{node.net.node_ip}/24")
    start_containerd(node, images.pause_image())
    start_kubelet(node, share)


def _by_name(layout: Layout, name: str) -> RealNode:
    for node in existing(layout):
        if node.name == name:
            return node
    raise DeploytoolError(f"{name} is not a real node of cluster '{layout.name}'")


def record(node: RealNode, share: kubelet.Share) -> None:
    write_atomic(node.root / "node.json", json.dumps(
        {"name": node.name, "cpu_millis": share.cpu_millis, "memory_bytes": share.memory_bytes}) + "\n")


def recorded_share(node: RealNode) -> kubelet.Share:
    """The share of this machine a real node was started with (record())."""
    state = json.loads((node.root / "node.json").read_text())
    return kubelet.Share(state["cpu_millis"], state["memory_bytes"])


def daemon_pid(layout: Layout, daemon: str) -> int | None:
    """The pid of a running real-node daemon (None if it is not running)."""
    info = procs.read_pid_file(layout.pid_file(daemon))
    return info.pid if info and procs.pid_alive(info.pid, info.start_time) else None


def kubelet_running(layout: Layout, node: str) -> bool:
    return procs.is_alive(layout.pid_file(f"kubelet-{node}"))
