"""The management HTTP server on 9091 (METRICS_PORT overrides it): /healthz and /livez.

As in Milvus (internal/http/server.go, internal/http/healthz/): /healthz answers 200 "OK" when every
registered indicator is Healthy or StandBy, else 500 with "Not all components are healthy, n/m";
with `Content-Type: application/json` on the request it answers {"state", "detail": [{name, code}]}.
/livez answers 200 as long as the process serves HTTP (no dependency is consulted).
The stand-in's indicators are its role and each dependency it uses (etcd, object storage, engine),
checked when /healthz is asked: the deep check the chart's readiness probe relies on.
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


class HealthServer:
    def __init__(self, port: int, indicators: list[Indicator]) -> None:
        self.indicators = indicators
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

    def check(self) -> tuple[bool, str, list[dict[str, object]]]:
        detail: list[dict[str, object]] = []
        unhealthy = 0
        for indicator in self.indicators:
            name, code = indicator()
            detail.append({"name": name, "code": code})
            if code not in (HEALTHY, STANDBY):
                unhealthy += 1
        total = len(detail)
        if total == 0:
            return False, "Not all components are registered, 0/0", detail
        if unhealthy:
            return False, f"Not all components are healthy, {total - unhealthy}/{total}", detail
        return True, "OK", detail

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
