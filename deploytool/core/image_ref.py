"""The tag of an image reference, named once (the upgrade planner, its stall diagnosis and the drill recorder)."""

from __future__ import annotations


def image_tag(image: str) -> str:
    """`[registry[:port]/]path[:tag][@digest]` -> tag; "latest" when none is given (as the container runtime does)."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"
