"""The real Milvus engine behind the stand-in: milvus-lite's gRPC server, run as a child process.

standalone runs it itself with its data on the pod's volume; the shared engine for a cluster's
proxies runs with `milvus standin-engine`. Its output goes to the container's log (our stdout).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from milvus_standin import log


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Engine:
    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        self.data_dir, self.host, self.port = data_dir, host, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 120.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir),
                "--host", self.host, "--port", str(self.port)]
        log.info("starting the Milvus engine (milvus-lite)", data_dir=str(self.data_dir),
                 address=f"{self.host}:{self.port}")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sys.stdout, stderr=sys.stdout)
        deadline = time.monotonic() + ready_timeout
        probe_host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"milvus-lite exited with code {self.proc.returncode} at start")
            if port_open(probe_host, self.port, 0.5):
                log.info("Milvus engine (milvus-lite) is serving", address=f"{self.host}:{self.port}")
                return
            time.sleep(0.2)
        raise RuntimeError(f"milvus-lite did not listen on {self.host}:{self.port} within {ready_timeout:.0f}s")

    def alive(self) -> bool:
        probe_host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return self.proc is not None and self.proc.poll() is None and port_open(probe_host, self.port, 0.5)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        log.info("Milvus engine (milvus-lite) stopped", code=self.proc.returncode)
