"""`deploytool tools build`: build the pinned tools from the Go module proxy."""

from __future__ import annotations

from typing import Annotated

import typer

from deploytool.cli.common import Verbose, handle_errors
from deploytool.core import output, toolchain

app = typer.Typer(help="The pinned external tools (helm, etcd, kube-*, kwok, metrics-server).", no_args_is_help=True)


@app.command("build")
@handle_errors
def build(
    groups: Annotated[
        list[str] | None, typer.Argument(help=f"Groups to build (default all): {', '.join(toolchain.GROUPS)}")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Build the tools into the cache (~/.cache/deploytool or $DEPLOYTOOL_CACHE); skips what is built.

    Examples:

      deploytool tools build

      deploytool tools build helm
    """
    timings = toolchain.build_all(list(groups or []) or None, log=output.info)
    output.info("tool build times: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="tools")
