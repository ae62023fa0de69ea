"""Milvus answers: pymilvus smoke through the proxy/standalone, server version, and the /healthz of
every Milvus pod that runs on a real node.

The talking is done while reading the snapshot (`snapshot_read.probe_milvus`); this judges it. Each
pod is judged by its node's kind (`Node.kind`): on a real node its /healthz must have answered 200;
on a simulated (kwok) node no container runs, so there is nothing to ask and it is skipped, saying so.
"""

from __future__ import annotations

from deploytool.clusters.base import REAL, SIMULATED
from deploytool.deploy.checks.expected import milvus_components
from deploytool.deploy.snapshot import Snapshot
from deploytool.deploy.verify import FAIL, PASS, Result
from deploytool.render.components import endpoint_component
from deploytool.render.manifests import Rendered

FIX = "look at the pod logs of the failing component"


def check_milvus(expected: Rendered, snap: Snapshot) -> Result:
    probe = snap.milvus
    if probe is None:
        return Result("milvus", FAIL, ["Milvus was not probed"], "rerun verify with the milvus check")
    if probe.error:
        return Result("milvus", FAIL, [f"smoke through the {endpoint_component(expected.values)} failed: "
                                       f"{probe.error}"], FIX)
    evidence = [f"server {probe.server_version} via pod {probe.pod}: inserted {probe.inserted} vectors, indexed, "
                f"loaded, searched; top hit is the query itself ({probe.seconds:.1f}s)"]
    answers = {h.pod: h for h in probe.healthz}
    bad: list[str] = []
    simulated: list[str] = []
    read = 0
    for component in milvus_components(expected):
        pods = snap.pods_of(component)
        if not pods:
            bad.append(f"{component}: no pod in {snap.namespace}, no /healthz to read")
        for pod in pods:
            kind = snap.node_kind(pod.node_name)
            if kind == SIMULATED:
                simulated.append(pod.name)
                continue
            if kind != REAL:
                bad.append(f"{pod.name}: bound to {'no node' if not pod.node_name else 'unknown node ' + pod.node_name}"
                           f" (phase {pod.phase}), /healthz not read")
                continue
            answer = answers.get(pod.name)
            if answer is None:
                bad.append(f"{pod.name} on real node {pod.node_name}: /healthz not read (phase {pod.phase}"
                           f"{', no pod IP' if not pod.pod_ip else ''})")
                continue
            read += 1
            line = f"{pod.name} /healthz: {answer.body}" + (f" (via {answer.via})" if answer.via else "")
            (evidence if answer.ok else bad).append(line)
    if simulated:
        evidence.append(f"/healthz not checked on {len(simulated)} pod(s) simulated by kwok ({', '.join(simulated)}):"
                        " no container runs there, port 9091 would be answered by the local cluster's agent, not by "
                        "Milvus (it would prove nothing); the engine behind 19530 is milvus-lite")
    if read:
        evidence.append(f"/healthz read from {read} Milvus pod(s) on real nodes")
    if bad:
        return Result("milvus", FAIL, bad + evidence, FIX)
    return Result("milvus", PASS, evidence)
