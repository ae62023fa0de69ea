"""Options and error handling shared by every command."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from deploytool.core import output
from deploytool.core.errors import EXIT_CHECK_FAILED, DeploytoolError, ValidationFailed


class Format(StrEnum):
    text = "text"
    json = "json"


class Provider(StrEnum):
    auto = "auto"
    local = "local"
    kind = "kind"
    current = "current"


Env = Annotated[str, typer.Option("--env", "-e", help="Environment: the name of a file in values/ (dev, staging, prod, ...).")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks and extra detail.")]
OutputOpt = Annotated[Format, typer.Option("--output", "-o", help="text for people, json for machines.")]
ValuesFiles = Annotated[list[Path] | None, typer.Option("--values", "-f", help="Extra values file layered over the env file (repeatable).")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override one value: key.path=value (repeatable, read as YAML).")]
ProviderOpt = Annotated[Provider, typer.Option("--provider", help="Cluster provider: local (kwok), kind, current (kubeconfig as is); auto = kind where Docker and kind work, else local.")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="kubeconfig context (provider current), or the cluster name (local/kind).")]

F = TypeVar("F", bound=Callable[..., Any])
MAX_DETAILS = 8


def problems_json(exc: Exception) -> list[dict[str, str]]:
    """A ValidationFailed's problems for --output json (messages never hold credential values)."""
    return [{"path": p.path, "rule": p.rule, "message": p.message} for p in getattr(exc, "problems", [])]


def handle_errors(fn: F) -> F:
    """Map deploytool errors to a one-line message and their exit code (traceback only with -v)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = bool(kwargs.get("verbose"))
        as_json = kwargs.get("fmt") == Format.json
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ValidationFailed as exc:
            if as_json:
                output.emit_json({"ok": False, "error": str(exc), "problems": problems_json(exc)})
            output.error(f"{exc}; nothing was written or applied:")
            for problem in exc.problems:
                output.info(f"  {problem}")
            if verbose:
                output.info(traceback.format_exc())
            raise typer.Exit(exc.exit_code) from None
        except DeploytoolError as exc:
            details = list(getattr(exc, "details", []) or [])
            if as_json:
                output.emit_json({"ok": False, "error": str(exc), "kind": type(exc).__name__, "details": details})
            output.error(str(exc))
            for detail in details[:MAX_DETAILS]:
                output.info(f"  {detail}")
            if len(details) > MAX_DETAILS:
                output.info(f"  … and {len(details) - MAX_DETAILS} more (--output json lists all)")
            if verbose:
                output.info(traceback.format_exc())
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            output.error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:  # an unexpected failure: still one line unless -v
            if as_json:
                output.emit_json({"ok": False, "error": f"{type(exc).__name__}: {exc}", "kind": "unexpected"})
            output.error(f"{type(exc).__name__}: {exc} (run with -v for the traceback)")
            if verbose:
                output.info(traceback.format_exc())
            raise typer.Exit(EXIT_CHECK_FAILED) from None

    return wrapper  # type: ignore[return-value]


def default_nodes(nodes: int | None, real_nodes: int) -> int:
    """--nodes as given; unset: 3 simulated nodes, or none beside --real-nodes."""
    if nodes is not None:
        return nodes
    return 0 if real_nodes else 3
