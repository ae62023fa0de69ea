"""Lower layers never import higher ones: core < render < clusters < deploy < drills < cli."""

from __future__ import annotations

import ast
from pathlib import Path

import deploytool

LAYERS = ["core", "render", "clusters", "deploy", "drills", "cli"]
ROOT = Path(deploytool.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):  # includes imports inside functions
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_imports_a_higher_layer() -> None:
    offences = []
    for layer in LAYERS:
        rank = LAYERS.index(layer)
        for path in sorted((ROOT / layer).rglob("*.py")):
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "deploytool" and len(parts) > 1 and parts[1] in LAYERS:
                    if LAYERS.index(parts[1]) > rank:
                        offences.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offences == []


def test_the_layer_check_sees_imports() -> None:
    assert "deploytool.core.kube" in _imports(ROOT / "deploy" / "smoke.py")
