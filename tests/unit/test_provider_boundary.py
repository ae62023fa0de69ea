"""Only deploytool/clusters/ (and the CLI's option parsing) may compare a provider's name.

Everything else decides on what a provider says it can do (ProviderInfo, Connection, Faults).
"""

from __future__ import annotations

import ast
from pathlib import Path

import deploytool
from deploytool.clusters import PROVIDERS

ROOT = Path(deploytool.__file__).parent
NAMES = {*PROVIDERS, "auto"}
# Where comparing names is the job: the providers themselves, and the --provider option's parsing.
ALLOWED = ("clusters/", "cli/common.py")


def _names_in(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES:
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_names_in(e) for e in node.elts)) if node.elts else set()
    if isinstance(node, ast.Attribute) and node.attr in NAMES and isinstance(node.value, ast.Name) \
            and node.value.id == "Provider":  # the --provider option's enum: Provider.local, ...
        return {node.attr}
    return set()


def name_comparisons(source: str) -> list[str]:
    """'line: names' for each comparison (==, !=, in, not in, match case) against a provider name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            names = set().union(*(_names_in(n) for n in [node.left, *node.comparators]))
            if names:
                found.append(f"{node.lineno}: {', '.join(sorted(names))}")
        elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
            names = _names_in(node.pattern.value)
            if names:
                found.append(f"{node.pattern.lineno}: {', '.join(sorted(names))}")
    return found


def test_no_provider_name_comparison_outside_clusters() -> None:
    offences = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(ALLOWED):
            continue
        offences += [f"{rel}:{hit}" for hit in name_comparisons(path.read_text())]
    assert offences == []


def test_the_check_sees_every_form_of_comparison() -> None:
    source = '''
if ctx.provider == "local": pass
if "kind" != choice.provider: pass
if provider not in ("local", "kind"): pass
if chosen is Provider.current: pass
match name:
    case "current": pass
if env == "prod" and mode in ("dependency", "all"): pass
'''
    assert name_comparisons(source) == ["2: local", "3: kind", "4: kind, local", "5: current", "7: current"]
