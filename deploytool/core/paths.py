"""Where things live: the project tree (chart, values, manifests, tools) and the tool cache."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """The folder holding charts/ and values/.

    DEPLOYTOOL_PROJECT wins; else the nearest ancestor of the working directory that has
    charts/milvus; else the source tree this package was installed from.
    """
    override = os.environ.get("DEPLOYTOOL_PROJECT")
    if override:
        return Path(override).resolve()
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if (candidate / "charts" / "milvus" / "Chart.yaml").is_file():
            return candidate
    return _PACKAGE_ROOT


def chart_dir() -> Path:
    return project_root() / "charts" / "milvus"


def values_dir() -> Path:
    return project_root() / "values"


def manifests_dir() -> Path:
    return project_root() / "manifests"


def tools_src_dir() -> Path:
    """Wrapper Go modules that pin every tool we build (always the installed source tree's)."""
    return _PACKAGE_ROOT / "tools"


def cache_dir() -> Path:
    """Built tools and cluster state. Outside the clone so rebuilt clones reuse it."""
    override = os.environ.get("DEPLOYTOOL_CACHE")
    if override:
        return Path(override).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deploytool"
