from __future__ import annotations

import pytest

from deploytool.render import manifests
from deploytool.render.manifests import Rendered
from deploytool.render.values import Layers

_cache: dict[tuple[str, tuple[str, ...]], Rendered] = {}


def rendered_env(env: str, *sets: str) -> Rendered:
    """One env rendered (with optional --set expressions), once per session."""
    if (env, sets) not in _cache:
        _cache[(env, sets)] = manifests.render(Layers(env, sets=list(sets)))
    return _cache[(env, sets)]


@pytest.fixture(scope="session")
def render_env():
    """Render an env once per session (helm template is the slow part)."""
    return rendered_env
