"""The Typer root: it only registers commands; each lives in its own module."""

from __future__ import annotations

import typer

from deploytool.cli import cluster, down, drill, render, status, tools, up, upgrade, validate, verify, version

app = typer.Typer(
    name="deploytool",
    help="Render, deploy and verify Milvus on Kubernetes per environment.\n\n"
    "Exit codes: 0 ok, 1 a check failed, 2 bad input (nothing applied).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (render, validate, up, upgrade, verify, status, down, cluster, drill, version, tools):
    module.register(app)


def run() -> None:
    app()


if __name__ == "__main__":
    run()
