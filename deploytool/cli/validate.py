"""`deploytool validate`: the render checks, writing nothing."""

from __future__ import annotations

import typer

from deploytool.cli.common import Env, Format, OutputOpt, SetOpt, ValuesFiles, Verbose, handle_errors
from deploytool.core import output
from deploytool.core.errors import ValidationFailed


@handle_errors
def validate(
    env: Env,
    values: ValuesFiles = None,
    set_: SetOpt = None,
    fmt: OutputOpt = Format.text,
    verbose: Verbose = False,
) -> None:
    """Validate an environment's values (schema + rules) and that the chart renders; write nothing.

    Every problem is listed with its values path and rule; exit 2 if there is any.

    Examples:

      deploytool validate --env prod

      deploytool validate --env prod --set queryNode.replicas=-1 --output json
    """
    from deploytool.render import manifests
    from deploytool.render.values import Layers
    layers = Layers(env, files=list(values or []), sets=list(set_ or []))
    values_tree, problems = manifests.check(layers)
    if problems:
        raise ValidationFailed(env, problems)
    rendered = manifests.render(layers)
    if fmt == Format.json:
        output.emit_json({"ok": True, "env": env, "problems": [], "objects": len(rendered.objects)})
    else:
        output.status(output.OK, f"{env}: values valid, chart renders {len(rendered.objects)} objects")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
