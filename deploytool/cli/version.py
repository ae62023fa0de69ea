"""`deploytool version`."""

from __future__ import annotations

import typer

from deploytool import __version__
from deploytool.cli.common import Format, OutputOpt, Verbose, handle_errors
from deploytool.core import output, toolchain
from deploytool.core.errors import ToolMissing


@handle_errors
def version(fmt: OutputOpt = Format.text, verbose: Verbose = False) -> None:
    """Print deploytool's version and the pinned tool versions (and whether each is built).

    Examples:

      deploytool version

      deploytool version --output json
    """
    tools = {}
    for name in toolchain.GROUPS:
        group = toolchain.load_group(name)
        tools[name] = {"version": group.version, "built": group.is_built(), "path": str(group.out_dir)}
    try:
        helm_path = str(toolchain.find("helm"))
    except ToolMissing:
        helm_path = None
    if fmt == Format.json:
        output.emit_json({"deploytool": __version__, "tools": tools, "helm": helm_path})
        return
    output.line(f"deploytool {__version__}")
    for name, info in tools.items():
        output.line(f"  {name:<15} {info['version']:<10} {'built' if info['built'] else 'not built (make tools)'}")


def register(app: typer.Typer) -> None:
    app.command("version")(version)
