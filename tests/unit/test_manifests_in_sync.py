"""manifests/<env>/ is committed; it must match a fresh render of chart + values."""

from __future__ import annotations

import pytest

from deploytool.core import paths
from deploytool.render import manifests


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_committed_manifests_match_a_fresh_render(render_env, env: str) -> None:
    stale = manifests.diff(render_env(env), paths.manifests_dir() / env)
    assert stale == [], f"manifests/{env} is out of date in {stale}; run `make render` and commit"
