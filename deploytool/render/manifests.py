"""Render an environment with `helm template` and write it as one file per object."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploytool.core import paths
from deploytool.core.config import Target
from deploytool.core.errors import Problem, ValidationFailed
from deploytool.core.helm import Helm
from deploytool.render.validate import validate
from deploytool.render.values import Layers


@dataclass
class Rendered:
    target: Target
    values: dict[str, Any]
    objects: list[dict[str, Any]] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for obj in self.objects:
            if obj.get("kind") == kind and obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"{kind}/{name} not rendered")


def check(layers: Layers) -> tuple[dict[str, Any], list[Problem]]:
    values = layers.merged()
    return values, validate(layers.env, values)


def render(layers: Layers, target: Target | None = None, helm: Helm | None = None) -> Rendered:
    """Layer, validate (raising ValidationFailed with every problem) and template."""
    target = target or Target(layers.env)
    values, problems = check(layers)
    if problems:
        raise ValidationFailed(layers.env, problems)
    helm = helm or Helm()
    text = helm.template(target.release, paths.chart_dir(), target.namespace, values)
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    objects.sort(key=lambda o: (o["kind"], o["metadata"]["name"]))
    return Rendered(target, values, objects)


def object_filename(obj: dict[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def dump(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=1000)


def manifest_files(rendered: Rendered) -> dict[str, str]:
    """File name -> content. values.yaml holds the merged values; one file per object."""
    files = {"values.yaml": "# merged values: chart defaults <- values/<env>.yaml <- -f files <- --set\n"
             + dump(rendered.values)}
    for obj in rendered.objects:
        files[object_filename(obj)] = dump(obj)
    return files


def write(rendered: Rendered, out_dir: Path) -> list[Path]:
    """Replace out_dir with exactly the rendered files (atomically: staged, then swapped in)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for name, content in manifest_files(rendered).items():
            (staging / name).write_text(content)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(out_dir.iterdir())


def diff(rendered: Rendered, out_dir: Path) -> list[str]:
    """Files that differ between a fresh render and what is on disk (for the sync test)."""
    expected = manifest_files(rendered)
    on_disk = {p.name: p.read_text() for p in out_dir.glob("*.yaml")} if out_dir.is_dir() else {}
    names = sorted(set(expected) | set(on_disk))
    return [n for n in names if expected.get(n) != on_disk.get(n)]
