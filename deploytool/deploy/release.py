"""The installed release of an environment, as helm records it."""

from __future__ import annotations

from deploytool.core.config import Target
from deploytool.core.errors import BadInput
from deploytool.core.helm import Helm


def deployed_revision(helm: Helm, target: Target) -> int:
    """The release's deployed revision, or BadInput (exit 2) saying how to install it."""
    history = helm.history(target.release, target.namespace)
    deployed = [h for h in history if h.get("status") == "deployed"]
    if not deployed:
        state = f" (last revision is {history[-1].get('status')})" if history else ""
        raise BadInput(f"release {target.release} is not installed in {target.namespace}{state}; "
                       f"run deploytool up --env {target.env}")
    return int(deployed[-1]["revision"])
