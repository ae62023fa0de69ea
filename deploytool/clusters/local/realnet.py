"""The network of a cluster's real nodes: addresses, bridges, CNI configuration, the forwarding guard.

Address plan (fixed; one cluster with real nodes per machine, see hostslot.py):

* real node i (1..N) owns the Linux bridge `dtbr<i>` holding 10.244.<i>.1/24. That address is
  the node's InternalIP (the kubelet serves on it; the API server reaches it for logs, exec and
  port-forward) and the gateway of the node's pods, which get 10.244.<i>.2-254 from the CNI
  bridge plugin (host-local IPAM, allocations kept in the node's folder).
* cluster DNS: CoreDNS on the host listens on 10.244.0.10, held by the port-less bridge `dtbr0`.
* Services: the API server's default service range 10.0.0.0/24, served by one kube-proxy.
* pods get routes to 10.244.0.0/16 and 10.0.0.0/24 through their node's bridge and no default
  route: nothing off this machine is reachable from a pod. The kernel forwards between our
  bridges (net.ipv4.ip_forward=1 while real nodes run); the iptables chain DEPLOYTOOL-FWD drops
  anything forwarded from the pod range to an address outside these ranges.

The kernel here has no dummy links, so the node and DNS addresses live on bridges without ports.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploytool.core.errors import CommandFailed

POD_RANGE = "10.244.0.0/16"
SERVICE_RANGE = "10.0.0.0/24"   # kube-apiserver's default --service-cluster-ip-range (kwokctl sets none)
DNS_BRIDGE = "dtbr0"
DNS_ADDRESS = "10.244.0.10"
GUARD_CHAIN = "DEPLOYTOOL-FWD"
IP = "/usr/sbin/ip"
IPTABLES = "/usr/sbin/iptables"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
MAX_REAL_NODES = 50


@dataclass(frozen=True)
class NodeNet:
    index: int

    @property
    def bridge(self) -> str:
        return f"dtbr{self.index}"

    @property
    def node_ip(self) -> str:
        return f"10.244.{self.index}.1"

    @property
    def pod_subnet(self) -> str:
        return f"10.244.{self.index}.0/24"

    def cni_conflist(self, network: str, ipam_dir: Path) -> dict[str, object]:
        """The node's CNI network: its bridge, its pod subnet, routes to our ranges only."""
        return {
            "cniVersion": "0.4.0",
            "name": network,
            "plugins": [{
                "type": "bridge",
                "bridge": self.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": self.pod_subnet, "gateway": self.node_ip}]],
                    "routes": [{"dst": POD_RANGE}, {"dst": SERVICE_RANGE}],
                    "dataDir": str(ipam_dir),
                },
            }],
        }


def all_addresses_ours(addresses: list[str]) -> bool:
    """True if every address is in the pod or service range (the only ones real nodes use)."""
    nets = [ipaddress.ip_network(POD_RANGE), ipaddress.ip_network(SERVICE_RANGE)]
    return all(any(ipaddress.ip_address(a) in n for n in nets) for a in addresses)


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    if check and proc.returncode != 0:
        raise CommandFailed(list(argv), proc.returncode, (proc.stderr or proc.stdout).strip()[-500:])
    return proc


def link_exists(name: str) -> bool:
    return _run(IP, "link", "show", "dev", name, check=False).returncode == 0


def ensure_bridge(name: str, address_cidr: str) -> None:
    """A bridge holding address_cidr, up (it has no ports until a pod's veth joins it)."""
    if not link_exists(name):
        _run(IP, "link", "add", "name", name, "type", "bridge")
    current = _run(IP, "-o", "-4", "addr", "show", "dev", name).stdout
    if f" {address_cidr} " not in current:
        _run(IP, "addr", "add", address_cidr, "dev", name)
    _run(IP, "link", "set", "dev", name, "up")


def delete_bridge(name: str) -> bool:
    if not link_exists(name):
        return False
    _run(IP, "link", "delete", "dev", name)
    return True


def our_bridges() -> list[str]:
    """Every dtbr<N> bridge present (ours by name)."""
    out = _run(IP, "-o", "link", "show", "type", "bridge", check=False).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]
    return sorted(n for n in names if n.startswith("dtbr") and n[4:].isdigit())


def read_ip_forward() -> str:
    return IP_FORWARD.read_text().strip()


def set_ip_forward(value: str) -> None:
    IP_FORWARD.write_text(value + "\n")


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(IPTABLES, "-w", "5", *args, check=check)


def install_guard() -> None:
    """DEPLOYTOOL-FWD: forwarded traffic from pods may only go to the pod and service ranges."""
    if _iptables("-n", "-L", GUARD_CHAIN, check=False).returncode != 0:
        _iptables("-N", GUARD_CHAIN)
    _iptables("-F", GUARD_CHAIN)
    _iptables("-A", GUARD_CHAIN, "-d", POD_RANGE, "-j", "RETURN")
    _iptables("-A", GUARD_CHAIN, "-d", SERVICE_RANGE, "-j", "RETURN")
    _iptables("-A", GUARD_CHAIN, "-j", "DROP")
    if _iptables("-C", "FORWARD", "-s", POD_RANGE, "-j", GUARD_CHAIN, check=False).returncode != 0:
        _iptables("-I", "FORWARD", "1", "-s", POD_RANGE, "-j", GUARD_CHAIN)


def remove_guard() -> bool:
    removed = False
    while _iptables("-D", "FORWARD", "-s", POD_RANGE, "-j", GUARD_CHAIN, check=False).returncode == 0:
        removed = True
    if _iptables("-n", "-L", GUARD_CHAIN, check=False).returncode == 0:
        _iptables("-F", GUARD_CHAIN)
        _iptables("-X", GUARD_CHAIN)
        removed = True
    return removed


IP6TABLES = "/usr/sbin/ip6tables"


def remove_kube_chains() -> list[str]:
    """Remove every KUBE-* chain (and the jumps to them) the kubelets and kube-proxy left in the
    filter, nat and mangle tables, IPv4 and IPv6. Only called by the cluster holding the machine's
    real-node slot: no other kubelet or kube-proxy runs on this machine. Returns what stayed."""
    left = []
    for binary in (IPTABLES, IP6TABLES):
        if not Path(binary).is_file():
            continue
        for table in ("filter", "nat", "mangle"):
            rules = _run(binary, "-w", "5", "-t", table, "-S", check=False).stdout.splitlines()
            chains = [r.split()[1] for r in rules if r.startswith("-N KUBE-")]
            for rule in rules:  # jumps from built-in chains first
                words = shlex.split(rule)
                if words[:1] == ["-A"] and not words[1].startswith("KUBE-") and "-j" in words \
                        and words[words.index("-j") + 1].startswith("KUBE-"):
                    _run(binary, "-w", "5", "-t", table, "-D", *words[1:], check=False)
            for chain in chains:
                _run(binary, "-w", "5", "-t", table, "-F", chain, check=False)
            for chain in chains:
                if _run(binary, "-w", "5", "-t", table, "-X", chain, check=False).returncode != 0:
                    left.append(f"{binary.rsplit('/', 1)[-1]} -t {table} {chain}")
    return left


def write_conflist(conf_dir: Path, node: NodeNet, network: str, ipam_dir: Path) -> Path:
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / "10-deploytool.conflist"
    path.write_text(json.dumps(node.cni_conflist(network, ipam_dir), indent=2) + "\n")
    return path
