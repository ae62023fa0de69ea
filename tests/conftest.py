"""Test tiers: unit (fast, always), cluster (a real local cluster; run last), kind (Docker + kind)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

TIER_ORDER = {"cluster": 1, "kind": 2}


def _docker_and_kind() -> str | None:
    if shutil.which("kind") is None:
        return "kind is not on PATH"
    if shutil.which("docker") is None:
        return "docker is not on PATH"
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    if proc.returncode != 0:
        return "no Docker engine answers (`docker info` failed)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tiers run last; kind tests skip with the reason Docker/kind is unusable here."""

    def tier(item: pytest.Item) -> int:
        return max((TIER_ORDER[m.name] for m in item.iter_markers() if m.name in TIER_ORDER), default=0)

    items.sort(key=tier)
    if any(item.get_closest_marker("kind") for item in items):
        reason = _docker_and_kind()
        if reason:
            skip = pytest.mark.skip(reason=f"kind tier needs Docker + kind: {reason}")
            for item in items:
                if item.get_closest_marker("kind"):
                    item.add_marker(skip)
