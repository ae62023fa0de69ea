"""Render an environment with `helm template` and write it as one file per object.

YAML (and the validators) are imported inside the functions that need them, after `helm template`
has started (see render()).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploytool.core import paths
from deploytool.core.config import Target
from deploytool.core.errors import BadInput, Problem, ValidationFailed
from deploytool.core.helm import Helm
from deploytool.render.values import Layers


@dataclass
class Rendered:
    target: Target
    values: dict[str, Any]
    objects: list[dict[str, Any]] = field(default_factory=list)
    values_yaml: str = ""  # dump(values), when it was made while helm ran ("" = not yet)

    def by_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for obj in self.objects:
            if obj.get("kind") == kind and obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"{kind}/{name} not rendered")


def check(layers: Layers) -> tuple[dict[str, Any], list[Problem]]:
    values = layers.merged()
    return values, _validate(layers.env, values)


def _validate(env: str, values: dict[str, Any]) -> list[Problem]:
    from deploytool.render.validate import validate  # imported while helm runs

    return validate(env, values)


def render(layers: Layers, target: Target | None = None, helm: Helm | None = None) -> Rendered:
    """Layer, validate (raising ValidationFailed with every problem) and template.

    `helm template` starts first: it takes ~35 ms to start up before it reads its values, time in
    which the values are read and layered; it renders while they are validated. It only prints,
    and is stopped on any error, so nothing comes of it unless the values are valid.
    """
    target = target or Target(layers.env)
    try:
        templating = (helm or Helm()).start_template(target.release, paths.chart_dir(), target.namespace)
    except Exception:  # helm missing or not runnable: reported after the values' own errors, as before
        layers.merged()
        raise
    try:
        values = layers.merged()
        templating.send_values(values)
        problems = _validate(layers.env, values)
        if problems:
            raise ValidationFailed(layers.env, problems)
        values_yaml = _dump_values(values)  # while helm still renders
        text = templating.result()
    except BaseException:
        templating.cancel()
        raise
    from deploytool.core import yamlio

    objects = [doc for doc in yamlio.load_all(text) if doc]
    objects.sort(key=lambda o: (o["kind"], o["metadata"]["name"]))
    return Rendered(target, values, objects, values_yaml)


def object_filename(obj: dict[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def dump(obj: Any) -> str:
    from deploytool.core import yamlio

    return yamlio.dump(obj, sort_keys=True, default_flow_style=False, width=1000)


def _dump_values(values: dict[str, Any]) -> str:
    return "# merged values: chart defaults <- values/<env>.yaml <- -f files <- --set\n" + dump(values)


def manifest_files(rendered: Rendered) -> dict[str, str]:
    """File name -> content. values.yaml holds the merged values; one file per object."""
    files = {"values.yaml": rendered.values_yaml or _dump_values(rendered.values)}
    for obj in rendered.objects:
        files[object_filename(obj)] = dump(obj)
    return files


_OURS = re.compile(r"^(values|[a-z0-9]+-[a-z0-9.-]+)\.yaml$")


def write(rendered: Rendered, out_dir: Path) -> list[Path]:
    """Make out_dir hold exactly the rendered files. It must be empty, missing, or hold only files
    this command writes: anything else in it is refused (BadInput) rather than deleted."""
    foreign = sorted(p.name for p in out_dir.iterdir() if not (p.is_file() and _OURS.match(p.name))) \
        if out_dir.is_dir() else []
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--out {out_dir} is a file, not a folder")
    if foreign:
        raise BadInput(f"--out {out_dir} holds files deploytool did not write ({', '.join(foreign[:5])}); "
                       "choose an empty or new folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = manifest_files(rendered)
    on_disk = {p.name for p in out_dir.glob("*.yaml")}
    for stale in on_disk - set(wanted):
        (out_dir / stale).unlink()
    for name, content in wanted.items():
        if name in on_disk and _holds(out_dir / name, content):
            continue  # unchanged: not rewritten (reading is cheaper than writing and renaming)
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(content)
        tmp.replace(out_dir / name)
    return sorted(out_dir / name for name in wanted)


def _holds(path: Path, content: str) -> bool:
    try:
        return path.read_text() == content
    except (OSError, UnicodeDecodeError):
        return False


def diff(rendered: Rendered, out_dir: Path) -> list[str]:
    """Files that differ between a fresh render and what is on disk (for the sync test)."""
    expected = manifest_files(rendered)
    on_disk = {p.name: p.read_text() for p in out_dir.glob("*.yaml")} if out_dir.is_dir() else {}
    names = sorted(set(expected) | set(on_disk))
    return [n for n in names if expected.get(n) != on_disk.get(n)]
