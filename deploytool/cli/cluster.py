"""`deploytool cluster create|delete|status`: the clusters deploytool deploys to."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from deploytool import clusters
from deploytool.cli.common import Format, OutputOpt, Provider, Verbose, default_nodes, handle_errors
from deploytool.clusters.base import DEFAULT_NAME, ClusterSpec
from deploytool.core import output
from deploytool.core.errors import BadInput

if TYPE_CHECKING:
    from deploytool.clusters import ClusterProvider
    from deploytool.clusters.status import ClusterStatus

app = typer.Typer(help="Create, inspect and delete clusters (local = kwok + real control plane + milvus-lite).",
                  no_args_is_help=True)

ClusterProviderOpt = Annotated[Provider, typer.Option(
    "--provider", help="auto (the default, as for up/verify: kind where Docker and kind work, else local), "
                       "local (kwok), kind, current (kubeconfig as is).")]
NameOpt = Annotated[str | None, typer.Option(
    "--name", "-n", "--context", help=f"Cluster name (default {DEFAULT_NAME}), the same value up/verify take as "
                                      "--context; provider current: a kubeconfig context (default: the current one).")]


def _provider_and_name(provider: Provider, name: str | None) -> tuple[ClusterProvider, str]:
    chosen = clusters.get_provider(provider.value)
    return chosen, chosen.info.default_cluster_name if name is None else name


@app.command("create")
@handle_errors
def create(
    provider: ClusterProviderOpt = Provider.auto,
    name: NameOpt = None,
    nodes: Annotated[int | None, typer.Option(
        "--nodes", min=0, max=100, help="Simulated (kwok) nodes [default: 3, or 0 with --real-nodes].")] = None,
    real_nodes: Annotated[int, typer.Option(
        "--real-nodes", min=0, max=50,
        help="local only: real nodes (kubelet + containerd + runc each; pods run as real containers).")] = 0,
    node_cpu: Annotated[str, typer.Option("--node-cpu", help="CPU of each node (a quantity: 16, 8500m).")] = "16",
    node_memory: Annotated[str, typer.Option("--node-memory", help="Memory of each node (a quantity).")] = "64Gi",
    retain: Annotated[bool, typer.Option("--retain", help="Keep a partly created cluster when a step fails.")] = False,
    load_image: Annotated[list[str] | None, typer.Option(
        "--load-image", help="kind only: a pre-pulled image to load into the nodes (repeatable).")] = None,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Create a cluster, or reuse the one of that name (idempotent), printing one ✓ line per step.

    The local provider runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
    metrics-server (kwokctl, binary runtime, our pinned builds), simulated nodes (kwok) spread
    over zone-a/b/c, a default StorageClass whose claims bind, and milvus-lite reachable by
    port-forward to port 19530 of any Milvus proxy pod. Nothing is downloaded; ~/.kube/config
    is not touched: use the kubeconfig it prints. --real-nodes N adds N real nodes (kubelet +
    containerd + runc each, labelled deploytool.io/node-kind=real; one such cluster per machine):
    their pods run as real containers from images built here (localhost/deploytool/...).

    Examples:

      deploytool cluster create

      deploytool cluster create --name demo --nodes 3 --node-cpu 16 --node-memory 64Gi

      deploytool cluster create --name big --nodes 6 --output json

      deploytool cluster create --name real --real-nodes 3

      deploytool cluster create --name mixed --real-nodes 1 --nodes 2

      deploytool cluster create --provider kind --load-image milvusdb/milvus:v2.6.24
    """
    chosen, name = _provider_and_name(provider, name)
    if real_nodes and not chosen.info.runs_real_nodes:
        raise BadInput(f"--real-nodes applies to --provider local only (this is {chosen.name})")
    if load_image and not chosen.info.loads_images:
        raise BadInput(f"--load-image applies to --provider kind only (this is {chosen.name})")
    start = time.monotonic()
    existed = chosen.exists(name) if chosen.info.manages_lifecycle else True
    spec = ClusterSpec(default_nodes(nodes, real_nodes), node_cpu, node_memory, tuple(load_image or ()), real_nodes)
    ref = chosen.create(name, spec, progress=True, retain=retain)
    seconds = time.monotonic() - start
    if fmt == Format.json:
        output.emit_json({"ok": True, "created": not existed, "seconds": round(seconds, 1), **ref.as_dict()})
    else:
        output.line(f"kubeconfig: {ref.kubeconfig or '(default)'}")
        output.line(f"context:    {ref.context}")
        if ref.kubeconfig:
            output.line(f"try:        kubectl --kubeconfig {ref.kubeconfig} get nodes -L topology.kubernetes.io/zone")


@app.command("delete")
@handle_errors
def delete(
    provider: ClusterProviderOpt = Provider.auto,
    name: NameOpt = None,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Delete a cluster: stop every process it started and remove its folder. A no-op if it is gone.

    Examples:

      deploytool cluster delete

      deploytool cluster delete --name demo --output json
    """
    chosen, name = _provider_and_name(provider, name)
    result = chosen.delete(name, progress=fmt != Format.json)
    leftovers = list(result.leftover_pids)
    if fmt == Format.json:
        output.emit_json({"ok": not leftovers, **result.as_dict()})
    elif not result.existed:
        output.status(output.OK, f"no {chosen.name} cluster named '{name}': nothing to delete")
    elif leftovers:
        output.error(f"cluster '{name}' deleted but processes {leftovers} would not stop")
    else:
        output.status(output.OK, f"deleted {chosen.name} cluster '{name}'", result.seconds)
    if leftovers:
        raise typer.Exit(1)


def _print_status(info: ClusterStatus) -> None:
    mark = output.OK if info.ok else output.FAIL
    output.line(f"{mark} {info.provider} cluster '{info.name}'" + ("" if info.exists else " does not exist"))
    if not info.exists:
        return
    api = info.api_server
    if api is not None:
        reach = f"reachable ({api.version})" if api.reachable else f"NOT reachable: {api.error}"
        output.line(f"  API server   {api.url} {reach}")
    if info.kubeconfig:
        output.line(f"  kubeconfig   {info.kubeconfig} (context {info.context})")
    output.line(f"  nodes        {info.nodes_ready}/{len(info.nodes)} Ready")
    for node in info.nodes:
        taints = f" taints {','.join(node.taints)}" if node.taints else ""
        output.line(f"    {node.name:<14} {'Ready' if node.ready else 'NotReady':<9} {node.kind:<10} {node.zone:<7} "
                    f"cpu {node.cpu} memory {node.memory}{taints}")
    for proc, state in info.processes.items():
        output.line(f"  {proc:<24} pid {state.pid} {'up' if state.alive else 'DOWN'}")
    milvus = info.extra.get("milvus")
    if milvus:
        output.line(f"  milvus-lite  port {milvus.get('port')} {'up' if milvus.get('up') else 'DOWN'}")


@app.command("status")
@handle_errors
def status(
    provider: ClusterProviderOpt = Provider.auto,
    name: NameOpt = None,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Show a cluster's processes, API server, nodes and ports; exit 1 unless all is well.

    Examples:

      deploytool cluster status

      deploytool cluster status --name demo --output json
    """
    chosen, name = _provider_and_name(provider, name)
    info = chosen.status(name)
    if fmt == Format.json:
        output.emit_json(info.as_dict())
    else:
        _print_status(info)
    if not info.ok:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cluster")
