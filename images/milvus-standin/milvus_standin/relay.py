"""The proxy's front: a TCP listener on proxy.port whose connections are relayed, byte for byte, to
the Milvus engine (milvus-lite's gRPC server). A client speaks the Milvus gRPC API to this port.

Graceful stop, like a gRPC server's GracefulStop: stop accepting, let requests in flight finish,
close idle connections. The relay sees bytes, not RPCs, so it judges by traffic: a connection that
moved bytes in the last IDLE seconds is in flight; a quiet one is idle and is closed. (A request the
engine takes longer than IDLE to answer in silence counts as idle: a limit of the stand-in.)
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

from milvus_standin import log

IDLE = 1.0


@dataclass(eq=False)
class Link:
    client: socket.socket
    upstream: socket.socket
    last_up: float = field(default_factory=time.monotonic)   # client -> engine
    last_down: float = 0.0                                   # engine -> client

    def in_flight(self, now: float) -> bool:
        return now - max(self.last_up, self.last_down) < IDLE

    def close(self) -> None:
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class Relay:
    def __init__(self, listen_port: int, target_host: str, target_port: int, listen_host: str = "0.0.0.0") -> None:
        self.target = (target_host, target_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((listen_host, listen_port))
        self.sock.listen(128)
        self.lock = threading.Lock()
        self.links: set[Link] = set()
        self.closing = False

    @property
    def active(self) -> int:
        with self.lock:
            return len(self.links)

    def start(self) -> None:
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError as exc:
                log.warn("engine unreachable, closing client connection", engine=f"{self.target[0]}:{self.target[1]}",
                         error=str(exc))
                client.close()
                continue
            link = Link(client, upstream)
            with self.lock:
                self.links.add(link)
            threading.Thread(target=self._pipe, args=(link, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(link, False), daemon=True).start()

    def _pipe(self, link: Link, up: bool) -> None:
        src, dst = (link.client, link.upstream) if up else (link.upstream, link.client)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if up:
                    link.last_up = time.monotonic()
                dst.sendall(data)
                if not up:
                    link.last_down = time.monotonic()
        except OSError:
            pass
        finally:
            link.close()
            with self.lock:
                self.links.discard(link)

    def stop_accepting(self) -> None:
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def drain(self, deadline: float) -> bool:
        """Close idle connections, wait for those in flight, until `deadline` (monotonic). True when drained."""
        while True:
            now = time.monotonic()
            with self.lock:
                idle = [link for link in self.links if not link.in_flight(now)]
            for link in idle:
                link.close()
            if self.active == 0:
                return True
            if now >= deadline:
                return False
            time.sleep(0.1)

    def close_all(self) -> None:
        with self.lock:
            links = list(self.links)
        for link in links:
            link.close()
