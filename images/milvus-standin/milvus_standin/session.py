"""A Milvus session in etcd: server id, lease, exclusive or per-node key, active-standby.

Follows internal/util/sessionutil/session_util.go (Milvus): keys live under
<etcd.rootPath>/<etcd.metaSubPath>/session/; the server id comes from the counter key `id`
(created as "1" when absent, then incremented by compare-and-swap); a session is a JSON value put
with a lease of common.session.ttl seconds by a transaction that succeeds only when the key is
absent. An exclusive role (mixcoord) uses the key `<role>`; other roles `<role>-<serverID>`. When
the put fails, a stale session with the same address and a lower server id (a restart) is purged,
and the put is retried common.session.retryTimes times; then the role gives up (Milvus panics).
With active-standby the role registers `<role>-<serverID>` and then waits as STANDBY until it can
create the active key `<role>`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from milvus_standin import log
from milvus_standin.etcd import Etcd, EtcdError


class SessionConflict(Exception):
    pass


@dataclass
class Session:
    etcd: Etcd
    meta_root: str
    server_name: str
    address: str
    exclusive: bool
    active_standby: bool
    ttl: int
    retry_times: int
    version: str
    retry_sleep: float = 1.0
    server_id: int = 0
    lease: int = 0
    standby: bool = False
    stopping: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def root(self) -> str:
        return f"{self.meta_root.rstrip('/')}/session/"

    @property
    def complete_key(self) -> str:
        if not self.exclusive or self.active_standby:
            return f"{self.root}{self.server_name}-{self.server_id}"
        return f"{self.root}{self.server_name}"

    @property
    def active_key(self) -> str:
        return f"{self.root}{self.server_name}"

    def value(self) -> str:
        return json.dumps({
            "ServerID": self.server_id, "ServerName": self.server_name, "Address": self.address,
            "Exclusive": self.exclusive, "Stopping": self.stopping, "TriggerKill": True,
            "Version": self.version, "LeaseID": self.lease, "HostName": socket.gethostname(),
            "ServerLabels": {"standin": "true"},
        })

    def init(self) -> None:
        """Allocate this process's server id from the `id` counter."""
        id_key = f"{self.root}id"
        self.etcd.put_if_absent(id_key, "1")
        while True:
            current, _ = self.etcd.get(id_key)
            if current is None:
                self.etcd.put_if_absent(id_key, "1")
                continue
            if self.etcd.compare_and_swap(id_key, current, str(int(current) + 1)):
                self.server_id = int(current)
                log.info("start server", name=self.server_name, address=self.address, id=self.server_id)
                return

    def _handle_restart(self, key: str) -> None:
        raw, _ = self.etcd.get(key)
        if raw is None:
            return
        try:
            old = json.loads(raw)
        except ValueError:
            return
        if old.get("Address") == self.address and int(old.get("ServerID", 0)) < self.server_id:
            log.warn("find old session is same as current node, assume it as restart, purge old session", key=key)
            self.etcd.delete(key)

    def register(self) -> None:
        """Put the session key under a new lease; SessionConflict after retry_times failed tries."""
        key = self.complete_key
        last = ""
        for attempt in range(1, max(self.retry_times, 1) + 1):
            self.lease = self.etcd.grant(self.ttl)
            if self.etcd.put_if_absent(key, self.value(), self.lease):
                log.info("put session key into etcd", key=key, value=self.value())
                return
            self.etcd.revoke(self.lease)
            self.lease = 0
            self._handle_restart(key)
            last = f"function CompareAndSwap error for compare is false for key: {self.server_name}"
            log.warn("register on etcd failed, will retry", key=key, attempt=attempt, error=last)
            time.sleep(self.retry_sleep)
        raise SessionConflict(f"Register failed: {last} (another {self.server_name} holds {key})")

    def wait_active(self, on_standby: Callable[[], None]) -> None:
        """Active-standby: become ACTIVE once the active key is free (STANDBY until then)."""
        self.standby = True
        on_standby()
        log.info(f"serverName: {self.server_name} enter STANDBY mode")
        while not self._stop.is_set():
            if self.etcd.put_if_absent(self.active_key, self.value(), self.lease):
                self.standby = False
                log.info(f"serverName: {self.server_name} quit STANDBY mode, this node will become ACTIVE, "
                         f"ID: {self.server_id}")
                return
            self._stop.wait(1.0)

    def keepalive_forever(self, on_lost: Callable[[str], None]) -> None:
        """Renew the lease every ttl/3 s; on_lost(reason) once it cannot be renewed within ttl."""
        last_ok = time.monotonic()
        while not self._stop.wait(max(self.ttl / 3.0, 0.5)):
            try:
                left = self.etcd.keepalive(self.lease)
                if left <= 0:
                    on_lost(f"session lease {self.lease} expired")
                    return
                last_ok = time.monotonic()
            except EtcdError as exc:
                if time.monotonic() - last_ok > self.ttl:
                    on_lost(f"keepalive failed for {self.ttl}s: {exc}")
                    return

    def going_stop(self) -> None:
        """Mark the session Stopping (what Milvus does first on a graceful stop)."""
        self.stopping = True
        try:
            for key in {self.complete_key, self.active_key if not self.standby else self.complete_key}:
                current, _ = self.etcd.get(key)
                if current and json.loads(current).get("ServerID") == self.server_id:
                    self.etcd.put(key, self.value(), self.lease)
        except (EtcdError, ValueError) as exc:
            log.warn("fail to update the session to stopping state", error=str(exc))

    def revoke(self) -> None:
        self._stop.set()
        if self.lease:
            try:
                self.etcd.revoke(self.lease)
                log.info("revoke session successfully", key=self.complete_key)
            except EtcdError as exc:
                log.warn("failed to revoke session", error=str(exc))
