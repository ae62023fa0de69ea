"""Debian packages the real nodes need: containerd, runc, the CNI plugins, iptables.

`make tools` (and so .ci/run) installs the missing ones with apt-get (`apt-get update` first), the
way the pinned Go tools are built: nothing else is downloaded. Without root or apt-get it says
which command to run instead; only real nodes need these packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from deploytool.core import paths

# a file each package installs -> the package
PACKAGES = {
    "/usr/bin/containerd": "containerd",
    "/usr/sbin/runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "/usr/sbin/iptables": "iptables",
    "/usr/bin/openssl": "openssl",  # the kubelets' client certificates
}


def missing() -> list[str]:
    return [pkg for path, pkg in PACKAGES.items() if not Path(path).exists()]


def install_command(packages: list[str]) -> list[str]:
    return ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]


def ensure(log: Callable[[str], None] = print) -> list[str]:
    """apt-get install the missing packages; returns those installed (raises CalledProcessError on failure)."""
    needed = missing()
    if not needed:
        log(f"✓ Debian packages for real nodes: {', '.join(sorted(set(PACKAGES.values())))} installed")
        return []
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        log(f"! real nodes need Debian's {' '.join(needed)}: run `apt-get update && "
            f"{' '.join(install_command(needed))}` as root")
        return []
    log_file = paths.cache_dir() / "tools" / "apt-get.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with open(log_file, "w") as out:
        for argv in (["apt-get", "update", "-q"], install_command(needed)):
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    log(f"✓ Debian packages for real nodes: installed {' '.join(needed)} (log {log_file})")
    return needed
