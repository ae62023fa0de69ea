"""CPU load for real clusters (kind): pymilvus searches as fast as a few workers can send them.

Each worker has its own port-forward to one of the ready proxy/standalone pods (round-robin, so
the load spreads like a Service would spread it) and loops over searches of a small collection
it shares with the others; stop() ends the workers and drops the collection. Bounded: a worker
stops after max_seconds even if nobody calls stop(). Not used on the local cluster, whose pod
CPU usage is simulated (see faults.py); it cannot be exercised without a real Milvus.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

from deploytool.core.kube import Kube
from deploytool.deploy.milvus_client import PodClient, create_loaded_collection
from deploytool.deploy.workloads import ready_pods


class LoadGenerator:
    def __init__(self, kube: Kube, namespace: str, release: str, component: str, workers: int = 8,
                 vectors: int = 20000, dim: int = 128, max_seconds: float = 900.0) -> None:
        self.kube, self.namespace, self.release, self.component = kube, namespace, release, component
        self.workers = workers
        self.dim = dim
        self.count = vectors
        self.max_seconds = max_seconds
        self.collection = f"deploytool_load_{uuid.uuid4().hex[:8]}"
        self.searches = 0
        self.errors = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: list[PodClient] = []
        self._admin: Any = None

    def _client(self, pod: str) -> Any:
        conn = PodClient(self.kube, self.namespace, pod)
        self._clients.append(conn)
        return conn.client

    def start(self) -> LoadGenerator:
        pods = [str(p.metadata.name) for p in ready_pods(self.kube, self.namespace, self.release, self.component)]
        if not pods:
            raise RuntimeError(f"no ready {self.component} pod for the load generator")
        admin = self._client(pods[0])
        rng = random.Random(3)
        create_loaded_collection(admin, self.collection, self.dim,
                                 ([rng.random() for _ in range(self.dim)] for _ in range(self.count)))
        self._admin = admin
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, args=(pods[n % len(pods)], n), daemon=True,
                                      name=f"drill-loadgen-{n}")
            self._threads.append(thread)
            thread.start()
        return self

    def _work(self, pod: str, seed: int) -> None:
        rng = random.Random(seed)
        milvus = self._client(pod)
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                milvus.search(self.collection, data=[[rng.random() for _ in range(self.dim)]], limit=10, timeout=10)
                self.searches += 1
            except Exception:  # noqa: BLE001 - load keeps going; errors are counted
                self.errors += 1
                self._stop.wait(0.5)
        milvus.close()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        try:
            if self._admin is not None:
                self._admin.drop_collection(self.collection)
        except Exception:  # noqa: BLE001 - best effort
            pass
        for conn in self._clients:
            conn.close()
