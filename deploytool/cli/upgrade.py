"""`deploytool upgrade`: plan a Milvus version change, refuse what is unsafe, apply it step by step."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer

from deploytool.cli.common import ContextOpt, Env, Format, OutputOpt, Provider, ProviderOpt, Verbose, handle_errors
from deploytool.core import output
from deploytool.core.errors import EXIT_BAD_INPUT, EXIT_CHECK_FAILED


@handle_errors
def upgrade(
    env: Env,
    to: Annotated[str, typer.Option("--to", help="The Milvus image tag to move to (vMAJOR.MINOR.PATCH).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only: print the plan and change nothing.")] = False,
    allow_downgrade: Annotated[bool, typer.Option("--allow-downgrade", help="Allow going back a minor version (3.0 -> 2.6, only to >= 2.6.20).")] = False,  # noqa: E501
    backup_done: Annotated[bool, typer.Option("--backup-done", help="Confirm etcd and the object-storage bucket are backed up (required for a minor version change).")] = False,  # noqa: E501
    timeout: Annotated[int, typer.Option("--timeout", min=10, help="Seconds each step (and the rollback) may take to be fully rolled.")] = 600,  # noqa: E501
    provider: ProviderOpt = Provider.auto,
    context: ContextOpt = None,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Move ENV's Milvus to another tag, one component at a time, proving no data was lost.

    Plan (nothing changed): the version path must be supported (patch upgrades and downgrades
    within a minor; 2.6 -> 3.0 only from 2.6.20; 3.0 -> 2.6 only with --allow-downgrade; a minor
    change only with --backup-done), mq.type must not change, the target values must pass every
    validation rule, and every step's rollout must be able to progress on the live cluster (surge
    pod placeable: anti-affinity, node count, free requests, taints; PDB budgets). Order:
    mixcoord, streamingnode, querynode, datanode, proxy (reversed for a downgrade).

    Apply: one helm revision per step, each waited on until fully rolled; a stalled step
    (Unschedulable, image pull errors, CrashLoopBackOff, failing readiness, refused pod creation)
    is rolled back with `helm rollback` to the starting revision. A ledger (inventory + canary
    vectors found by exact search) is taken before the first step and after every step.

    Exit codes: 0 done (or nothing to do), 1 a step failed and was rolled back, 2 refused (nothing
    changed).

    Examples:

      deploytool upgrade --env prod --to v2.6.24 --dry-run

      deploytool upgrade --env prod --to v2.6.24 --output json

      deploytool upgrade --env prod --to v3.0.2 --backup-done
    """
    from deploytool.core.config import Target
    from deploytool.deploy import cluster_select
    from deploytool.deploy.release import deployed_revision
    from deploytool.deploy.upgrade.apply import ApplyOptions, Upgrade, plan_release
    from deploytool.deploy.upgrade.ledger import Ledger
    from deploytool.deploy.upgrade.plan import Request
    from deploytool.render.components import endpoint_component
    from deploytool.render.values import env_file

    env_file(env)  # unknown env -> exit 2 before any cluster is touched
    target = Target(env)
    choice = cluster_select.choose(provider.value, context)
    conn = cluster_select.connect(choice)
    kube, helm = conn.kube, conn.helm
    revision = deployed_revision(helm, target)
    request = Request(env, to, allow_downgrade, backup_done)
    plan, facts = plan_release(kube, helm, target, revision, request)
    report: dict[str, Any] = {"env": env, "cluster": choice.describe(), "revision": revision, "dry_run": dry_run,
                              **plan.as_dict()}
    quiet = fmt == Format.json
    if not quiet:
        _print_plan(plan.as_dict())
    if not plan.allowed:
        _finish(report, fmt, False, EXIT_BAD_INPUT,
                f"upgrade to {to} refused: {len(plan.problems)} problem(s); nothing was changed")
    if not plan.steps:
        _finish(report, fmt, True, 0, f"{env} already runs {to}: nothing to do")
    if dry_run:
        _finish(report, fmt, True, 0, f"dry run: {len(plan.steps)} step(s) planned; nothing was changed")

    def phase(name: str, detail: str = "") -> None:
        if not quiet:
            output.info(f"  {name}" + (f" — {detail}" if detail else ""))

    ledger = Ledger(kube, target.namespace, target.release, endpoint_component(facts.values))
    try:
        result = Upgrade(kube, helm, target, plan, facts.values, revision, ApplyOptions(timeout_s=timeout), phase,
                         ledger, prepare=conn.prepare).run()
    finally:
        report["cleanup"] = ledger.drop_canary()
    report["result"] = result.as_dict()
    report["ledger"] = report["result"].pop("ledger")
    if result.ok:
        _finish(report, fmt, True, 0, f"{env} upgraded to {to} in {len(result.steps)} step(s), "
                                      f"{result.seconds:.0f}s; ledger intact after every step")
    where = f"step '{result.failed_step}' failed: {result.causes[0] if result.causes else '?'}"
    back = (f"rolled back to revision {revision} in {result.rollback_seconds:.1f}s" if result.rollback_ok
            else "the rollback did not settle: check the release by hand")
    _finish(report, fmt, False, EXIT_CHECK_FAILED, f"{where}; {back}")


def _print_plan(plan: dict[str, Any]) -> None:
    sources = ", ".join(sorted(set(plan["from"].values()))) or "?"
    output.info(f"plan: {sources} -> {plan['to']}" + (f" ({plan['reason']})" if plan["reason"] else ""))
    for i, step in enumerate(plan["steps"], 1):
        output.info(f"  {i}. {step['label']}: {step['strategy']}; downtime: {step['downtime']}")
    if plan["backup"]:
        output.info("  back up first: " + "; ".join(plan["backup"]))
    for problem in plan["problems"]:
        output.status(output.FAIL, problem["message"], None, problem["rule"])


def _finish(report: dict[str, Any], fmt: Format, ok: bool, code: int, summary: str) -> NoReturn:
    report.update(ok=ok, summary=summary)
    if fmt == Format.json:
        output.emit_json(report)
    if ok:
        output.status(output.OK, summary)
    else:
        output.error(summary)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("upgrade")(upgrade)
