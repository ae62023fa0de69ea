"""One cluster with real nodes per machine.

Real nodes use machine-wide things: kube-proxy's iptables chains (a second kube-proxy would
rewrite them), the bridges dtbr<N> and the fixed address plan (realnet.py). The cluster that
has them holds the slot: the file <clusters>/.real-nodes names it. A slot whose owner's folder is
gone (deleted, or removed by hand) is free again.
"""

from __future__ import annotations

import time
from pathlib import Path

from deploytool.clusters.local.layout import Layout, clusters_root, write_atomic
from deploytool.core.errors import BadInput


def _slot_file() -> Path:
    return clusters_root() / ".real-nodes"


def owner() -> str | None:
    """The cluster holding the slot, or None (a stale owner whose folder is gone does not count)."""
    try:
        name = _slot_file().read_text().strip()
    except FileNotFoundError:
        return None
    if not name or not Layout(name).root.exists():
        return None
    return name


def acquire(name: str) -> None:
    current = owner()
    if current not in (None, name):
        raise BadInput(f"local cluster '{current}' has real nodes; only one cluster per machine may "
                       f"(kube-proxy's iptables chains and the node addresses are machine-wide): "
                       f"delete it first (deploytool cluster delete --name {current})")
    write_atomic(_slot_file(), name + "\n")


def release(name: str) -> None:
    if owner() in (None, name):
        _slot_file().unlink(missing_ok=True)


def wait_free(name: str, timeout: float) -> None:
    """Wait until no other cluster holds the slot (test sessions running side by side)."""
    deadline = time.monotonic() + timeout
    while owner() not in (None, name) and time.monotonic() < deadline:
        time.sleep(2)
