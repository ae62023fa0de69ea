#!/usr/bin/env python3
"""Measure the figures the README quotes, in one run, on this machine.

    .venv/bin/python bench/measure.py [--repeat 3]

Renders are compared with plain `helm template` of the same chart and values in the same run
(deploytool adds layering, schema + rule validation and file writing on top of helm). Cluster
figures use a throwaway local cluster that is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DT = [sys.executable, "-m", "deploytool.cli.main"]


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return time.monotonic() - start


def median(fn, repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from deploytool.core import toolchain
    from deploytool.render.values import Layers

    helm = str(toolchain.find("helm"))
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for env in ("dev", "prod"):
            values = Path(tmp) / f"{env}.yaml"
            import yaml

            values.write_text(yaml.safe_dump(Layers(env).merged()))
            helm_argv = [helm, "template", "milvus", str(ROOT / "charts/milvus"), "-f", str(values)]
            ours_argv = [*DT, "render", "--env", env, "--out", f"{tmp}/out-{env}"]
            plain = median(lambda argv=helm_argv: timed(argv), args.repeat)
            ours = median(lambda argv=ours_argv: timed(argv), args.repeat)
            rows.append((f"render --env {env}", f"{ours:.2f}s vs helm template {plain:.2f}s (x{ours / plain:.1f})"))

    name = f"bench-{uuid.uuid4().hex[:6]}"
    where = ["--provider", "local", "--context", name]
    env = dict(os.environ, DEPLOYTOOL_S3_ACCESS_KEY="bench-access", DEPLOYTOOL_S3_SECRET_KEY="bench-secret")
    try:
        rows.append(("cluster create --nodes 4 (local)",
                     f"{timed([*DT, 'cluster', 'create', '--name', name, '--nodes', '4']):.1f}s"))
        rows.append(("up --env dev, first", f"{timed([*DT, 'up', '--env', 'dev', *where], env):.1f}s"))
        rows.append(("up --env dev, second (no change)", f"{timed([*DT, 'up', '--env', 'dev', *where], env):.1f}s"))
        rows.append(("up --env prod, first (includes waiting for HPA metrics)",
                     f"{timed([*DT, 'up', '--env', 'prod', *where], env):.1f}s"))
        rows.append(("verify --env prod", f"{timed([*DT, 'verify', '--env', 'prod', *where], env):.1f}s"))
    finally:
        rows.append(("cluster delete", f"{timed([*DT, 'cluster', 'delete', '--name', name]):.1f}s"))
    print_rows(rows)
    return 0


def print_rows(rows: list[tuple[str, str]]) -> None:
    """The figures as an aligned table, with the date and the machine's cores."""
    width = max(len(r[0]) for r in rows)
    print(f"measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
