"""The data-integrity ledger: what Milvus holds, before the first step and after every step.

An entry is an inventory through pymilvus (databases; per collection its row count, indexes and
load state) plus the canary: a collection of known vectors written before the upgrade (FLAT index,
L2, so a search is exact), searched vector by vector after every step. compare() is pure: every
canary vector must come back as its own top hit, no collection may vanish, no row count go down,
no index disappear, no loaded collection become unloaded.

Collections whose name starts with `deploytool_` (the canary, the drill probe's and the smoke's
short-lived ones) are not part of the inventory.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from deploytool.core.kube import Kube
from deploytool.deploy.milvus_client import PodClient, create_loaded_collection
from deploytool.deploy.workloads import ready_pod

CANARY = "deploytool_upgrade_canary"
OWN_PREFIX = "deploytool_"
CANARY_DIM = 16
CANARY_SEED = 20260916


@dataclass(frozen=True)
class CollectionState:
    database: str
    name: str
    rows: int
    indexes: tuple[str, ...]
    loaded: bool


@dataclass
class LedgerEntry:
    label: str  # "before", or "after <step>"
    seconds: float  # since the ledger started
    collections: list[CollectionState] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    canary_total: int = 0
    canary_found: int = 0
    canary_missing: list[int] = field(default_factory=list)
    error: str = ""  # Milvus could not be read
    problems: list[str] = field(default_factory=list)  # compare() against the first entry

    @property
    def ok(self) -> bool:
        return not self.error and not self.problems and self.canary_found == self.canary_total

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def canary_vectors(count: int, dim: int = CANARY_DIM) -> list[dict[str, Any]]:
    """The canary's known rows: the same for every run (seeded), so a report can be re-checked."""
    rng = random.Random(CANARY_SEED)
    return [{"id": i, "vector": [rng.uniform(-1, 1) for _ in range(dim)]} for i in range(count)]


def compare(before: LedgerEntry, after: LedgerEntry) -> list[str]:
    """What the later entry lost against the first one (empty when nothing was lost)."""
    if after.error:
        return [f"Milvus could not be read: {after.error}"]
    problems = []
    if after.canary_found < after.canary_total:
        shown = ", ".join(map(str, after.canary_missing[:10]))
        problems.append(f"canary: {after.canary_found}/{after.canary_total} vectors found by exact search "
                        f"(missing ids {shown})")
    missing_dbs = sorted(set(before.databases) - set(after.databases))
    if missing_dbs:
        problems.append(f"databases gone: {', '.join(missing_dbs)}")
    now = {(c.database, c.name): c for c in after.collections}
    for old in before.collections:
        where = f"{old.database}.{old.name}"
        new = now.get((old.database, old.name))
        if new is None:
            problems.append(f"{where}: collection gone")
            continue
        if new.rows < old.rows:
            problems.append(f"{where}: rows went down from {old.rows} to {new.rows}")
        lost = sorted(set(old.indexes) - set(new.indexes))
        if lost:
            problems.append(f"{where}: index(es) gone: {', '.join(lost)}")
        if old.loaded and not new.loaded:
            problems.append(f"{where}: was loaded, is not any more")
    return problems


# -- reading Milvus ---------------------------------------------------------------------------------

@contextmanager
def milvus_client(kube: Kube, namespace: str, release: str, component: str) -> Iterator[Any]:
    """A pymilvus client through a port-forward to a ready pod of the endpoint component."""
    with PodClient(kube, namespace, ready_pod(kube, namespace, release, component)) as pod_client:
        yield pod_client.client


def _count(client: Any, name: str, loaded: bool) -> int:
    if loaded:  # exact, through the query path
        rows = client.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        return int(rows[0]["count(*)"])
    return int(client.get_collection_stats(name)["row_count"])


def _inventory(client: Any, entry: LedgerEntry) -> None:
    entry.databases = sorted(client.list_databases())
    for database in entry.databases:
        client.use_database(database)
        for name in sorted(client.list_collections()):
            if name.startswith(OWN_PREFIX):
                continue
            loaded = str(client.get_load_state(name).get("state")).endswith("Loaded")
            entry.collections.append(CollectionState(database, name, _count(client, name, loaded),
                                                     tuple(sorted(client.list_indexes(name))), loaded))
    client.use_database("default")


def _check_canary(client: Any, entry: LedgerEntry, vectors: list[dict[str, Any]]) -> None:
    entry.canary_total = len(vectors)
    hits = client.search(CANARY, data=[v["vector"] for v in vectors], limit=1, output_fields=["id"],
                         consistency_level="Strong")
    for row, result in zip(vectors, hits, strict=True):
        top = result[0]["id"] if result else None
        if top == row["id"]:
            entry.canary_found += 1
        else:
            entry.canary_missing.append(int(row["id"]))


class Ledger:
    """Writes the canary, then records one entry per call to record()."""

    def __init__(self, kube: Kube, namespace: str, release: str, component: str, canary_rows: int = 256) -> None:
        self.kube, self.namespace, self.release, self.component = kube, namespace, release, component
        self.vectors = canary_vectors(canary_rows)
        self.entries: list[LedgerEntry] = []
        self._start = time.monotonic()

    def write_canary(self) -> None:
        with milvus_client(self.kube, self.namespace, self.release, self.component) as client:
            if client.has_collection(CANARY):
                client.drop_collection(CANARY)
            create_loaded_collection(client, CANARY, CANARY_DIM, [v["vector"] for v in self.vectors])
            client.flush(CANARY)

    def record(self, label: str, attempts: int = 3) -> LedgerEntry:
        """One entry; Milvus is read through a fresh connection (pods change between steps)."""
        entry = LedgerEntry(label, 0.0)
        for attempt in range(attempts):
            entry = LedgerEntry(label, time.monotonic() - self._start)
            try:
                with milvus_client(self.kube, self.namespace, self.release, self.component) as client:
                    _inventory(client, entry)
                    _check_canary(client, entry, self.vectors)
                break
            except Exception as exc:  # noqa: BLE001 - recorded in the entry; retried on a fresh connection
                entry.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
                if attempt + 1 < attempts:
                    time.sleep(2.0)
        if self.entries:
            entry.problems = compare(self.entries[0], entry)
        self.entries.append(entry)
        return entry

    def drop_canary(self) -> str:
        try:
            with milvus_client(self.kube, self.namespace, self.release, self.component) as client:
                client.drop_collection(CANARY)
            return f"canary {CANARY} dropped"
        except Exception as exc:  # noqa: BLE001 - best effort at the end; said in the report
            return f"canary {CANARY} not dropped: {type(exc).__name__}: {str(exc)[:200]}"

    @property
    def ok(self) -> bool:
        return bool(self.entries) and all(e.ok for e in self.entries)
