"""The pymilvus smoke: through a kubernetes-client port-forward to a ready proxy/standalone pod,
connect, create a collection, insert vectors, index, load, search (the query's top hit must be
itself), drop."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

from deploytool.core.errors import CheckFailed
from deploytool.core.kube import Kube
from deploytool.deploy.milvus_client import PodClient, create_loaded_collection
from deploytool.deploy.workloads import ready_pod


@dataclass
class SmokeResult:
    pod: str
    server_version: str
    inserted: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def run_smoke(kube: Kube, namespace: str, release: str, component: str,
              vectors: int = 1000, dim: int = 16) -> SmokeResult:
    pod = ready_pod(kube, namespace, release, component)
    start = time.monotonic()
    name = f"deploytool_smoke_{uuid.uuid4().hex[:8]}"
    rng = random.Random(42)
    data = [[rng.random() for _ in range(dim)] for _ in range(vectors)]
    probe = 123 % vectors
    with PodClient(kube, namespace, pod) as conn:
        milvus = conn.client
        version = str(milvus.get_server_version())
        try:
            inserted = create_loaded_collection(milvus, name, dim, data, index_type="IVF_FLAT",
                                                index_params={"nlist": 16})
            hits = milvus.search(name, data=[data[probe]], limit=3, search_params={"nprobe": 16})
            top = hits[0][0]["id"] if hits and hits[0] else None
        finally:
            milvus.drop_collection(name)
    if inserted != vectors:
        raise CheckFailed(f"smoke via {pod}: inserted {inserted} of {vectors} vectors")
    if top != probe:
        raise CheckFailed(f"smoke via {pod}: top hit for vector {probe} was {top}, expected itself")
    return SmokeResult(pod, version, inserted, time.monotonic() - start)
