"""Helpers for the cluster tests of the chart on real nodes (test_milvus_real_*.py): a cluster made
by `up --real-nodes` itself (one cluster with real nodes per machine: it waits for another
session's to go), deleted when the block ends, also on failure."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from typer.testing import CliRunner

from deploytool.cli.main import app
from deploytool.clusters.local import LocalProvider, hostslot, realnodes
from deploytool.core.kube import Kube

runner = CliRunner()
STANDIN = "localhost/deploytool/milvus-standin"


@dataclass
class UpCluster:
    name: str
    kube: Kube
    first: dict[str, Any]  # `up --output json` of the run that created the cluster
    seconds: float

    def cli(self, *args: str) -> Any:
        return runner.invoke(app, [*args, "--provider", "local", "--context", self.name])


def wait(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except ApiException:
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def require_real_nodes(provider: LocalProvider) -> None:
    """Skip (fail in CI) when this machine cannot run real nodes."""
    ok, why = provider.available()
    try:
        realnodes.check_available()
    except Exception as exc:  # noqa: BLE001 - reported below
        ok, why = False, str(exc)
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"real nodes unavailable in CI: {why}")
        pytest.skip(f"real nodes unavailable (make tools installs and builds them): {why}")


def up_on_real_nodes(cluster_lifetime: Any, env: str, real_nodes: int, *extra: str,
                     prefix: str = "dt-mreal") -> Iterator[UpCluster]:
    provider = LocalProvider()
    require_real_nodes(provider)
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    hostslot.wait_free(name, timeout=900)  # another session's cluster with real nodes
    with cluster_lifetime(provider, name):
        for attempt in range(3):  # another session may take the machine's real-node slot first
            started = time.monotonic()
            result = runner.invoke(app, ["up", "--env", env, "--provider", "local", "--context", name,
                                         "--real-nodes", str(real_nodes), *extra, "--output", "json"])
            if result.exit_code == 0 or "has real nodes" not in result.output or attempt == 2:
                break
            hostslot.wait_free(name, timeout=900)
        assert result.exit_code == 0, result.output
        ref = provider.ref(name)
        yield UpCluster(name, Kube(str(ref.kubeconfig), ref.context), json.loads(result.stdout),
                        time.monotonic() - started)


def step(data: dict[str, Any], name: str) -> str:
    return str(next(s for s in data["steps"] if s["name"] == name)["detail"])
