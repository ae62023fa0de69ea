"""The pymilvus probe: searches at a fixed rate through the path a client uses, counting what fails.

The path is a kubernetes-client port-forward (deploytool.core.portforward.PodPortForward, bound
to 127.0.0.1) to one ready proxy/standalone pod, then pymilvus. At start the probe creates its
own small collection (1,000 vectors, dim 16, FLAT index, loaded); every tick searches one of
those vectors and checks the top hit is that vector; at the end it drops the collection.

Moving between pods:
* graceful -- the recorder reports the probe's pod terminating, deleted or not Ready (what
  removes it from the Service): the probe opens a connection to another ready pod first, then
  drops the old one (make before break; a client honouring GOAWAY does the same);
* hard -- a search fails: it counts as an error, the pod is avoided for a while and the probe
  reconnects to another ready pod before the next tick.
sever_node() simulates the network side of a node failure for clusters whose nodes are
simulated (kwok keeps answering port-forwards for pods of a "failed" node): the forward to a pod
on that node is cut mid-stream and new ones are refused.

Bounded: stops after max_seconds or rate * max_seconds searches, whichever comes first.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from typing import Any

from deploytool.core.errors import CheckFailed
from deploytool.core.kube import Kube
from deploytool.core.wait import wait_until
from deploytool.deploy.milvus_client import PodClient, create_loaded_collection
from deploytool.deploy.workloads import ready_pods
from deploytool.drills.model import PodSample, ProbeSample
from deploytool.drills.recorder import Clock

AVOID_SECONDS = 30.0


def _quiet_pymilvus() -> dict[str, int]:
    """pymilvus logs every failed RPC with a traceback; the probe counts them instead. Returns old levels."""
    import pymilvus  # noqa: F401 - its import configures the loggers we then quieten

    names = [n for n in logging.root.manager.loggerDict if n == "pymilvus" or n.startswith("pymilvus.")]
    old = {n: logging.getLogger(n).level for n in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return old


class _Connection(PodClient):
    """A client to one pod, and the node that pod runs on (a severed node cuts it)."""

    def __init__(self, kube: Kube, namespace: str, pod: str, node: str, timeout_s: float) -> None:
        super().__init__(kube, namespace, pod, timeout_s)
        self.node = node


class Probe:
    def __init__(self, kube: Kube, namespace: str, release: str, component: str, clock: Clock, *,
                 rate: float = 20.0, max_seconds: float = 900.0, vectors: int = 1000, dim: int = 16,
                 timeout_s: float = 2.0, prefer_node: str | None = None,
                 samples: list[ProbeSample] | None = None) -> None:
        self.kube, self.namespace, self.release, self.component = kube, namespace, release, component
        self.clock = clock
        self.rate = rate
        self.max_seconds = max_seconds
        self.max_searches = int(rate * max_seconds)
        self.timeout_s = timeout_s
        self.prefer_node = prefer_node
        self.samples: list[ProbeSample] = samples if samples is not None else []
        self.collection = f"deploytool_drill_{uuid.uuid4().hex[:8]}"
        rng = random.Random(7)
        self.vectors = [[rng.random() for _ in range(dim)] for _ in range(vectors)]
        self.dim = dim
        self._conn: _Connection | None = None
        self._stale = ""  # why the current pod should be left (set by the recorder's listener)
        self._next_switch = 0.0
        self._avoid: dict[str, float] = {}
        self._cut_nodes: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.created = False
        self._log_levels = _quiet_pymilvus()

    # -- choosing and opening connections ----------------------------------------------------
    def _candidates(self) -> list[tuple[str, str]]:
        now = time.monotonic()
        found = [(str(pod.metadata.name), str(pod.spec.node_name or ""))
                 for pod in ready_pods(self.kube, self.namespace, self.release, self.component)
                 if self._avoid.get(pod.metadata.name, 0) < now]
        found.sort(key=lambda p: (p[1] != self.prefer_node, p[0]))
        return found

    def _open(self) -> _Connection:
        candidates = self._candidates()
        if not candidates:
            raise CheckFailed(f"no ready {self.component} pod to connect to")
        pod, node = candidates[0]
        if node in self._cut_nodes:
            self._avoid[pod] = time.monotonic() + AVOID_SECONDS
            raise ConnectionError(f"node {node} unreachable (simulated network failure): cannot reach {pod}")
        return _Connection(self.kube, self.namespace, pod, node, self.timeout_s)

    def _record(self, t: float, ok: bool, latency: float | None, pod: str, error: str = "",
                kind: str = "search") -> None:
        self.samples.append(ProbeSample(t, ok, None if latency is None else round(latency, 2), pod, error[:200], kind))

    def _reconnect(self, reason: str, graceful: bool) -> None:
        """Move to another ready pod: graceful opens the new connection before closing the old one."""
        start = time.monotonic()
        t = self.clock.now()
        old = self._conn
        if not graceful and old is not None:
            self._conn = None
            old.close()
        try:
            new = self._open()
        except Exception as exc:  # noqa: BLE001 - pymilvus, the API, the socket: all are "no connection"
            if graceful and old is not None:  # keep serving from the old pod; try again in a second
                self._record(t, False, None, old.pod, f"switch failed: {exc}", "reconnect")
                self._next_switch = time.monotonic() + 1.0
                return
            self._record(t, False, None, old.pod if old else "", f"no connection: {exc}")
            self._conn = None
            return
        with self._lock:
            self._conn = new
            self._stale = ""
        if graceful and old is not None:
            old.close()
        self._record(t, True, (time.monotonic() - start) * 1000, new.pod,
                     f"{old.pod if old else '-'} -> {new.pod}: {reason}", "reconnect")

    # -- recorder and fault hooks ------------------------------------------------------------
    def on_pod(self, sample: PodSample) -> None:
        conn = self._conn
        if conn is None or sample.pod != conn.pod:
            return
        if sample.deleted or sample.terminating:
            self._stale = f"{sample.pod} terminating"
        elif not sample.ready:
            self._stale = f"{sample.pod} not ready"
        else:
            self._stale = ""  # ready again (a StatefulSet pod comes back under the same name)

    def sever_node(self, node: str) -> None:
        """Simulated network loss to every pod on node (local clusters only)."""
        self._cut_nodes.add(node)
        conn = self._conn
        if conn is not None and conn.node == node:
            conn.forward.stop()  # in-flight and later requests on this connection fail

    def restore_node(self, node: str) -> None:
        self._cut_nodes.discard(node)

    # -- lifecycle ---------------------------------------------------------------------------
    def prepare(self) -> str:
        """Connect, create and load the probe's collection. Returns the pod it connected to."""
        self._conn = wait_until(self._open, 60, 2, "the probe to connect", error=CheckFailed)
        self.created = True  # from here on, finish() drops the collection (also if creating it fails half-way)
        create_loaded_collection(self._conn.client, self.collection, self.dim, self.vectors)
        return self._conn.pod

    def start(self) -> Probe:
        self._thread = threading.Thread(target=self._run, name="drill-probe", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 30)

    def cleanup(self) -> str:
        """Drop the collection (reconnecting once if needed) and close. Returns a short status."""
        try:
            return self._drop()
        finally:
            self._close()
            for name, level in self._log_levels.items():
                logging.getLogger(name).setLevel(level)

    def _drop(self) -> str:
        if not self.created:
            return "no collection to drop"
        error = ""
        for _ in range(2):
            try:
                if self._conn is None:
                    self._conn = self._open()
                self._conn.client.drop_collection(self.collection, timeout=30)
                return f"dropped {self.collection}"
            except Exception as exc:  # noqa: BLE001 - retried once on a fresh connection
                error = f"{type(exc).__name__}: {exc}"
                self._close()
        return f"could not drop {self.collection}: {error[:200]}"

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        period = 1.0 / self.rate
        started = time.monotonic()
        next_tick = started
        count = 0
        while not self._stop.is_set() and count < self.max_searches and time.monotonic() - started < self.max_seconds:
            now = time.monotonic()
            if now < next_tick:
                self._stop.wait(next_tick - now)
                continue
            behind = int((now - next_tick) / period)
            for _ in range(behind):
                self._record(self.clock.now(), True, None, "", "busy", "skipped")
            next_tick += (behind + 1) * period
            try:
                if self._stale and self._conn is not None and time.monotonic() >= self._next_switch:
                    self._reconnect(self._stale, graceful=True)
                if self._conn is None:
                    self._reconnect("no connection", graceful=False)
                    if self._conn is None:
                        continue
                self._search(count % len(self.vectors))
            except Exception as exc:  # noqa: BLE001 - the probe must keep its rate whatever happens
                self._record(self.clock.now(), False, None, "", f"probe: {type(exc).__name__}: {exc}")
            count += 1

    def _search(self, index: int) -> None:
        conn = self._conn
        assert conn is not None
        t = self.clock.now()
        start = time.monotonic()
        try:
            hits: Any = conn.client.search(self.collection, data=[self.vectors[index]], limit=3,
                                           timeout=self.timeout_s)
            top = hits[0][0]["id"] if hits and hits[0] else None
            latency = (time.monotonic() - start) * 1000
            if top == index:
                self._record(t, True, latency, conn.pod)
                return
            error = f"wrong top hit {top} for vector {index}"
        except Exception as exc:  # noqa: BLE001 - whatever a client would see is an error sample
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self._record(t, False, None, conn.pod, error)
        self._avoid[conn.pod] = time.monotonic() + AVOID_SECONDS
        self._reconnect(f"search failed on {conn.pod}", graceful=False)
