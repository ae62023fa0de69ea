"""Real nodes' configuration as plain data: kubelet, containerd, CNI, kube-proxy, CoreDNS, kwokctl patches."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploytool.cli.common import default_nodes
from deploytool.cli.main import app
from deploytool.clusters.base import ClusterSpec
from deploytool.clusters.local import containerd, create, kubelet, kubeproxy, kwok, realnet, realnodes
from deploytool.clusters.local.layout import Layout
from deploytool.core.errors import BadInput

MACHINE = kubelet.Share(2000, 24 << 30)


def test_each_real_node_gets_an_equal_share_and_reserves_the_rest() -> None:
    share = kubelet.share_of_machine(3, machine=MACHINE)
    assert share == kubelet.Share(666, 8 << 30)
    reserved = kubelet.system_reserved(share, MACHINE)
    assert reserved["cpu"] == "1334m"
    # allocatable = capacity - reserved - eviction threshold = the share
    assert (24 << 10) - int(reserved["memory"].removesuffix("Mi")) - 100 == 8 << 10
    assert kubelet.share_of_machine(1, cpu="500m", memory="1Gi", machine=MACHINE) == kubelet.Share(500, 1 << 30)
    assert kubelet.share_of_machine(50, machine=MACHINE).cpu_millis == 100  # never below 100m


def test_kubelet_config_keeps_each_node_apart_and_off_the_registry(tmp_path: Path) -> None:
    cfg = kubelet.config(node_ip="10.244.2.1", cgroup="/deploytool/c-real-node-2",
                         containerd_socket=tmp_path / "c.sock", ca_file=tmp_path / "ca.crt", dns="10.244.0.10",
                         reserved={"cpu": "1", "memory": "1Gi"}, pod_logs=tmp_path / "logs",
                         plugins=tmp_path / "plugins")
    assert cfg["address"] == cfg["healthzBindAddress"] == "10.244.2.1"
    assert cfg["readOnlyPort"] == 0
    assert cfg["authentication"]["anonymous"]["enabled"] is False
    assert cfg["authorization"]["mode"] == "Webhook"
    assert cfg["containerRuntimeEndpoint"] == f"unix://{tmp_path / 'c.sock'}"
    assert cfg["cgroupRoot"] == "/deploytool/c-real-node-2" and cfg["cgroupDriver"] == "cgroupfs"
    assert cfg["failCgroupV1"] is False and cfg["failSwapOn"] is False
    assert cfg["imageGCHighThresholdPercent"] == 100  # images built here must never be collected
    assert cfg["resolvConf"] == ""  # pods never get the host's resolvers
    assert cfg["clusterDNS"] == ["10.244.0.10"]


def test_containerd_config_is_private_to_the_node_and_restricts_oom_score(tmp_path: Path) -> None:
    text = containerd.config_toml(tmp_path, Path("/run/deploytool/x/n1/c.sock"), "localhost/deploytool/pause:x",
                                  tmp_path / "net.d")
    assert 'address = "/run/deploytool/x/n1/c.sock"' in text and 'address = "/run/deploytool/x/n1/c.sock.ttrpc"' in text
    assert f'root = "{tmp_path}/root"' in text and f'Root = "{tmp_path}/runc"' in text
    assert "restrict_oom_score_adj = true" in text
    assert 'sandbox_image = "localhost/deploytool/pause:x"' in text
    assert "netns_mounts_under_state_dir = true" in text
    env = containerd.environment()
    assert env["HTTPS_PROXY"] == env["HTTP_PROXY"] == "http://127.0.0.1:9" and env["NO_PROXY"] == ""


def test_containerd_refuses_a_socket_path_too_long_for_unix_sockets(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="too long"):
        containerd.config_toml(tmp_path, tmp_path / ("x" * 120), "p", tmp_path)


def test_cni_network_routes_only_to_our_ranges() -> None:
    conf = realnet.NodeNet(3).cni_conflist("dt-real-node-3", Path("/ipam"))
    bridge = conf["plugins"][0]  # type: ignore[index]
    assert bridge["bridge"] == "dtbr3" and bridge["ipMasq"] is False
    ipam = bridge["ipam"]
    assert ipam["ranges"] == [[{"subnet": "10.244.3.0/24", "gateway": "10.244.3.1"}]]
    routes = [r["dst"] for r in ipam["routes"]]
    assert "0.0.0.0/0" not in routes and routes == [realnet.POD_RANGE, realnet.SERVICE_RANGE]
    assert realnet.all_addresses_ours(["10.244.3.1", "10.0.0.10", realnet.DNS_ADDRESS])
    assert not realnet.all_addresses_ours(["192.168.1.1"])
    # simulated pods (kwok, 10.245/16) never collide with real ones
    assert not ipaddress.ip_network("10.245.1.0/24").overlaps(ipaddress.ip_network(realnet.POD_RANGE))


def test_kube_proxy_and_coredns_listen_only_where_we_say(tmp_path: Path) -> None:
    cfg = kubeproxy.proxy_config(kubeconfig=tmp_path / "k", node="real-node-1", healthz_port=1, metrics_port=2)
    assert cfg["healthzBindAddress"] == "127.0.0.1:1" and cfg["metricsBindAddress"] == "127.0.0.1:2"
    assert cfg["nodePortAddresses"] == [realnet.POD_RANGE]
    assert cfg["conntrack"]["maxPerCore"] == 0
    corefile = kubeproxy.corefile(kubeconfig=tmp_path / "k", context="c", health_port=3, ready_port=4)
    assert f"bind {realnet.DNS_ADDRESS}" in corefile
    assert "forward" not in corefile  # no name outside the cluster is ever resolved


def test_kwok_controller_manages_only_kwok_nodes_and_the_apiserver_reaches_kubelets_by_ip() -> None:
    patches = {p["name"]: {a["key"]: a for a in p["extraArgs"]} for p in kwok.components_patches(Layout("c"))}
    controller = patches["kwok-controller"]
    assert controller["manage-all-nodes"] == {"key": "manage-all-nodes", "value": "false", "override": True}
    assert controller["manage-nodes-with-annotation-selector"]["value"] == "kwok.x-k8s.io/node=fake"
    # kwokctl v0.8.0 drops an override of an argument it does not set: new arguments are appended
    assert controller["manage-nodes-with-annotation-selector"]["override"] is False
    apiserver = patches["kube-apiserver"]
    assert apiserver["kubelet-preferred-address-types"]["value"] == "InternalIP,Hostname"
    assert apiserver["kubelet-client-certificate"]["value"].endswith("pki/admin.crt")


def test_real_node_labels_and_zones() -> None:
    nodes = realnodes.plan(Layout("c"), 4)
    assert [n.name for n in nodes] == ["real-node-1", "real-node-2", "real-node-3", "real-node-4"]
    assert [realnodes.node_labels(n)["topology.kubernetes.io/zone"] for n in nodes] == \
        ["zone-a", "zone-b", "zone-c", "zone-a"]
    assert all(realnodes.node_labels(n)["deploytool.io/node-kind"] == "real" for n in nodes)
    assert nodes[0].cgroup == "/deploytool/c-real-node-1"


@pytest.mark.parametrize(("spec", "message"), [
    (ClusterSpec(nodes=0), "--nodes must be between 1"),
    (ClusterSpec(nodes=0, real_nodes=51), "--real-nodes must be between 0 and 50"),
    (ClusterSpec(nodes=-1, real_nodes=1), "--nodes must be between 0"),
])
def test_spec_checks(spec: ClusterSpec, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        create.check_spec(spec)


def test_nodes_default_to_none_beside_real_nodes() -> None:
    assert default_nodes(None, 0) == 3
    assert default_nodes(None, 2) == 0
    assert default_nodes(1, 2) == 1


def test_real_nodes_are_refused_for_providers_that_cannot_run_them() -> None:
    result = CliRunner().invoke(app, ["cluster", "create", "--provider", "current", "--real-nodes", "1"])
    assert result.exit_code == 2
    assert "--real-nodes applies to --provider local only" in result.output


def test_one_cluster_per_machine_holds_the_real_node_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploytool.clusters.local import hostslot

    monkeypatch.setenv("DEPLOYTOOL_CACHE", str(tmp_path))
    Layout("a").root.mkdir(parents=True)
    assert hostslot.owner() is None
    hostslot.acquire("a")
    hostslot.acquire("a")  # idempotent for its owner
    with pytest.raises(BadInput, match="local cluster 'a' has real nodes"):
        hostslot.acquire("b")
    hostslot.release("b")  # not the owner: nothing happens
    assert hostslot.owner() == "a"
    Layout("a").root.rmdir()  # the owner's folder is gone: the slot is free again
    assert hostslot.owner() is None
    hostslot.acquire("b")
    assert hostslot.owner() is None  # b has no folder either


def test_containerd_counts_as_ready_only_once_its_latest_start_recovered_its_containers(tmp_path: Path) -> None:
    log = tmp_path / "containerd.log"
    assert not realnodes.cri_ready(log)
    log.write_text("--- 2026 start: containerd\nmsg=\"Start streaming server\"\n")
    assert realnodes.cri_ready(log)
    with open(log, "a") as handle:  # restarted: the earlier start's line does not count
        handle.write("--- 2026 start: containerd\nmsg=\"Start recovering state\"\n")
    assert not realnodes.cri_ready(log)
    with open(log, "a") as handle:
        handle.write("msg=\"Start streaming server\"\n")
    assert realnodes.cri_ready(log)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_teardown_unmounts_everything_under_the_cluster_folder_deepest_first(tmp_path: Path) -> None:
    source, outer = tmp_path / "src", tmp_path / "cluster" / "a b"  # a space: mountinfo escapes it
    inner = outer / "inner"
    source.mkdir()
    outer.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(outer)], check=True)
    try:
        inner.mkdir()
        subprocess.run(["mount", "--bind", str(source), str(inner)], check=True)
        assert realnodes.mounts_under(tmp_path / "cluster") == [str(inner), str(outer)]
        assert realnodes.unmount_all(tmp_path / "cluster") == []
    finally:
        subprocess.run(["umount", "-R", "-l", str(outer)], capture_output=True)
    assert realnodes.mounts_under(tmp_path) == []
