from __future__ import annotations

import pytest

from deploytool.render import manifests
from deploytool.render.manifests import Rendered
from deploytool.render.values import Layers

_cache: dict[str, Rendered] = {}


def rendered_env(env: str) -> Rendered:
    if env not in _cache:
        _cache[env] = manifests.render(Layers(env))
    return _cache[env]


@pytest.fixture(scope="session")
def render_env():
    """Render an env once per session (helm template is the slow part)."""
    return rendered_env
