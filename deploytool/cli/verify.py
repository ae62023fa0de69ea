"""`deploytool verify`: prove the live cluster is what the environment promised."""

from __future__ import annotations

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
)
from deploytool.core import output
from deploytool.deploy.verify import FAIL, PASS, SKIP, WARN, Result
from deploytool.render.values import Layers, env_file

# Kept here (not imported from the registry) so `--help` does not load the kubernetes client;
# tests/unit/test_cli.py checks it names every registered check.
CHECK_NAMES = ("release, workloads, statefulset-identity, anti-affinity, zone-spread, hpa, pdb, service, "
               "config-and-secret, resources, oom-killed, network-policies, security-context, milvus")
MARKS = {PASS: output.OK, FAIL: output.FAIL, WARN: output.WARN, SKIP: "-"}


def print_result(result: Result, verbose: bool) -> None:
    cost = f" [{result.api_calls} API calls]" if verbose else ""
    output.status(MARKS[result.status], f"{result.name}: {result.status}{cost}", result.seconds)
    for line in result.evidence:
        output.info(f"    {line}")
    if result.fix and result.status in (FAIL, WARN):
        output.info(f"    fix: {result.fix}")


@handle_errors
def verify(
    env: Env,
    provider: ProviderOpt = Provider.auto,
    context: ContextOpt = None,
    values: ValuesFiles = None,
    set_: SetOpt = None,
    deep: Annotated[bool, typer.Option("--deep", help="Also delete one StatefulSet pod and watch it return with the same name and PVC.")] = False,  # noqa: E501
    check: Annotated[list[str] | None, typer.Option("--check", help=f"Run only these checks: {CHECK_NAMES}.")] = None,  # noqa: E501
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Check the live cluster against ENV: the helm release, workloads, StatefulSet identity, anti-affinity, zone
    spread, HPA, PDB, Service endpoints, ConfigMap vs Secret, resources, OOM kills at memory limits, NetworkPolicies
    (objects and selectors; enforcement is the CNI's job), securityContexts, Milvus smoke and the /healthz of
    every Milvus pod on a real node.
    Exit 1 when any check fails (warnings don't fail; a check with nothing to check says so and is skipped).

    Examples:

      deploytool verify --env prod

      deploytool verify --env prod --check anti-affinity --check pdb -v

      deploytool verify --env dev --deep --output json
    """
    from deploytool.deploy import cluster_select
    from deploytool.deploy.verify_run import verify as run_verify
    env_file(env)
    choice = cluster_select.choose(provider.value, context)
    conn = cluster_select.connect(choice)
    kube = conn.kube
    layers = cluster_select.with_overlay(choice, Layers(env, list(values or []), list(set_ or [])), 0)
    results = run_verify(kube, conn.helm, layers, default_node_kind=conn.info.default_node_kind, deep=deep,
                         only=list(check or []) or None,
                         on_result=None if fmt == Format.json else lambda r: print_result(r, verbose))
    failed = [r.name for r in results if r.status == FAIL]
    if fmt == Format.json:
        output.emit_json({"ok": not failed, "env": env, "cluster": choice.describe(), "api_calls": kube.api.total,
                          "results": [r.as_dict() for r in results]})
    else:
        counts = {s: sum(r.status == s for r in results) for s in (PASS, WARN, FAIL, SKIP)}
        summary = f"{counts[PASS]} passed, {counts[WARN]} warned, {counts[FAIL]} failed" + (
            f", {counts[SKIP]} skipped" if counts[SKIP] else "")
        output.status(output.FAIL if failed else output.OK, f"verify {env}: {summary}"
                      + (f" ({kube.api.total} API calls)" if verbose else ""))
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
