#!/usr/bin/env python3
"""Measure the figures the README quotes, in one run, on this machine.

    .venv/bin/python bench/measure.py [--repeat 3] [--only render]

`--only render` measures the render rows alone (no cluster: a few seconds).

Renders are compared with plain `helm template` of the same chart and values in the same run
(deploytool adds layering, schema + rule validation and file writing on top of helm), their runs
interleaved so that load from other processes falls on both alike; each command runs once first
(unmeasured) so that its files are in the page cache and deploytool's bytecode is compiled, as after
its first run on a user's machine (PYTHONDONTWRITEBYTECODE is dropped for the measured commands).
render writes into the same folder every time, as `make render` does: from the second run on, its
files are up to date and are left as they are. Cluster figures use a throwaway local cluster that is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DT = [sys.executable, "-m", "deploytool.cli.main"]


# A user's Python writes bytecode caches; a PYTHONDONTWRITEBYTECODE inherited from this shell would make
# every run compile deploytool's modules from source (~30 ms on render).
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    return timed_both(argv, env)[0]


def timed_both(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the command and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, env=env or BASE_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> tuple[float, float]:
    wall, cpu, _ = interleaved({"only": (argv, env)}, repeat)["only"]
    return wall, cpu


def interleaved(commands: dict[str, tuple[list[str], dict[str, str] | None]],
                repeat: int) -> dict[str, tuple[float, float, float]]:
    """Median wall, median CPU and fastest wall seconds of each command, run in turn `repeat` times
    after one unmeasured run."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for round_ in range(repeat + 1):
        for name, (argv, env) in commands.items():
            result = timed_both(argv, env)
            if round_:
                runs[name].append(result)
    return {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs), min(r[0] for r in rs))
            for name, rs in runs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="measured runs per render command (median)")
    parser.add_argument("--only", choices=["render"], help="measure only these rows (render: no cluster)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from deploytool.core import toolchain
    from deploytool.core.helm import TEMPLATE_GC
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
            got = interleaved({"helm": (helm_argv, None), "ours": (ours_argv, None),
                               "helm-gc": (helm_argv, {**BASE_ENV, **TEMPLATE_GC})}, args.repeat)
            (plain, plain_cpu, plain_min), (ours, ours_cpu, ours_min) = got["helm"], got["ours"]
            rows.append((f"render --env {env}",
                         f"{ours:.3f}s vs helm template {plain:.3f}s (x{ours / plain:.1f}; fastest runs "
                         f"x{ours_min / plain_min:.1f}); CPU {ours_cpu:.2f}s vs {plain_cpu:.2f}s "
                         f"(x{ours_cpu / plain_cpu:.1f}); helm template with render's GC setting "
                         f"{got['helm-gc'][0]:.3f}s"))

    rows += floor_rows(args.repeat)
    if args.only != "render":
        rows += cluster_rows()
    print_rows(rows)
    return 0


# What any Python CLI of ours pays before it does anything: the interpreter, a Typer app with one
# option (pinned below 0.29, which coerces options through pydantic: 0.15 s for this app here), and
# PyYAML's import (render reads and writes YAML).
FLOOR = {
    "floor: python, nothing imported": "pass",
    "floor: a one-option Typer app (typer {typer})": "import typer\napp = typer.Typer()\n@app.command()\n"
                                                     "def main(env: str = typer.Option(...)) -> None:\n    pass\n"
                                                     "app(['--env', 'prod'], standalone_mode=False)",
    "floor: import yaml": "import yaml",
}


def floor_rows(repeat: int) -> list[tuple[str, str]]:
    from importlib.metadata import version

    rows = []
    for label, code in FLOOR.items():
        wall, cpu = medians([sys.executable, "-c", code], repeat)
        rows.append((label.format(typer=version("typer")), f"{wall:.3f}s; CPU {cpu:.2f}s"))
    return rows


def cluster_rows() -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
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
    return rows


def print_rows(rows: list[tuple[str, str]]) -> None:
    """The figures as an aligned table, with the date and the machine's cores."""
    width = max(len(r[0]) for r in rows)
    print(f"measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
