"""`deploytool up`: bring an environment up on a cluster and prove it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploytool.cli.common import (
    ContextOpt,
    Env,
    Format,
    OutputOpt,
    Provider,
    ProviderOpt,
    SetOpt,
    ValuesFiles,
    Verbose,
    handle_errors,
    problems_json,
)
from deploytool.core import output
from deploytool.core.config import Target
from deploytool.core.errors import BadInput, DeploytoolError
from deploytool.core.steps import Run


@handle_errors
def up(
    env: Env,
    provider: ProviderOpt = Provider.auto,
    context: ContextOpt = None,
    values: ValuesFiles = None,
    set_: SetOpt = None,
    credentials_file: Annotated[Path | None, typer.Option("--credentials-file", help="YAML or KEY=VALUE file with access-key and secret-key for object storage.")] = None,  # noqa: E501
    nodes: Annotated[int | None, typer.Option(
        "--nodes", min=0, help="Simulated nodes, if the cluster has to be created [default: as many as the env "
                               "needs to be rolled, at least 3; none beside --real-nodes].")] = None,
    real_nodes: Annotated[int, typer.Option(
        "--real-nodes", min=0, max=50, help="local only: real nodes (kubelet + containerd), if created.")] = 0,
    node_cpu: Annotated[str, typer.Option("--node-cpu", help="CPU per node, if the cluster has to be created.")] = "16",
    node_memory: Annotated[str, typer.Option("--node-memory", help="Memory per node, if created.")] = "64Gi",
    timeout: Annotated[int, typer.Option("--timeout", min=30, help="Seconds to wait for the rollout.")] = 600,
    smoke: Annotated[bool, typer.Option("--smoke/--no-smoke", help="Run the pymilvus smoke at the end.")] = True,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help="Run `verify`'s checks at the end.")] = True,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Bring ENV up: plan (render + validate, credentials, does the cluster exist?), create the
    cluster if needed -- sized so ENV can be rolled --, pre-flight, credentials Secret,
    helm upgrade --install --atomic --wait, wait for every workload, pymilvus smoke, verify.

    Idempotent: a second run changes nothing and says so. Credentials come from
    DEPLOYTOOL_S3_ACCESS_KEY / DEPLOYTOOL_S3_SECRET_KEY or --credentials-file (generated for dev);
    they are never written to disk or printed. Ctrl-C never leaves the helm release pending.

    Examples:

      deploytool up --env dev

      deploytool up --env prod --provider local --nodes 5

      deploytool up --env dev --provider local --real-nodes 1

      deploytool up --env staging --provider current --context my-cluster --output json
    """
    from deploytool.deploy import cluster_select
    from deploytool.deploy.up import UpRequest
    from deploytool.deploy.up import up as run_up
    from deploytool.render.values import Layers
    choice = cluster_select.choose(provider.value, context)
    if real_nodes and not cluster_select.provider_of(choice).info.runs_real_nodes:
        raise BadInput(f"--real-nodes applies to --provider local only (this is {choice.provider})")
    layers = cluster_select.with_overlay(choice, Layers(env, list(values or []), list(set_ or [])), real_nodes)
    request = UpRequest(Target(env), layers, choice, credentials_file, nodes, node_cpu, node_memory, timeout,
                        smoke, verify, real_nodes)
    record = Run()
    try:
        _, outcome = run_up(request, record, quiet=False)
    except DeploytoolError as exc:
        if fmt != Format.json:
            raise
        output.emit_json({"ok": False, "env": env, "cluster": choice.describe(), "steps": record.as_list(),
                          "error": str(exc), "details": list(getattr(exc, "details", []) or []),
                          "problems": problems_json(exc)})
        output.error(str(exc))
        raise typer.Exit(exc.exit_code) from None
    summary = "changed" if outcome.changed else "already up to date: nothing changed"
    if fmt == Format.json:
        output.emit_json({"ok": True, "env": env, "cluster": choice.describe(), "changed": outcome.changed,
                          "revision": outcome.revision, "steps": record.as_list(), "preflight": outcome.preflight,
                          "smoke": outcome.smoke.as_dict() if outcome.smoke else None,
                          "verify": [r.as_dict() for r in outcome.verify]})
    else:
        output.status(output.OK, f"{env} is up on {choice.describe()} (revision {outcome.revision}; {summary})")


def register(app: typer.Typer) -> None:
    app.command("up")(up)
