#!/usr/bin/env python3
"""Measure `deploytool upgrade` on a throwaway local cluster (docs/upgrade.md quotes these figures).

    .venv/bin/python bench/upgrade.py [--runs 2]

Per run, a fresh local cluster of 3 nodes (16 CPU / 64Gi) with prod up on v2.6.20, then: the
refusal on 3 nodes, a 4th node, `--dry-run`, the upgrade to the chart's default tag, a broken tag
(the local provider's unpullable-tag fault) rolled back, and back down to v2.6.20 (a patch downgrade). Each
run's cluster is deleted at its end. Figures are wall-clock seconds of the CLI and the engine's
own timings from `--output json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DT = [sys.executable, "-m", "deploytool.cli.main"]
START = "v2.6.20"


def run(argv: list[str], env: dict[str, str]) -> tuple[int, dict[str, Any], float]:
    began = time.monotonic()
    proc = subprocess.run([*DT, *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    took = time.monotonic() - began
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        data = {}
    return proc.returncode, data, took


def must(code: int, want: int, what: str, data: dict[str, Any]) -> None:
    if code != want:
        raise SystemExit(f"{what}: exit {code}, expected {want}: {json.dumps(data)[:2000]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from deploytool.clusters.base import ClusterSpec
    from deploytool.clusters.local import LocalProvider
    from deploytool.clusters.local import nodes as local_nodes
    from deploytool.core.kube import Kube
    from deploytool.drills.faults import BROKEN_SUFFIX
    from deploytool.render.versions import DEFAULT_TAG

    env = dict(os.environ, DEPLOYTOOL_S3_ACCESS_KEY="bench-access", DEPLOYTOOL_S3_SECRET_KEY="bench-secret")
    rows = Rows()
    for i in range(args.runs):  # a fresh cluster per run
        name = f"dt-bench-upgrade-{uuid.uuid4().hex[:4]}"
        where = ["--provider", "local", "--context", name]
        provider = LocalProvider()
        ref = provider.create(name, ClusterSpec(nodes=3, node_cpu="16", node_memory="64Gi"), progress=False)
        try:
            code, data, took = run(["up", "--env", "prod", "--set", f"image.tag={START}", "--no-verify",
                                    "--output", "json", *where], env)
            must(code, 0, "up", data)
            kube = Kube(str(ref.kubeconfig), ref.context)
            upgrade = ["upgrade", "--env", "prod", "--output", "json", *where]
            code, data, took = run([*upgrade, "--to", DEFAULT_TAG], env)
            must(code, 2, "refusal on 3 nodes", data)
            rows.append(f"run {i + 1}: refused on 3 nodes (exit 2) in {took:.1f}s: "
                        f"{[p['rule'] for p in data['problems']]}")
            local_nodes.create_nodes(kube.core, 4, "16", "64Gi")
            deadline = time.monotonic() + 90
            while not all(n.ready for n in local_nodes.summary(kube.core)) and time.monotonic() < deadline:
                time.sleep(1)
            code, data, took = run([*upgrade, "--to", DEFAULT_TAG, "--dry-run"], env)
            must(code, 0, "dry run", data)
            rows.append(f"run {i + 1}: --dry-run (4 nodes) {took:.1f}s, {len(data['steps'])} steps")
            code, data, took = run([*upgrade, "--to", DEFAULT_TAG], env)
            must(code, 0, "upgrade", data)
            steps = ", ".join(f"{s['label']} {s['seconds']}s" for s in data["result"]["steps"])
            canary = {f"{e['canary_found']}/{e['canary_total']}" for e in data["ledger"]}
            rows.append(f"run {i + 1}: upgrade {START} -> {DEFAULT_TAG} {took:.1f}s (engine "
                        f"{data['result']['seconds']}s; {steps}); ledger entries {len(data['ledger'])}, "
                        f"canary {canary}")
            faults = provider.faults(kube)
            faults.make_unpullable("milvus-prod", BROKEN_SUFFIX)
            try:
                code, data, took = run([*upgrade, "--to", f"{DEFAULT_TAG}{BROKEN_SUFFIX}"], env)
            finally:
                faults.restore_pullable()
            must(code, 1, "broken tag", data)
            result = data["result"]
            rows.append(f"run {i + 1}: broken tag exit 1 in {took:.1f}s: stalled step {result['failed_step']} "
                        f"after {result['steps'][0]['seconds']}s, cause visible -> decision "
                        f"{result['detect_seconds']}s, rollback {result['rollback_seconds']}s")
            code, data, took = run([*upgrade, "--to", START], env)
            must(code, 0, "patch downgrade", data)
            rows.append(f"run {i + 1}: downgrade {DEFAULT_TAG} -> {START} {took:.1f}s, order "
                        f"{[s['label'] for s in data['result']['steps']]}")
        finally:
            provider.delete(name, progress=False)
    return 0


class Rows(list[str]):
    """Printed as they come (a failed run still shows what was measured)."""

    def append(self, row: str) -> None:
        print(row, flush=True)
        super().append(row)


if __name__ == "__main__":
    raise SystemExit(main())
