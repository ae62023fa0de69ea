"""Cluster providers: where deploytool gets a Kubernetes cluster.

* local   -- kwok: real control plane, simulated nodes, milvus-lite as the engine (clusters/local/provider.py)
* current -- your kubeconfig context as it is (clusters/current.py)
* kind    -- Docker + kind (clusters/kind.py)

    from deploytool import clusters
    provider = clusters.get_provider("local")
    ref = provider.create("demo", ClusterSpec(nodes=3))   # ClusterRef(provider, name, kubeconfig, context)
    conn = provider.connect("demo")    # Connection: ref, kube, helm, info (ProviderInfo), faults

Callers decide on `provider.info` (ProviderInfo) and `conn.faults`, never on the provider's name.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess

from deploytool.clusters.base import (
    DEFAULT_NAME,
    ClusterProvider,
    ClusterRef,
    ClusterSpec,
    Connection,
    ProviderInfo,
)
from deploytool.core.errors import BadInput

# name -> "module:Class", imported on first use.
PROVIDERS = {
    "local": "deploytool.clusters.local:LocalProvider",
    "current": "deploytool.clusters.current:CurrentProvider",
    "kind": "deploytool.clusters.kind:KindProvider",
}

__all__ = ["DEFAULT_NAME", "PROVIDERS", "ClusterProvider", "ClusterRef", "ClusterSpec", "Connection",
           "ProviderInfo", "choose_default", "docker_works", "get_provider"]


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose_default() -> str:
    """kind where Docker answers and kind is on PATH, else local."""
    return "kind" if shutil.which("kind") and docker_works() else "local"


def get_provider(name: str) -> ClusterProvider:
    """The provider called name ("auto": see choose_default); BadInput for an unknown one."""
    if name == "auto":
        name = choose_default()
    target = PROVIDERS.get(name)
    if target is None:
        raise BadInput(f"unknown cluster provider {name!r} (known: {', '.join(PROVIDERS)})")
    module_name, class_name = target.split(":")
    provider: ClusterProvider = getattr(importlib.import_module(module_name), class_name)()
    return provider
