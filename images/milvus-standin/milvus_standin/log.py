"""One log line per event on stdout (the container's log), every line marked as the stand-in's."""

from __future__ import annotations

import json
import sys
import time


def log(level: str, msg: str, **fields: object) -> None:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}"
    extra = " ".join(f"[{k}={json.dumps(v) if not isinstance(v, str) else v}]" for k, v in fields.items())
    print(f"[{stamp} +00:00] [{level}] [standin] [{msg}] {extra}".rstrip(), flush=True, file=sys.stdout)


def info(msg: str, **fields: object) -> None:
    log("INFO", msg, **fields)


def warn(msg: str, **fields: object) -> None:
    log("WARN", msg, **fields)


def error(msg: str, **fields: object) -> None:
    log("ERROR", msg, **fields)
