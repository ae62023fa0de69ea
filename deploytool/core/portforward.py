"""Port-forward to a pod with the kubernetes Python client (no kubectl).

A local TCP listener on 127.0.0.1:<free port>; every accepted connection gets its own
pods/portforward websocket stream (kubernetes.stream.portforward) to the pod's port, and a
thread pipes bytes both ways. gRPC (pymilvus) works through it: each HTTP/2 connection it
opens is one stream.

    with PodPortForward(core_v1, "milvus", "milvus-proxy-0", 19530) as local_port:
        MilvusClient(uri=f"http://127.0.0.1:{local_port}")

kubernetes.stream.portforward swaps the ApiClient's call_api while it opens the websocket, which
is not thread-safe; so the forwarder uses an ApiClient of its own (same configuration) and
opens streams one at a time.
"""

from __future__ import annotations

import select
import socket
import threading
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward

from deploytool.core.errors import CheckFailed

_CHUNK = 256 * 1024


class PodPortForward:
    """Forward 127.0.0.1:<local_port> to <namespace>/<pod>:<port>; a context manager yielding the local port."""

    def __init__(
        self,
        core_v1: client.CoreV1Api,
        namespace: str,
        pod: str,
        port: int,
        *,
        local_port: int = 0,
        host: str = "127.0.0.1",
        check_pod: bool = True,
    ) -> None:
        self.namespace = namespace
        self.pod = pod
        self.port = int(port)
        self.host = host
        self.check_pod = check_pod
        self.errors: list[str] = []
        self.connections = 0
        self._requested_port = local_port
        self._api_client = client.ApiClient(configuration=core_v1.api_client.configuration)
        self._core = client.CoreV1Api(self._api_client)
        self._open_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._closing = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._live: set[Any] = set()
        self.local_port = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> int:
        if self.check_pod:
            try:
                pod = self._core.read_namespaced_pod(self.pod, self.namespace, _request_timeout=15)
            except ApiException as exc:
                raise CheckFailed(f"cannot port-forward to pod {self.namespace}/{self.pod}: "
                                  f"{exc.status} {exc.reason}") from None
            if pod.status.phase != "Running":
                raise CheckFailed(f"cannot port-forward to pod {self.namespace}/{self.pod}: "
                                  f"phase is {pod.status.phase}, not Running")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._requested_port))
        listener.listen(64)
        self._listener = listener
        self.local_port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"portforward-accept-{self.pod}:{self.port}", daemon=True)
        self._accept_thread.start()
        return self.local_port

    def stop(self) -> None:
        self._closing.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        with self._state_lock:
            live = list(self._live)
            self._live.clear()
        for item in live:
            _close_quietly(item)
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        self._api_client.close()

    def __enter__(self) -> int:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._closing.is_set():
                conn.close()
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True,
                             name=f"portforward-{self.pod}:{self.port}#{self.connections}").start()

    def _open_stream(self) -> Any:
        with self._open_lock:
            return portforward(self._core.connect_get_namespaced_pod_portforward,
                               self.pod, self.namespace, ports=str(self.port))

    def _serve(self, conn: socket.socket) -> None:
        with self._state_lock:
            self._live.add(conn)
        forward = None
        try:
            try:
                forward = self._open_stream()
            except (ApiException, OSError) as exc:
                self.errors.append(f"open stream: {exc}")
                return
            with self._state_lock:
                self._live.add(forward)
            remote = forward.socket(self.port)
            remote.setblocking(True)
            self._pipe(conn, remote)
            error = forward.error(self.port)
            if error:
                self.errors.append(error.strip())
        finally:
            _close_quietly(conn)
            if forward is not None:
                _close_quietly(forward)
            with self._state_lock:
                self._live.discard(conn)
                self._live.discard(forward)

    def _pipe(self, local: socket.socket, remote: Any) -> None:
        """Copy bytes both ways until either side closes (then the other is closed too)."""
        # Keyed by the socket objects, not their fileno(): a socket closed by stop() meanwhile has fileno -1.
        peers = {local: remote, remote: local}
        sockets = [local, remote]
        while not self._closing.is_set():
            try:
                readable, _, _ = select.select(sockets, [], [], 1.0)
            except (OSError, ValueError):
                return
            for sock in readable:
                try:
                    data = sock.recv(_CHUNK)
                except OSError:
                    return
                if not data:
                    return
                try:
                    peers[sock].sendall(data)
                except OSError:
                    return


def _close_quietly(item: Any) -> None:
    try:
        if isinstance(item, socket.socket):
            try:
                item.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        item.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass
