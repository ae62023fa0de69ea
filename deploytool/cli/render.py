"""`deploytool render`: layer values, validate, template, write manifests/<env>/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deploytool.cli.common import Env, Format, OutputOpt, SetOpt, ValuesFiles, Verbose, handle_errors
from deploytool.core import output, paths


@handle_errors
def render(
    env: Env,
    values: ValuesFiles = None,
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default manifests/<env>).")] = None,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if the folder is out of date.")] = False,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Render the environment's manifests: chart defaults <- values/ENV.yaml <- -f files <- --set.

    Validates first (every problem listed, exit 2, nothing written), then runs `helm template`
    and writes one YAML file per object plus the merged values.yaml.

    Examples:

      deploytool render --env prod

      deploytool render --env staging -f my-overrides.yaml --set queryNode.replicas=4 --out /tmp/staging

      deploytool render --env dev --check      # exit 1 if manifests/dev is stale
    """
    from deploytool.render import manifests
    from deploytool.render.values import Layers
    layers = Layers(env, files=list(values or []), sets=list(set_ or []))
    rendered = manifests.render(layers)
    target_dir = out or paths.manifests_dir() / env
    if check:
        stale = manifests.diff(rendered, target_dir)
        if fmt == Format.json:
            output.emit_json({"ok": not stale, "env": env, "dir": str(target_dir), "stale": stale})
        elif stale:
            output.error(f"{target_dir} is out of date ({len(stale)} file(s): {', '.join(stale[:5])}); "
                         f"run `deploytool render --env {env}`")
        else:
            output.status(output.OK, f"{target_dir} is up to date")
        raise typer.Exit(1 if stale else 0)
    written = manifests.write(rendered, target_dir)
    kinds = sorted({o["kind"] for o in rendered.objects})
    if fmt == Format.json:
        output.emit_json({"ok": True, "env": env, "dir": str(target_dir), "files": [p.name for p in written],
                          "objects": [f"{o['kind']}/{o['metadata']['name']}" for o in rendered.objects]})
    else:
        output.status(output.OK, f"rendered {env}: {len(rendered.objects)} objects ({', '.join(kinds)}) "
                      f"-> {target_dir}")


def register(app: typer.Typer) -> None:
    app.command("render")(render)
