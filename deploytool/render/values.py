"""Values layering: chart defaults <- values/<env>.yaml <- extra files <- --set.

Maps merge key by key; anything else (lists, scalars) is replaced by the later layer,
which is how Helm itself layers values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploytool.core import paths
from deploytool.core.errors import BadInput, UnknownEnvironment


def available_envs() -> list[str]:
    folder = paths.values_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def env_file(env: str) -> Path:
    path = paths.values_dir() / f"{env}.yaml"
    if not env.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        known = ", ".join(available_envs()) or "none"
        raise UnknownEnvironment(f"unknown env '{env}' (known: {known}; add values/{env}.yaml to create it)")
    return path


def load_yaml_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"values file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"{path}: must be a mapping at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_set(expr: str) -> dict[str, Any]:
    """`queryNode.replicas=3` -> {"queryNode": {"replicas": 3}}; the value is read as YAML."""
    if "=" not in expr:
        raise BadInput(f"--set {expr!r}: expected key.path=value")
    key, raw = expr.split("=", 1)
    parts = key.strip().split(".")
    if not key.strip() or any(not p for p in parts):
        raise BadInput(f"--set {expr!r}: empty segment in key path")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    tree: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        tree = {part: tree}
    return tree


@dataclass
class Layers:
    """The ordered sources of one environment's values, kept for provenance."""

    env: str
    files: list[Path] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)
    overlay: dict[str, Any] = field(default_factory=dict)  # e.g. a provider's needs; below --set

    def merged(self, include_chart_defaults: bool = True) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if include_chart_defaults:
            values = load_yaml_file(paths.chart_dir() / "values.yaml")
        for path in [env_file(self.env), *self.files]:
            values = deep_merge(values, load_yaml_file(path))
        values = deep_merge(values, self.overlay)
        for expr in self.sets:
            values = deep_merge(values, parse_set(expr))
        return values

    def overrides(self) -> dict[str, Any]:
        """Everything above chart defaults: what is handed to helm as one values file."""
        return self.merged(include_chart_defaults=False)
