"""Human and machine output. Status lines go to stderr, data (json) to stdout.

Colour only on a terminal (and never with NO_COLOR set); plain writes, so importing this costs
nothing at start-up.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

OK = "✓"
FAIL = "✗"
WARN = "!"

_COLOURS = {OK: "32", FAIL: "31", WARN: "33"}  # ANSI green, red, yellow


def _paint(stream: TextIO, code: str, text: str) -> str:
    if not code or os.environ.get("NO_COLOR") or not getattr(stream, "isatty", lambda: False)():
        return text
    return f"\033[{code}m{text}\033[0m"


def _write(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")
    stream.flush()


def status(mark: str, name: str, seconds: float | None = None, detail: str = "") -> None:
    timing = f" ({seconds:.1f}s)" if seconds is not None else ""
    extra = f" — {detail}" if detail else ""
    _write(sys.stderr, f"{_paint(sys.stderr, _COLOURS.get(mark, ''), mark)} {name}{timing}{extra}")


def info(message: str) -> None:
    _write(sys.stderr, message)


def error(message: str) -> None:
    _write(sys.stderr, f"{_paint(sys.stderr, _COLOURS[FAIL], 'error:')} {message}")


def line(message: str) -> None:
    """Plain result text on stdout."""
    _write(sys.stdout, message)


def emit_json(data: Any) -> None:
    import json  # only for --output json: text output does not pay for it

    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()
