#!/usr/bin/env python3
"""Measure the real-node figures docs/local-cluster.md quotes, in one run, on this machine.

    .venv/bin/python bench/real_nodes.py [--nodes 3]

A throwaway local cluster with N real nodes (no kwok node), deleted at the end: create, image
build (cold and cached) and import, a pod Ready on a real node, a failed node NotReady, delete,
and the memory of the real-node daemons while idle. Needs the machine's real-node slot (no other
cluster with real nodes).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from measure import DT, ROOT, print_rows, timed  # bench/measure.py, beside this script


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def until(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.25)
    raise SystemExit(f"timed out after {timeout}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from kubernetes import client

    from deploytool.clusters.local import images, realnodes
    from deploytool.clusters.local.layout import Layout
    from deploytool.core.conditions import is_ready
    from deploytool.core.kube import Kube

    rows: list[tuple[str, str]] = []
    name = f"bench-real-{uuid.uuid4().hex[:6]}"
    layout = Layout(name)
    try:
        rows.append((f"cluster create --real-nodes {args.nodes}",
                     f"{timed([*DT, 'cluster', 'create', '--name', name, '--real-nodes', str(args.nodes)]):.1f}s"))
        kube = Kube(str(layout.kubeconfig), name)
        tag = f"bench{uuid.uuid4().hex[:6]}"  # a new tag: the archive is built (the Go binary is cached)
        start = time.monotonic()
        built = images.build_image(images.program_image("webapp", tag))
        cold = time.monotonic() - start
        start = time.monotonic()
        images.build_image(images.program_image("webapp", tag))
        rows.append(("image build (webapp: new archive / cached)", f"{cold:.2f}s / {time.monotonic() - start:.3f}s"))
        start = time.monotonic()
        realnodes.import_into_nodes(layout, [built])
        rows.append((f"image import into {args.nodes} nodes", f"{time.monotonic() - start:.2f}s"))
        idle = {d: realnodes.daemon_pid(layout, d) for d in realnodes.daemons(layout)}
        kubelets = [rss_mib(p) for d, p in idle.items() if p and d.startswith("kubelet")]
        containerds = [rss_mib(p) for d, p in idle.items() if p and d.startswith("containerd")]
        rows.append(("RSS per kubelet / containerd (idle)",
                     f"{sum(kubelets) / len(kubelets):.0f} / {sum(containerds) / len(containerds):.0f} MiB"))
        pod = {"metadata": {"name": "bench"}, "spec": {"nodeName": "real-node-1", "containers": [{
            "name": "web", "image": built.ref, "imagePullPolicy": "Never",
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1}}]}}
        start = time.monotonic()
        kube.core.create_namespaced_pod("default", pod)
        until(lambda: is_ready(kube.core.read_namespaced_pod("bench", "default")), 60)
        rows.append(("pod created -> Ready (httpGet readiness, real container)", f"{time.monotonic() - start:.1f}s"))
        victim = f"real-node-{args.nodes}"
        start = time.monotonic()
        realnodes.fail_node(layout, victim)
        stop = time.monotonic() - start
        seconds = until(lambda: not is_ready(client.CoreV1Api(kube.api).read_node(victim)), 180)
        rows.append(("fail_node (kubelet + containers + containerd stopped)", f"{stop:.1f}s"))
        rows.append(("... node NotReady after", f"{seconds + stop:.0f}s"))
    finally:
        rows.append(("cluster delete", f"{timed([*DT, 'cluster', 'delete', '--name', name]):.1f}s"))
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
