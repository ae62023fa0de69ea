"""Where a local cluster keeps its files: ~/.cache/deploytool/clusters/<name>/ (or $DEPLOYTOOL_CACHE)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploytool.core import paths


def clusters_root() -> Path:
    return paths.cache_dir() / "clusters"


@dataclass(frozen=True)
class Layout:
    name: str

    @property
    def root(self) -> Path:
        return clusters_root() / self.name

    # kwokctl's own tree: KWOK_WORKDIR=<root>/kwok, cluster workdir <root>/kwok/clusters/<name>
    @property
    def kwok_workdir(self) -> Path:
        return self.root / "kwok"

    @property
    def kwok_cluster_dir(self) -> Path:
        return self.kwok_workdir / "clusters" / self.name

    @property
    def kwok_kubeconfig(self) -> Path:
        """kwokctl's kubeconfig (context kwok-<name>)."""
        return self.kwok_cluster_dir / "kubeconfig.yaml"

    @property
    def kubeconfig(self) -> Path:
        """Ours: the same credentials, with cluster, user and context all named <name>."""
        return self.root / "kubeconfig.yaml"

    @property
    def kwok_saved_config(self) -> Path:
        return self.kwok_cluster_dir / "kwok.yaml"

    @property
    def kwok_pids_dir(self) -> Path:
        return self.kwok_cluster_dir / "pids"

    @property
    def kwok_logs_dir(self) -> Path:
        return self.kwok_cluster_dir / "logs"

    # ours
    @property
    def kwokctl_config(self) -> Path:
        return self.root / "kwokctl.yaml"

    @property
    def metrics_manifest_dir(self) -> Path:
        return self.root / "manifests" / "metrics-server"

    @property
    def milvus_data(self) -> Path:
        return self.root / "milvus"

    @property
    def volumes_dir(self) -> Path:
        return self.root / "volumes"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.root / "pids"

    @property
    def state_file(self) -> Path:
        """Written when creation finished; its presence means 'the cluster exists'."""
        return self.root / "cluster.json"

    def pid_file(self, daemon: str) -> Path:
        return self.pids_dir / f"{daemon}.pid"

    def log_file(self, daemon: str) -> Path:
        return self.logs_dir / f"{daemon}.log"

    def read_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def write_state(self, state: dict[str, Any]) -> None:
        write_atomic(self.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def cluster_lock() -> Iterator[None]:
    """Serialise create/delete of local clusters (kwokctl picks free ports; two at once could collide)."""
    root = clusters_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
