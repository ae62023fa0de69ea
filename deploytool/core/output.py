"""Human and machine output. Status lines go to stderr, data (json) to stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

OK = "✓"
FAIL = "✗"
WARN = "!"

_err = Console(stderr=True, highlight=False, soft_wrap=True)
_out = Console(highlight=False, soft_wrap=True)


def status(mark: str, name: str, seconds: float | None = None, detail: str = "") -> None:
    colour = {OK: "green", FAIL: "red", WARN: "yellow"}.get(mark, "")
    timing = f" ({seconds:.1f}s)" if seconds is not None else ""
    extra = f" — {detail}" if detail else ""
    _err.print(f"[{colour}]{mark}[/{colour}] {name}{timing}{extra}" if colour else f"{mark} {name}{timing}{extra}")


def info(message: str) -> None:
    _err.print(message, markup=False)


def error(message: str) -> None:
    _err.print(f"[red]error:[/red] {escape(message)}")


def line(message: str) -> None:
    """Plain result text on stdout."""
    _out.print(message, markup=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()
