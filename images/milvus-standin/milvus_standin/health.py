"""The management HTTP server on 9091 (METRICS_PORT overrides it): /healthz and /livez.

As in Milvus (cmd/roles/roles.go, internal/http/server.go, internal/http/healthz/): the server
answers from the process's start, before any component runs; each component the process runs
registers one indicator, its own state code (GetComponentStates), and the number of components to
expect is set up front (`healthz.SetComponentNum`). /healthz answers 200 "OK" only when every
expected component is registered and each is Healthy or StandBy; else 500 with "Not all components
are registered, r/n" or "Not all components are healthy, h/n"; with `Content-Type: application/json`
on the request it answers {"state", "detail": [{name, code}]}. Nothing is probed when /healthz is
asked: etcd, object storage and the other components are not consulted. /livez answers 200 as long
as the process serves HTTP.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# commonpb.StateCode
INITIALIZING, HEALTHY, ABNORMAL, STANDBY, STOPPING = 0, 1, 2, 3, 4
DEFAULT_PORT = 9091

Indicator = Callable[[], tuple[str, int]]


def listen_port() -> int:
    raw = os.environ.get("METRICS_PORT", "")
    return int(raw) if raw.isdigit() else DEFAULT_PORT


def health_state(expected: int, codes: list[tuple[str, int]]) -> tuple[bool, str]:
    """Milvus's HealthHandler verdict for `expected` components and the registered ones' codes."""
    registered = len(codes)
    if expected == 0 or registered != expected:
        return False, f"Not all components are registered, {registered}/{expected}"
    unhealthy = sum(1 for _, code in codes if code not in (HEALTHY, STANDBY))
    if unhealthy:
        return False, f"Not all components are healthy, {expected - unhealthy}/{expected}"
    return True, "OK"


class HealthServer:
    def __init__(self, port: int, expected: int) -> None:
        self.expected = expected
        self.indicators: list[Indicator] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # probes every few seconds: quiet
                return

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                if path == "/livez":
                    self._send(200, "text/plain", b"Milvus Process Active (stand-in)\n")
                elif path == "/healthz":
                    ok, state, detail = owner.check()
                    if self.headers.get("Content-Type") == "application/json":
                        body = json.dumps({"state": state, "detail": detail}).encode()
                        self._send(200 if ok else 500, "application/json", body)
                    else:
                        self._send(200 if ok else 500, "text/plain", state.encode())
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, status: int, ctype: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="healthz", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def register(self, indicator: Indicator) -> None:
        with self._lock:
            self.indicators.append(indicator)

    def check(self) -> tuple[bool, str, list[dict[str, object]]]:
        with self._lock:
            indicators = list(self.indicators)
        codes = [indicator() for indicator in indicators]
        ok, state = health_state(self.expected, codes)
        return ok, state, [{"name": name, "code": code} for name, code in codes]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
