"""Milvus answers: pymilvus smoke through the proxy/standalone, server version, /healthz."""

from __future__ import annotations

import urllib.request

from deploytool.core.portforward import PodPortForward
from deploytool.deploy.smoke import ready_pod, run_smoke
from deploytool.deploy.verify import FAIL, PASS, Result, VerifyContext
from deploytool.render.components import endpoint_component

METRICS_PORT = 9091


def check_milvus(ctx: VerifyContext) -> Result:
    snap = ctx.snapshot
    component = endpoint_component(ctx.expected.values)
    smoke = run_smoke(snap.kube, snap.ns, snap.target.release, component)
    evidence = [f"server {smoke.server_version} via pod {smoke.pod}: inserted {smoke.inserted} vectors, indexed, "
                f"loaded, searched; top hit is the query itself ({smoke.seconds:.1f}s)"]
    if ctx.simulated_pods:
        evidence.append("/healthz not checked: pods are simulated by kwok, so port 9091 is answered by the local "
                        "cluster's agent, not by Milvus (it would prove nothing); the engine behind 19530 is "
                        "milvus-lite")
        return Result("milvus", PASS, evidence)
    bad: list[str] = []
    for comp in sorted({o["metadata"]["labels"]["app.kubernetes.io/component"]
                        for o in ctx.expected.by_kind("Deployment") + ctx.expected.by_kind("StatefulSet")}
                       - {"etcd", "minio"}):
        pod = ready_pod(snap.kube, snap.ns, snap.target.release, comp)
        with PodPortForward(snap.kube.core, snap.ns, pod, METRICS_PORT) as port:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
                    body = resp.read(200).decode(errors="replace").strip()
                    ok = resp.status == 200
            except OSError as exc:
                ok, body = False, str(exc)
        (evidence if ok else bad).append(f"{pod} /healthz: {body}")
    if bad:
        return Result("milvus", FAIL, bad + evidence, "look at the pod logs of the failing component")
    return Result("milvus", PASS, evidence)
