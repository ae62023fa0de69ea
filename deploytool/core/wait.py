"""The one wait-until-deadline loop: poll a check until it answers or the time is up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def wait_until(check: Callable[[], T], timeout: float, interval: float = 0.5, what: str = "condition",
               pending: Callable[[], str] | None = None, error: type[Exception] = TimeoutError,
               retry: tuple[type[BaseException], ...] = (Exception,)) -> T:
    """Call check() until it returns a truthy value (returned) or `timeout` seconds pass.

    Exceptions of the `retry` types count as 'not yet' (the last one is named on timeout); others
    propagate. On timeout raises `error` naming `what`, and `pending()`'s account of what is still
    missing (if given).
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = None
        except retry as exc:
            last = exc
        if time.monotonic() >= deadline:
            detail = pending() if pending else ""
            detail = detail or (f"last error: {_short(last)}" if last else "")
            raise error(f"timed out after {timeout:.0f}s waiting for {what}" + (f" ({detail})" if detail else ""))
        time.sleep(interval)
