"""pymilvus against one Milvus pod, and the test collection that smoke, probe and load generator use.

A client goes through a kubernetes-client port-forward to the pod's Milvus port. The collection
is the same everywhere: an INT64 primary key `id` (0..n-1), a FLOAT_VECTOR `vector`, an L2 index,
loaded. pymilvus is imported on first use only (it is heavy).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

from deploytool.core.kube import Kube
from deploytool.core.labels import MILVUS_PORT
from deploytool.core.portforward import PodPortForward


class PodClient:
    """A MilvusClient through a port-forward to one pod; close() ends both."""

    def __init__(self, kube: Kube, namespace: str, pod: str, timeout_s: float = 30) -> None:
        from pymilvus import MilvusClient

        self.pod = pod
        self.forward = PodPortForward(kube.core, namespace, pod, MILVUS_PORT)
        port = self.forward.start()
        try:
            self.client: Any = MilvusClient(uri=f"http://127.0.0.1:{port}", timeout=timeout_s)
        except Exception:
            self.forward.stop()
            raise

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self.forward.stop()

    def __enter__(self) -> PodClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def create_loaded_collection(milvus: Any, name: str, dim: int, vectors: Iterable[Sequence[float]],
                             index_type: str = "FLAT", index_params: dict[str, Any] | None = None,
                             batch: int = 2000, timeout_s: float = 30, load_timeout_s: float = 60) -> int:
    """Create the test collection `name`, insert `vectors` with ids 0, 1, ... in batches, index
    (L2) and load it. Returns the number of rows Milvus reports inserted."""
    from pymilvus import DataType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    milvus.create_collection(name, schema=schema, timeout=timeout_s)
    inserted, ids, rows = 0, itertools.count(), iter(vectors)
    while chunk := list(itertools.islice(rows, batch)):
        result = milvus.insert(name, [{"id": next(ids), "vector": list(v)} for v in chunk], timeout=timeout_s)
        inserted += int(result["insert_count"])
    index = milvus.prepare_index_params()
    index.add_index(field_name="vector", index_type=index_type, metric_type="L2",
                    **({"params": index_params} if index_params else {}))
    milvus.create_index(name, index, timeout=timeout_s)
    milvus.load_collection(name, timeout=load_timeout_s)
    return inserted
