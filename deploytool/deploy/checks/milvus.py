"""Milvus answers: pymilvus smoke through the proxy/standalone, server version, /healthz.

The talking is done while reading the snapshot (`snapshot_read.probe_milvus`); this judges it."""

from __future__ import annotations

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
    if snap.simulated_pods:
        evidence.append("/healthz not checked: pods are simulated by kwok, so port 9091 is answered by the local "
                        "cluster's agent, not by Milvus (it would prove nothing); the engine behind 19530 is "
                        "milvus-lite")
        return Result("milvus", PASS, evidence)
    answered = {h.component for h in probe.healthz}
    bad = [f"{c}: /healthz not probed" for c in milvus_components(expected) if c not in answered]
    for h in probe.healthz:
        (evidence if h.ok else bad).append(f"{h.pod or h.component} /healthz: {h.body}")
    if bad:
        return Result("milvus", FAIL, bad + evidence, FIX)
    return Result("milvus", PASS, evidence)
