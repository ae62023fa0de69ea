"""Command line: `milvus run <role>` (the chart's command) and `milvus standin-engine`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from milvus_standin import STANDIN_BANNER, log
from milvus_standin.engine import Engine
from milvus_standin.health import ABNORMAL, HEALTHY, HealthServer, listen_port
from milvus_standin.roles import ROLES, run


def engine_main(data_dir: Path, port: int) -> int:
    """The shared engine the proxies of a cluster deployment relay to (not a Milvus role)."""
    log.info(STANDIN_BANNER, role="standin-engine")
    engine = Engine(data_dir, "0.0.0.0", port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        engine.start()
    except RuntimeError as exc:
        log.error("standin-engine failed to start", error=str(exc))
        return 1
    health = HealthServer(listen_port(), 1)  # not a Milvus role: its one indicator is the engine process
    health.register(lambda: ("engine", HEALTHY if engine.alive() else ABNORMAL))
    health.start()
    while not stop.wait(1.0):
        if engine.proc is not None and engine.proc.poll() is not None:
            log.error("the Milvus engine (milvus-lite) exited", code=engine.proc.returncode)
            return 1
    engine.stop()
    health.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="milvus", description=STANDIN_BANNER)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run one Milvus role (stand-in)")
    run_p.add_argument("role", help="|".join(ROLES))
    eng = sub.add_parser("standin-engine", help="run the shared Milvus engine (milvus-lite) for the proxies")
    eng.add_argument("--data-dir", default="/var/lib/milvus/standin-engine")
    eng.add_argument("--port", type=int, default=19530)
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.role not in ROLES:
            log.error(f"Unknown server type = {args.role}", supported=",".join(ROLES))
            return 2
        return run(args.role)
    return engine_main(Path(args.data_dir), args.port)


if __name__ == "__main__":
    sys.exit(main())
