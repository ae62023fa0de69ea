"""`deploytool drill`: rehearse a failure against a live environment, with a probe and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploytool.cli.common import ContextOpt, Env, Format, OutputOpt, Provider, ProviderOpt, Verbose, handle_errors
from deploytool.core import output
from deploytool.deploy import cluster_select

app = typer.Typer(help="Rehearse failures on a live environment: rolling upgrade, node failure, autoscaling. "
                       "Each runs a watch-based availability recorder and a pymilvus probe beside the scenario, "
                       "prints a ✓/✗ verdict per assertion and writes a report folder (data.json, summary.md, "
                       "timeline.png). Exit 0 all assertions hold, 1 one failed, 2 bad input.",
                  no_args_is_help=True)

ReportOpt = Annotated[Path | None, typer.Option("--report", help="Report folder (default reports/<env>/<drill>-<UTC timestamp>/).")]  # noqa: E501
ProbeRateOpt = Annotated[float, typer.Option("--probe-rate", min=0.5, max=200, help="Probe searches per second.")]
MaxErrorsOpt = Annotated[int | None, typer.Option("--max-errors", min=0, help="Probe errors allowed (default: 0; node-failure 3).")]  # noqa: E501
TimeoutOpt = Annotated[int, typer.Option("--timeout", min=10, help="Seconds each step may take before it counts as failed.")]  # noqa: E501


def _run(drill: object, env: str, provider: Provider, context: str | None, report: Path | None, probe_rate: float,
         max_errors: int | None, timeout: int, fmt: Format) -> None:
    from deploytool.drills.runner import Drill, DrillOptions, connect, execute, print_verdict

    assert isinstance(drill, Drill)
    options = DrillOptions(env, cluster_select.choose(provider.value, context), report, probe_rate, max_errors,
                           timeout, quiet=fmt == Format.json)
    ctx = connect(options)
    result, folder = execute(drill, ctx)
    print_verdict(result, folder)
    if fmt == Format.json:
        output.emit_json({"ok": result.ok, "drill": result.drill, "env": env, "cluster": result.cluster,
                          "report": str(folder), "seconds": round(result.seconds, 1), "timings": result.timings,
                          "assertions": [{"name": a.name, "ok": a.ok, "observed": a.observed,
                                          "expected": a.expected} for a in result.assertions]})
    if not result.ok:
        raise typer.Exit(1)


@app.command("upgrade")
@handle_errors
def upgrade(
    env: Env,
    to: Annotated[str, typer.Option("--to", help="The Milvus image tag to upgrade to.")],
    order: Annotated[str, typer.Option("--order", help="dependency: mixcoord, streamingnode, querynode, datanode, proxy, one at a time; helm: everything in one helm upgrade.")] = "dependency",  # noqa: E501
    allow_downgrade: Annotated[bool, typer.Option("--allow-downgrade", help="As for `deploytool upgrade`: allow 3.0 -> 2.6 (to >= 2.6.20).")] = False,  # noqa: E501
    backup_done: Annotated[bool, typer.Option("--backup-done", help="As for `deploytool upgrade`: etcd and the bucket are backed up (a minor version change needs it).")] = False,  # noqa: E501
    provider: ProviderOpt = Provider.auto,
    context: ContextOpt = None,
    report: ReportOpt = None,
    probe_rate: ProbeRateOpt = 20.0,
    max_errors: MaxErrorsOpt = None,
    timeout: TimeoutOpt = 300,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """`deploytool upgrade`'s plan and engine beside the recorder and the probe.

    The plan is the command's (a refused plan exits 2, nothing changed). Order mixcoord,
    streamingnode, querynode, datanode, proxy, each fully rolled before the next (one helm
    revision per step), while the probe searches. A stalled step (or one not rolled within
    --timeout) rolls the release back (helm rollback) and fails the drill. Asserts: availability
    never below desired - maxUnavailable, every pod on the new tag, every canary vector found and
    no data lost after each step (the ledger), probe errors <= --max-errors.

    On the local cluster a tag ending in -broken is refused at admission (simulated bad image).

    Examples:

      deploytool drill upgrade --env prod --to v3.0.2 --backup-done

      deploytool drill upgrade --env prod --to v3.0.2 --backup-done --order helm --report /tmp/helm-order

      deploytool drill upgrade --env prod --to v2.6.24-broken    # rolls back, exit 1
    """
    from deploytool.drills.upgrade import UpgradeDrill

    _run(UpgradeDrill(to, order, allow_downgrade, backup_done), env, provider, context, report, probe_rate,
         max_errors, timeout, fmt)


@app.command("node-failure")
@handle_errors
def node_failure(
    env: Env,
    node: Annotated[str | None, typer.Option("--node", help="Node to fail (default: the one holding the most pods of the release).")] = None,  # noqa: E501
    drain_bound: Annotated[float, typer.Option("--drain-bound", min=1, help="Seconds of Eviction API retries before what is left is force-deleted.")] = 20.0,  # noqa: E501
    provider: ProviderOpt = Provider.auto,
    context: ContextOpt = None,
    report: ReportOpt = None,
    probe_rate: ProbeRateOpt = 20.0,
    max_errors: MaxErrorsOpt = None,
    timeout: TimeoutOpt = 300,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Fail the busiest node, drain it, watch the pods move, restore it.

    local: kwok stops the node's heartbeat; kind: docker stop. The drill waits for NotReady,
    drains through the Eviction API, waits for replacements, restores the node. Asserts: components
    with required anti-affinity lost at most one replica at a time and never shared a node, the
    client Service kept a ready endpoint, the probe kept answering, everything recovered.

    Examples:

      deploytool drill node-failure --env prod

      deploytool drill node-failure --env prod --node kwok-node-2 --max-errors 0
    """
    from deploytool.drills.node_failure import NodeFailureDrill

    _run(NodeFailureDrill(node, drain_bound), env, provider, context, report, probe_rate, max_errors, timeout, fmt)


@app.command("autoscale")
@handle_errors
def autoscale(
    env: Env,
    component: Annotated[str, typer.Option("--component", help="Component whose HPA is driven.")] = "proxy",
    usage: Annotated[float, typer.Option("--usage", help="CPU load, percent of the request per starting replica.")] = 140.0,  # noqa: E501
    low_usage: Annotated[float, typer.Option("--low-usage", help="CPU per pod for the way down, percent of the request.")] = 10.0,  # noqa: E501
    provider: ProviderOpt = Provider.auto,
    context: ContextOpt = None,
    report: ReportOpt = None,
    probe_rate: ProbeRateOpt = 20.0,
    max_errors: MaxErrorsOpt = None,
    timeout: TimeoutOpt = 300,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Drive an HPA up with CPU load, then back down to its minimum.

    Short stabilization windows for the drill only. Asserts: HPA desired and spec.replicas reach ceil(current x usage /
    target) (clamped to min/max) within --timeout; back at min within --timeout. Ready replicas
    are reported beside them (required anti-affinity caps them at the node count).

    Examples:

      deploytool drill autoscale --env prod

      deploytool drill autoscale --env prod --usage 250 --timeout 120
    """
    from deploytool.drills.autoscale import AutoscaleDrill

    _run(AutoscaleDrill(component, usage, low_usage), env, provider, context, report, probe_rate, max_errors,
         timeout, fmt)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="drill")
