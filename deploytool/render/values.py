"""Values layering: chart defaults <- values/<env>.yaml <- extra files <- --set.

Maps merge key by key; anything else (lists, scalars) is replaced by the later layer,
which is how Helm itself layers values.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deploytool.core import paths
from deploytool.core.config import Target
from deploytool.core.errors import BadInput, UnknownEnvironment

if TYPE_CHECKING:
    import yaml  # imported where YAML is read: `render` starts helm before it pays for PyYAML


def available_envs() -> list[str]:
    folder = paths.values_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def env_file(env: str) -> Path:
    path = paths.values_dir() / f"{env}.yaml"
    if not env.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        known = ", ".join(available_envs()) or "none"
        raise UnknownEnvironment(f"unknown env '{env}' (known: {known}; add values/{env}.yaml to create it)")
    namespace = Target(env).namespace
    if len(namespace) > 63 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace):
        raise BadInput(f"env name '{env}' cannot be used: its namespace '{namespace}' is not a DNS-1123 label "
                       f"(at most 63 lowercase letters, digits and '-'); rename values/{env}.yaml")
    return path


# Limits on what one YAML document may expand to. The chart's own values.yaml is ~700 nodes; an
# alias/anchor "billion laughs" file of a few hundred bytes expands to billions.
MAX_YAML_BYTES = 4 * 2**20
MAX_EXPANDED_NODES = 100_000
MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"


class NotYAML(BadInput):
    """The text does not parse as YAML at all (as opposed to YAML that is refused)."""


def _key_path(parts: list[str]) -> str:
    out = ""
    for part in parts:
        out += part if part.startswith("[") or not out else f".{part}"
    return out or "(top level)"


def _check_tree(node: yaml.Node, source: str) -> None:
    """Refuse duplicate keys, recursive aliases and alias expansion beyond MAX_EXPANDED_NODES.

    Works on the composed node graph, where an alias is the anchored node object itself, so the
    expanded size is computed without ever expanding anything.
    """
    import yaml

    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, path: list[str]) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise BadInput(f"{source}: {_key_path(path)}: an alias refers to its own anchor (recursive YAML)")
        if len(path) > MAX_DEPTH:
            raise BadInput(f"{source}: {_key_path(path[:3])}…: nested deeper than {MAX_DEPTH} levels")
        active.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    total += size(value_node, path)
                    continue
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "(complex key)"
                ident = (key_node.tag, key)
                line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode) and ident in seen:
                    raise BadInput(f"{source}: {_key_path([*path, key])}: duplicate key at line {line} (first at "
                                   f"line {seen[ident]}); YAML would silently keep only the last one")
                seen[ident] = line
                total += size(key_node, path) + size(value_node, [*path, key])
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                total += size(item, [*path, f"[{index}]"])
        active.discard(id(node))
        if total > MAX_EXPANDED_NODES:
            raise BadInput(f"{source}: {_key_path(path)}: aliases expand to more than {MAX_EXPANDED_NODES} "
                           "nodes (an anchor/alias expansion bomb?); write the values out instead")
        sizes[id(node)] = total
        return total

    size(node, [])


def load_yaml_text(text: str, source: str) -> Any:
    """One YAML document, safely: no duplicate keys, no alias bombs, no recursion; BadInput otherwise.

    Messages name the source and the key path or line, never a value (values may be credentials).
    """
    import yaml

    from deploytool.core import yamlio

    loader = yamlio.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_tree(node, source)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise NotYAML(f"{source}: not valid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise NotYAML(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise BadInput(f"{source}: nested too deeply to be a values file") from None
    finally:
        loader.dispose()


def read_text_file(path: Path, what: str = "values file") -> str:
    """A small UTF-8 text file's content, or BadInput naming the path and what is wrong with it."""
    try:
        if path.is_dir():
            raise BadInput(f"{what} {path} is a directory, not a file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise BadInput(f"{what} not found: {path}") from None
    except OSError as exc:
        raise BadInput(f"{what} {path} cannot be read: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise BadInput(f"{what} {path} is larger than {MAX_YAML_BYTES // 2**20} MiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise BadInput(f"{what} {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at line {line})") from None


def load_yaml_file(path: Path) -> dict[str, Any]:
    data = load_yaml_text(read_text_file(path), str(path))
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
    """`queryNode.replicas=3` -> {"queryNode": {"replicas": 3}}; the value is read as YAML.

    Errors name the key path only: the value may be a credential.
    """
    if "=" not in expr:
        raise BadInput("--set: expected key.path=value (got no '=')")
    key, raw = expr.split("=", 1)
    parts = key.strip().split(".")
    if not key.strip() or any(not p for p in parts):
        raise BadInput(f"--set {key.strip() or '(empty key)'}=…: empty segment in key path")
    try:
        value = load_yaml_text(raw, f"--set {key.strip()}") if raw != "" else ""
    except NotYAML:  # duplicate keys and alias bombs stay refused; plain text is taken as a string
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
    note: str = ""  # what the overlay does, for status lines ("" if nothing to say)

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
