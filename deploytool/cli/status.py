"""`deploytool status`: what is running for an environment."""

from __future__ import annotations

import typer

from deploytool.cli.common import ContextOpt, Env, Format, OutputOpt, Provider, ProviderOpt, Verbose, handle_errors
from deploytool.core import output
from deploytool.core.config import Target


@handle_errors
def status(
    env: Env,
    provider: ProviderOpt = Provider.auto,
    context: ContextOpt = None,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Release revision, per-component desired/ready/updated/available, pods per node, HPA
    current/target. Exit 1 when the release is missing or not healthy.

    Examples:

      deploytool status --env prod

      deploytool status --env dev --output json
    """
    from deploytool.deploy import cluster_select
    from deploytool.deploy.status import format_text, gather
    from deploytool.render.values import env_file
    env_file(env)
    conn = cluster_select.connect(cluster_select.choose(provider.value, context))
    data = gather(conn.kube, conn.helm, Target(env))
    if fmt == Format.json:
        output.emit_json(data)
    else:
        for text in format_text(data):
            output.line(text)
    if not data["healthy"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
