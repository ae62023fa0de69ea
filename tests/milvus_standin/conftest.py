"""Fixtures for the Milvus stand-in tests: real etcd, real MinIO, milvus-lite, the stand-in itself,
all as host processes on loopback, each writing to its own log file and stopped by its fixture.

These need the pinned tools (`make tools`: etcd, minio). Like the cluster tier, a missing tool fails
the test in CI (where .ci/run builds them) and skips it elsewhere, saying which tool.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standin_procs import Daemon, StandIn, free_port, moto_server, start_etcd, start_minio, stop, wait_port


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_etcd(tmp_path_factory.mktemp("etcd"))
    yield daemon
    stop(daemon.proc)


@pytest.fixture(scope="module")
def minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start_minio(tmp_path_factory.mktemp("minio"))
    yield daemon
    stop(daemon.proc)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One shared Milvus engine (milvus-lite's gRPC server) for proxies to relay to."""
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install -e '.[local]')")
    workdir = tmp_path_factory.mktemp("engine")
    port, log = free_port(), workdir / "milvus-lite.log"
    argv = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(workdir / "data"),
            "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    wait_port(port, 120, proc, log)
    yield Daemon(proc, port, log, workdir / "data")
    stop(proc)


@pytest.fixture(scope="module")
def no_conditional_writes_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """An S3 server that predates conditional writes: moto 4.2's server accepts a PUT with
    If-None-Match: * over an existing object, as MinIO did before it supported conditional writes.
    (MinIO releases that old cannot be had from the Go module proxy here; see docs/milvus-standin.md.)"""
    try:
        binary = moto_server()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"could not install moto's S3 server: {exc}")
        pytest.skip(f"could not install moto's S3 server: {exc}")
    workdir = tmp_path_factory.mktemp("moto")
    port, log = free_port(), workdir / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    wait_port(port, 60, proc, log)
    yield Daemon(proc, port, log, workdir)
    stop(proc)


@pytest.fixture
def standins(tmp_path: Path) -> Iterator[Any]:
    """Factory: standins(role, config, env=...) -> a started StandIn; all are stopped at the end."""
    started: list[StandIn] = []

    def make(role: str, config: dict[str, Any], env: dict[str, str] | None = None, start: bool = True,
             write_config: bool = True, image_root: Path | None = None, userspec: str = "") -> StandIn:
        workdir = tmp_path / f"{role}-{len(started)}"
        workdir.mkdir()
        standin = StandIn(role, workdir, config, dict(env or {}), image_root=image_root, userspec=userspec)
        started.append(standin)
        return standin.start(write_config) if start else standin

    yield make
    for standin in started:
        standin.stop()

