"""The local cluster's helper daemon: volume provisioner + the simulated Milvus /healthz endpoint.

    python -m deploytool.clusters.local.agent --kubeconfig K --volumes-dir D --health-port P

Started (detached, output to <cluster>/logs/agent.log) when the cluster is created, stopped when
it is deleted. Two watch loops (PVCs to provision, released PVs to delete) and a small HTTP
server on 127.0.0.1:P that answers GET /healthz with "OK" (kwok port-forwards pod port 9091
here, standing in for Milvus's health port). SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from deploytool.clusters.local import storage

log = logging.getLogger("deploytool.agent")


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] in ("/healthz", "/livez", "/readyz", "/"):
            body = b"OK"
            self.send_response(200)
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # quiet: one line per probe would flood the log
        return


def _watch_loop(stop: threading.Event, name: str, lister: Callable[..., Any], handle: Callable[[Any], None]) -> None:
    """List, handle every item, then watch from that version; relist on expiry or error."""
    while not stop.is_set():
        try:
            listing = lister(_request_timeout=30)
            for item in listing.items:
                handle(item)
            stream = watch.Watch()
            for event in stream.stream(lister, resource_version=listing.metadata.resource_version,
                                       timeout_seconds=30, _request_timeout=60):
                if stop.is_set():
                    stream.stop()
                    break
                if event["type"] in ("ADDED", "MODIFIED"):
                    handle(event["object"])
        except ApiException as exc:
            if exc.status != 410:
                log.warning("%s: %s %s", name, exc.status, exc.reason)
                stop.wait(1.0)
        except Exception as exc:  # noqa: BLE001 - the daemon must keep running; the API server may restart
            log.warning("%s: %s: %s", name, type(exc).__name__, exc)
            stop.wait(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploytool.clusters.local.agent")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--volumes-dir", required=True)
    parser.add_argument("--health-port", type=int, default=0, help="0: no health endpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    cfg = client.Configuration()
    config.load_kube_config(config_file=args.kubeconfig, client_configuration=cfg)
    pvc_core = client.CoreV1Api(client.ApiClient(cfg))
    pv_core = client.CoreV1Api(client.ApiClient(cfg))
    stop = threading.Event()

    def on_claim(pvc: Any) -> None:
        if storage.wants_volume(pvc):
            storage.provision(pvc_core, pvc, args.volumes_dir)

    def on_volume(pv: Any) -> None:
        if storage.should_delete(pv):
            storage.reclaim(pv_core, pv, args.volumes_dir)

    threads = [
        threading.Thread(target=_watch_loop, name="claims", daemon=True,
                         args=(stop, "claims", pvc_core.list_persistent_volume_claim_for_all_namespaces, on_claim)),
        threading.Thread(target=_watch_loop, name="volumes", daemon=True,
                         args=(stop, "volumes", pv_core.list_persistent_volume, on_volume)),
    ]
    server = None
    if args.health_port:
        server = ThreadingHTTPServer(("127.0.0.1", args.health_port), _Health)
        server.daemon_threads = True
        threads.append(threading.Thread(target=server.serve_forever, name="health", daemon=True))

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for thread in threads:
        thread.start()
    log.info("agent up: provisioner %s, health port %s", storage.PROVISIONER, args.health_port or "-")
    while not stop.is_set():
        time.sleep(0.5)
    if server is not None:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
