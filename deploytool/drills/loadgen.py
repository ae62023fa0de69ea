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

from deploytool.core.conditions import pod_ready
from deploytool.core.kube import Kube, labels
from deploytool.core.portforward import PodPortForward

MILVUS_PORT = 19530


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
        self._forwards: list[PodPortForward] = []
        self._admin: Any = None

    def _pods(self) -> list[str]:
        selector = labels(**{"app.kubernetes.io/instance": self.release, "app.kubernetes.io/component": self.component})
        pods = self.kube.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        return sorted(p.metadata.name for p in pods if pod_ready(p) and not p.metadata.deletion_timestamp)

    def _client(self, pod: str) -> Any:
        from pymilvus import MilvusClient

        forward = PodPortForward(self.kube.core, self.namespace, pod, MILVUS_PORT)
        self._forwards.append(forward)
        return MilvusClient(uri=f"http://127.0.0.1:{forward.start()}", timeout=30)

    def start(self) -> LoadGenerator:
        from pymilvus import DataType, MilvusClient

        pods = self._pods()
        if not pods:
            raise RuntimeError(f"no ready {self.component} pod for the load generator")
        admin = self._client(pods[0])
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        admin.create_collection(self.collection, schema=schema)
        rng = random.Random(3)
        for start in range(0, self.count, 2000):
            admin.insert(self.collection, [{"id": i, "vector": [rng.random() for _ in range(self.dim)]}
                                           for i in range(start, min(self.count, start + 2000))])
        index = admin.prepare_index_params()
        index.add_index(field_name="vector", index_type="FLAT", metric_type="L2")
        admin.create_index(self.collection, index)
        admin.load_collection(self.collection)
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
                self._admin.close()
        except Exception:  # noqa: BLE001 - best effort
            pass
        for forward in self._forwards:
            forward.stop()
