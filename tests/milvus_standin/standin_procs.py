"""Processes for the Milvus stand-in tests: real etcd, MinIO, an S3 server without conditional writes,
milvus-lite and `milvus run <role>`, on loopback, each writing to its own log file."""


from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploytool.core import toolchain
from deploytool.core.errors import ToolMissing

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "images" / "milvus-standin" / "milvus"
IMAGE_PATH = "/milvus/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MINIO_USER, MINIO_PASSWORD = "standin-test-user", "standin-test-secret-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before listening on {port}: "
                                 f"{log.read_text()[-2000:] if log else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


MOTO_VERSION = "4.2.14"


def moto_server() -> Path:
    """moto's S3 server at MOTO_VERSION, in its own venv under the tools cache (created once).

    moto 4.2 predates S3 conditional writes, so its server accepts a PUT with If-None-Match: * over
    an existing object. It lives outside the project's venv because it pins python-dateutil<3, which
    the kubernetes client does not accept.
    """
    from deploytool.core import paths

    venv = paths.cache_dir() / "tools" / "moto" / MOTO_VERSION
    binary, stamp = venv / "bin" / "moto_server", venv / ".deploytool-built"
    if stamp.is_file() and binary.is_file():
        return binary
    shutil.rmtree(venv, ignore_errors=True)  # a half-made venv from an interrupted run
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    proc = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"moto[server]=={MOTO_VERSION}"],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install moto[server]=={MOTO_VERSION} failed: {proc.stderr[-1500:]}")
    stamp.write_text(MOTO_VERSION + "\n")
    return binary


def tool(binary: str) -> Path:
    try:
        return toolchain.find(binary)
    except ToolMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is not built in CI: {exc}")
        pytest.skip(f"{binary} is not built (run `make tools`): {exc}")


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    data: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_etcd(workdir: Path) -> Daemon:
    binary = tool("etcd")
    client, peer = free_port(), free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    data, log = workdir / "etcd-data", workdir / "etcd.log"
    argv = [str(binary), "--name", "standin-test", "--data-dir", str(data),
            "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"standin-test=http://127.0.0.1:{peer}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    wait_port(client, 30, proc, log)
    return Daemon(proc, client, log, data)


def start_minio(workdir: Path) -> Daemon:
    binary = tool("minio")
    port, console = free_port(), free_port()
    data, log = workdir / "minio-data", workdir / "minio.log"
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, MINIO_ROOT_USER=MINIO_USER, MINIO_ROOT_PASSWORD=MINIO_PASSWORD,
               MINIO_BROWSER="off", MINIO_UPDATE="off", HOME=str(workdir))
    argv = [str(binary), "server", str(data), "--address", f"127.0.0.1:{port}",
            "--console-address", f"127.0.0.1:{console}", "--quiet"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    wait_port(port, 60, proc, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # listening is not ready: wait for MinIO's readiness endpoint
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/minio/health/ready", timeout=2) as resp:
                if resp.status == 200:
                    break
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.3)
    return Daemon(proc, port, log, data)


@dataclass
class StandIn:
    """One `milvus run <role>` process of the stand-in, with its own config dir, log and ports."""

    role: str
    workdir: Path
    config: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    metrics_port: int = field(default_factory=free_port)
    port: int = field(default_factory=free_port)
    # Run inside an image's root instead of from the source tree: chroot <root> milvus run <role>,
    # with user.yaml where the chart mounts it (/milvus/configs/user.yaml).
    image_root: Path | None = None
    userspec: str = ""  # the image's User (chroot --userspec), e.g. 999:999 for Milvus 3.x

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.role}.log"

    def start(self, write_config: bool = True) -> StandIn:
        confdir = self.workdir / "configs" if self.image_root is None else self.image_root / "milvus" / "configs"
        confdir.mkdir(parents=True, exist_ok=True)
        if write_config:
            (confdir / "user.yaml").write_text(yaml.safe_dump(self.config))
        port_key = {"proxy": "PROXY_PORT", "standalone": "PROXY_PORT", "mixcoord": "ROOTCOORD_PORT",
                    "querynode": "QUERYNODE_PORT", "datanode": "DATANODE_PORT",
                    "streamingnode": "STREAMINGNODE_PORT"}[self.role]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MINIO_", "ETCD_", "MILVUS"))}
        env.update({"MILVUSCONF": str(confdir), "METRICS_PORT": str(self.metrics_port),
                    port_key: str(self.port), "STANDIN_CONNECT_TIMEOUT": "5", **self.env})
        argv = [sys.executable, str(STANDIN), "run", self.role]
        if self.image_root is not None:  # the image's own PATH and config dir; nothing from the host
            env = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
            env.pop("MILVUSCONF")  # Milvus falls back to <cwd>/configs: the image works in /milvus
            env["PATH"] = IMAGE_PATH
            env["HOME"] = "/milvus"
            user = [f"--userspec={self.userspec}"] if self.userspec else []
            argv = ["chroot", *user, str(self.image_root), "/usr/bin/env", "--chdir=/milvus",
                    "milvus", "run", self.role]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, cwd=self.workdir, env=env,
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        return self

    def logs(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def healthz(self, json_detail: bool = False) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"} if json_detail else {}
        request = urllib.request.Request(f"http://127.0.0.1:{self.metrics_port}/healthz", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def livez(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/livez", timeout=5) as resp:
            return resp.status

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last: tuple[int, str] | str = ""
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.role} exited with {self.proc.returncode}:\n{self.logs()[-3000:]}")
            try:
                last = self.healthz()
                if last[0] == 200:
                    return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise AssertionError(f"{self.role} not healthy after {timeout}s (last: {last}):\n{self.logs()[-3000:]}")

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{self.role} still running after {timeout}s:\n{self.logs()[-3000:]}") from exc

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=15)


def cluster_config(etcd: Daemon, store: Daemon, **overrides: Any) -> dict[str, Any]:
    """user.yaml as the chart renders it for a cluster deployment, on a fresh etcd root and bucket."""
    host, port = store.address.split(":")
    config: dict[str, Any] = {
        "etcd": {"endpoints": [etcd.address], "rootPath": f"standin-{uuid.uuid4().hex[:8]}"},
        "common": {"storageType": "remote", "session": {"ttl": 4, "retryTimes": 3}},
        "minio": {"address": host, "port": int(port), "useSSL": False,
                  "bucketName": f"standin-{uuid.uuid4().hex[:8]}", "rootPath": "files"},
        "mq": {"type": "woodpecker"},
        "woodpecker": {"storage": {"type": "minio"}},
    }
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        config.setdefault(section, {})[name] = value
    return config


def minio_env(user: str = MINIO_USER, password: str = MINIO_PASSWORD) -> dict[str, str]:
    """The credentials the chart passes from its Secret (MINIO_ACCESS_KEY_ID / MINIO_SECRET_ACCESS_KEY)."""
    return {"MINIO_ACCESS_KEY_ID": user, "MINIO_SECRET_ACCESS_KEY": password}


def session_keys(etcd: Daemon, root: str) -> dict[str, dict[str, Any]]:
    """The Milvus session keys under <root>/meta/session/ (values parsed), read from etcd directly."""
    import base64

    prefix = f"{root}/meta/session/"
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    body = json.dumps({"key": base64.b64encode(prefix.encode()).decode(),
                       "range_end": base64.b64encode(end.encode()).decode()}).encode()
    request = urllib.request.Request(f"http://{etcd.address}/v3/kv/range", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=5) as resp:
        kvs = json.loads(resp.read()).get("kvs") or []
    out = {}
    for kv in kvs:
        key = base64.b64decode(kv["key"]).decode()[len(prefix):]
        value = base64.b64decode(kv.get("value", "")).decode()
        out[key] = json.loads(value) if value.startswith("{") else {"raw": value}
    return out
