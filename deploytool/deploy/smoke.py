"""The pymilvus smoke: through a kubernetes-client port-forward to a ready proxy/standalone pod,
connect, create a collection, insert vectors, index, load, search (the query's top hit must be
itself), drop."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

from deploytool.core.conditions import pod_ready
from deploytool.core.errors import CheckFailed
from deploytool.core.kube import Kube, labels
from deploytool.core.portforward import PodPortForward

MILVUS_PORT = 19530


@dataclass
class SmokeResult:
    pod: str
    server_version: str
    inserted: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def ready_pod(kube: Kube, namespace: str, release: str, component: str) -> str:
    selector = labels(**{"app.kubernetes.io/instance": release, "app.kubernetes.io/component": component})
    for pod in kube.core.list_namespaced_pod(namespace, label_selector=selector).items:
        if pod_ready(pod) and not pod.metadata.deletion_timestamp:
            return str(pod.metadata.name)
    raise CheckFailed(f"no ready {component} pod in {namespace} (selector {selector})")


def run_smoke(kube: Kube, namespace: str, release: str, component: str,
              vectors: int = 1000, dim: int = 16) -> SmokeResult:
    from pymilvus import DataType, MilvusClient  # heavy import, only when used

    pod = ready_pod(kube, namespace, release, component)
    start = time.monotonic()
    name = f"deploytool_smoke_{uuid.uuid4().hex[:8]}"
    rng = random.Random(42)
    data = [{"id": i, "vector": [rng.random() for _ in range(dim)]} for i in range(vectors)]
    probe = 123 % vectors
    with PodPortForward(kube.core, namespace, pod, MILVUS_PORT) as local_port:
        milvus = MilvusClient(uri=f"http://127.0.0.1:{local_port}", timeout=30)
        try:
            version = str(milvus.get_server_version())
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
            milvus.create_collection(name, schema=schema)
            inserted = milvus.insert(name, data)["insert_count"]
            index = milvus.prepare_index_params()
            index.add_index(field_name="vector", index_type="IVF_FLAT", metric_type="L2", params={"nlist": 16})
            milvus.create_index(name, index)
            milvus.load_collection(name)
            hits = milvus.search(name, data=[data[probe]["vector"]], limit=3, search_params={"nprobe": 16})
            top = hits[0][0]["id"] if hits and hits[0] else None
        finally:
            try:
                milvus.drop_collection(name)
            finally:
                milvus.close()
    if inserted != vectors:
        raise CheckFailed(f"smoke via {pod}: inserted {inserted} of {vectors} vectors")
    if top != probe:
        raise CheckFailed(f"smoke via {pod}: top hit for vector {probe} was {top}, expected itself")
    return SmokeResult(pod, version, inserted, time.monotonic() - start)
