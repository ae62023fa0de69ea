"""One containerd per real node: its configuration and how it is started.

A kubelet kills every sandbox its runtime reports that it does not know, so two kubelets must
never share a containerd: each real node gets its own root, state, socket and runc root, in the
node's folder except the socket (run_dir: a unix socket path must stay short). containerd and
runc come from Debian's packages (`apt-get install containerd runc containernetworking-plugins`,
done by `make tools`).

Facts this configuration relies on (learned on this machine, see docs/local-cluster.md):
* `restrict_oom_score_adj = true`: without CAP_SYS_RESOURCE every sandbox otherwise fails with
  "can't get final child's PID from pipe" (runc may not lower a process's oom_score_adj).
* the sandbox image is our pause image (images.pause_image), imported before the kubelet starts;
  image references are `localhost/deploytool/...`, so nothing is ever pulled from elsewhere.
* pod network namespaces are mounted under the node's state dir, not /var/run/netns.
* containerd's registry client goes through a proxy on a closed loopback port (environment()):
  a pod naming an image that was not imported fails to pull without any traffic off the machine.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from deploytool.core.errors import ToolMissing

CONTAINERD = "/usr/bin/containerd"
RUNC = "/usr/sbin/runc"
CNI_BIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")
SOCKET_PATH_MAX = 96  # containerd refuses socket paths over 104 bytes, and adds ".ttrpc"
# Sockets live in a short folder of their own (a cluster folder may be deep): /run/deploytool/<id>/.
RUN_DIR = Path("/run/deploytool")


def cni_bin_dir() -> Path:
    for folder in CNI_BIN_DIRS:
        if Path(folder, "bridge").is_file() and Path(folder, "host-local").is_file():
            return Path(folder)
    raise ToolMissing("the CNI plugins (bridge, host-local, loopback) are not installed: "
                      "apt-get install containernetworking-plugins (make tools does this)")


def check_installed() -> None:
    """ToolMissing naming every Debian package that is missing."""
    missing = [pkg for path, pkg in ((CONTAINERD, "containerd"), (RUNC, "runc"), ("/usr/sbin/iptables", "iptables"),
                                     ("/usr/bin/openssl", "openssl")) if not Path(path).is_file()]
    try:
        cni_bin_dir()
    except ToolMissing:
        missing.append("containernetworking-plugins")
    if missing:
        raise ToolMissing(f"real nodes need Debian's {', '.join(missing)}: apt-get install {' '.join(missing)} "
                          "(make tools does this)")


def config_toml(folder: Path, socket: Path, sandbox_image: str, cni_conf_dir: Path) -> str:
    """containerd's config (version 2, as containerd 1.6 reads it) for a node whose files live in folder."""
    if len(str(socket)) > SOCKET_PATH_MAX:
        raise ToolMissing(f"containerd socket path too long for a unix socket ({len(str(socket))} > "
                          f"{SOCKET_PATH_MAX}): {socket}")
    return f"""# Written by deploytool (clusters/local/containerd.py): one containerd per real node.
version = 2
root = "{folder / 'root'}"
state = "{folder / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{folder / 'opt'}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "{RUNC}"
        Root = "{folder / 'runc'}"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin_dir()}"
    conf_dir = "{cni_conf_dir}"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{folder / 'certs.d'}"
"""


# Where containerd would connect to pull an image: a closed loopback port. Our images are imported,
# never pulled; if a pod names any other image, the pull fails at once (ErrImagePull) without a DNS
# lookup or a connection leaving this machine (the proxy, not containerd, would resolve the host).
NO_PULL_PROXY = "http://127.0.0.1:9"


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    env.update(HTTP_PROXY=NO_PULL_PROXY, HTTPS_PROXY=NO_PULL_PROXY, NO_PROXY="")
    return env


def run_dir(cluster_root: Path) -> Path:
    """The short folder holding a cluster's containerd sockets: /run/deploytool/<12 hex of its path>."""
    return RUN_DIR / hashlib.sha256(str(cluster_root).encode()).hexdigest()[:12]


def argv(folder: Path) -> list[str]:
    return [CONTAINERD, "--config", str(folder / "config.toml")]
