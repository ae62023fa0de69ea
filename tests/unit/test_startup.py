"""Start-up cost: the CLI imports only what the command it runs needs (bench/measure.py times it).

Timings on a shared machine are noise; which modules a command loads is not. pydantic (Typer from
0.29 on coerces options through it), jsonschema (replaced by deploytool.render.schema) and
importlib.metadata each cost render more than a third of what `helm template` itself takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("kubernetes", "pymilvus", "numpy", "matplotlib", "rich", "jsonschema", "urllib3", "pydantic")


def loaded_after(code: str, marker: str = "") -> set[str]:
    """The modules loaded after running code in a fresh interpreter (or its lines starting with marker)."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    if marker:
        return {line for line in out.splitlines() if line.startswith(marker)}
    return set(json.loads(out.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_heavy_module_and_no_command() -> None:
    loaded = loaded_after("import deploytool.cli.main")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    layers = ("deploytool.render", "deploytool.deploy", "deploytool.clusters", "deploytool.drills")
    assert not {m for m in loaded if m.startswith(layers)}


def test_render_loads_neither_the_kubernetes_client_nor_pymilvus(tmp_path: Path) -> None:
    loaded = loaded_after(
        "from deploytool.cli.main import app\n"
        f"try:\n    app(['render', '--env', 'prod', '--out', {str(tmp_path / 'out')!r}])\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code")
    assert (tmp_path / "out" / "values.yaml").is_file()
    assert "deploytool.render.schema" in loaded, "render validates"
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    assert "importlib.metadata" not in loaded
    assert "tempfile" not in loaded, "the values reach helm through a pipe"
    assert not {m for m in loaded if m.startswith(("deploytool.clusters", "deploytool.drills", "deploytool.deploy"))}
    assert {m for m in loaded if m.startswith("deploytool.cli.")} == {"deploytool.cli.main", "deploytool.cli.common",
                                                                     "deploytool.cli.render"}


def test_the_pinned_typer_does_not_import_pydantic() -> None:
    loaded = loaded_after("import typer\nimport typer.testing")
    assert not {m for m in loaded if m.split(".")[0] == "pydantic"}, "typer 0.29 imports pydantic: see pyproject.toml"


def test_render_help_loads_no_heavy_module() -> None:
    loaded = loaded_after(
        "from deploytool.cli.main import app\n"
        "try:\n    app(['render', '--help'])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY and m.split(".")[0] != "rich"}


def test_render_starts_helm_before_it_reads_any_yaml(tmp_path: Path) -> None:
    """helm's own start-up (~35 ms) overlaps PyYAML's import, the layering and the validation."""
    loaded = loaded_after(
        "import sys\n"
        "from deploytool.core import helm\n"
        "start = helm.Helm.start_template\n"
        "def recording(self, *args):\n"
        "    print('AT-START', 'yaml' in sys.modules, 'deploytool.render.validate' in sys.modules)\n"
        "    return start(self, *args)\n"
        "helm.Helm.start_template = recording\n"
        "from deploytool.cli.main import app\n"
        f"try:\n    app(['render', '--env', 'dev', '--out', {str(tmp_path / 'out')!r}])\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code", marker="AT-START")
    assert loaded == {"AT-START False False"}
