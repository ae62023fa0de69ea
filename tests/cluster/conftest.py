"""One real local cluster (kwok + control plane + milvus-lite) for the whole `cluster` tier.

Created once per session as dt-test-<random> (3 nodes of 16 CPU / 64Gi: room for the prod env)
and deleted at the end -- also when a test fails or the run is interrupted (try/finally in the
fixture, plus an atexit safety net for a session that dies before its teardown).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.base import ClusterRef, ClusterSpec
from deploytool.clusters.local import LocalProvider


@dataclass
class Cluster:
    provider: LocalProvider
    ref: ClusterRef
    api: client.ApiClient

    # The ClusterRef's fields, so tests may use the fixture as a ref too.
    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def kubeconfig(self) -> Path | None:
        return self.ref.kubeconfig

    @property
    def context(self) -> str | None:
        return self.ref.context

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[Cluster]:
    provider = LocalProvider()
    ok, why = provider.available()
    if not ok:
        # In CI the tools are built by .ci/run, so a missing tool is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"local cluster provider unavailable in CI: {why}")
        pytest.skip(f"local cluster provider unavailable (run `make tools`): {why}")
    name = f"dt-test-{uuid.uuid4().hex[:6]}"
    with deleted_at_exit(provider, name):
        ref = provider.create(name, ClusterSpec(nodes=3, node_cpu="16", node_memory="64Gi"), progress=True)
        yield Cluster(provider, ref, ref.api_client())


@contextlib.contextmanager
def deleted_at_exit(provider: LocalProvider, name: str) -> Iterator[None]:
    """Delete the cluster when the block ends -- also on a failure, Ctrl-C, SIGTERM (a CI timeout:
    raised as KeyboardInterrupt so the block unwinds) or a session that dies (atexit)."""
    state = {"deleted": False}

    def cleanup() -> None:
        if not state["deleted"]:
            state["deleted"] = True
            provider.delete(name, progress=False)

    atexit.register(cleanup)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        cleanup()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def cluster_lifetime() -> Any:
    """deleted_at_exit, for fixtures in test modules that make clusters of their own."""
    return deleted_at_exit


@pytest.fixture
def namespace(local_cluster: Cluster) -> Iterator[str]:
    """A fresh namespace per test (deleted afterwards, without waiting)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = local_cluster.core
    core.create_namespace({"metadata": {"name": name}})
    # Pods need the namespace's default service account, which the controller-manager adds.
    deadline = time.monotonic() + 30
    while True:
        try:
            core.read_namespaced_service_account("default", name)
            break
        except ApiException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except ApiException:
            pass
