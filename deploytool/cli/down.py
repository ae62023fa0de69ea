"""`deploytool down`: uninstall an environment."""

from __future__ import annotations

from typing import Annotated

import typer

from deploytool.cli.common import ContextOpt, Env, Format, OutputOpt, Provider, ProviderOpt, Verbose, handle_errors
from deploytool.core import output
from deploytool.core.config import Target


@handle_errors
def down(
    env: Env,
    provider: ProviderOpt = Provider.auto,
    context: ContextOpt = None,
    delete_data: Annotated[bool, typer.Option("--delete-data", help="Also delete the PVCs (the namespace goes too).")] = False,  # noqa: E501
    timeout: Annotated[int, typer.Option("--timeout", min=10, help="Seconds to wait.")] = 300,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Uninstall ENV's release. The namespace is deleted, unless it holds PVCs: data is kept
    unless --delete-data. Idempotent.

    Examples:

      deploytool down --env dev

      deploytool down --env prod --provider local --delete-data
    """
    from deploytool.deploy import cluster_select
    from deploytool.deploy.down import DownContext, observe
    from deploytool.deploy.down import down as run_down
    from deploytool.render.values import env_file
    env_file(env)  # unknown env -> exit 2 before touching any cluster
    choice = cluster_select.choose(provider.value, context)
    conn = cluster_select.connect(choice)
    target = Target(env)
    ctx = DownContext(target, conn.kube, conn.helm, observe(conn.kube, conn.helm, target), delete_data, timeout)
    record = run_down(ctx, quiet=fmt == Format.json)
    if fmt == Format.json:
        output.emit_json({"ok": True, "env": env, "cluster": choice.describe(), "changed": ctx.outcome.changed,
                          "steps": record.as_list()})
    else:
        output.status(output.OK, f"{env} is down on {choice.describe()}"
                      + ("" if ctx.outcome.changed else " (nothing to do)"))


def register(app: typer.Typer) -> None:
    app.command("down")(down)
