"""The Milvus versions this chart supports: the one place that knows them.

A Milvus image tag is `vMAJOR.MINOR.PATCH` (milvusdb/milvus on Docker Hub). The chart supports each
minor listed in SUPPORTED_FLOORS from that minor's floor patch upwards; other minors (2.5 has other
components: separate coordinators and indexnode) are refused. Sources for every figure are in
docs/milvus-contract.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TAG = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
# A release tag with a variant suffix, e.g. v2.6.22-gpu; the drills' simulated unpullable tags use
# `-broken`. Such a tag is judged by the release it names.
_VARIANT = re.compile(r"^(v\d+\.\d+\.\d+)-[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True, order=True)
class MilvusVersion:
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    @property
    def minor_line(self) -> tuple[int, int]:
        return (self.major, self.minor)


def parse_tag(tag: str) -> MilvusVersion | None:
    """`v2.6.22` -> MilvusVersion(2, 6, 22); None when the tag is not exactly vX.Y.Z."""
    m = _TAG.match(str(tag or "").strip())
    return MilvusVersion(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def release_of(tag: str) -> MilvusVersion | None:
    """The release a tag names: vX.Y.Z itself, or the vX.Y.Z part of a variant tag (`v2.6.22-gpu`)."""
    text = str(tag or "").strip()
    m = _VARIANT.match(text)
    return parse_tag(m.group(1) if m else text)


# Per supported minor, the lowest supported patch (see docs/milvus-contract.md, "Supported versions"):
# 2.6.7 added the shallow /livez endpoint the chart's liveness probe uses (milvus#45481) and fixed
# a standby mixcoord's panic on shutdown (milvus#45898).
SUPPORTED_FLOORS: dict[tuple[int, int], MilvusVersion] = {
    (2, 6): MilvusVersion(2, 6, 7),
    (3, 0): MilvusVersion(3, 0, 0),
}

# Per supported minor, the newest patch confirmed from Milvus's sources (docs/milvus-contract.md).
LATEST_PATCHES: dict[tuple[int, int], MilvusVersion] = {
    (2, 6): MilvusVersion(2, 6, 24),
    (3, 0): MilvusVersion(3, 0, 2),
}

# The chart's default Milvus image tag: the newest confirmed 2.6 patch.
DEFAULT_TAG = str(LATEST_PATCHES[(2, 6)])


def supported_lines() -> str:
    return ", ".join(f"{major}.{minor}.x from {floor}" for (major, minor), floor in sorted(SUPPORTED_FLOORS.items()))


def support_problem(tag: str) -> str | None:
    """None when the chart supports this Milvus tag, else one line saying why not."""
    version = release_of(tag)
    if version is None:
        return (f"'{tag}' is not a Milvus release tag (vMAJOR.MINOR.PATCH); this chart supports "
                f"{supported_lines()}")
    floor = SUPPORTED_FLOORS.get(version.minor_line)
    if floor is None:
        return (f"Milvus {version.major}.{version.minor} is not supported by this chart (its roles and runtime "
                f"contract differ); supported: {supported_lines()}")
    if version < floor:
        return f"Milvus {version} is below this chart's floor {floor} for {version.major}.{version.minor}.x"
    return None


def is_3x(tag: str) -> bool:
    """Whether a tag names a Milvus 3 release (non-root image, etcd auth on by default)."""
    version = release_of(tag)
    return version is not None and version.major >= 3


def known_releases() -> list[MilvusVersion]:
    """Every release this project knows to exist: per supported minor, each patch from the floor to
    the newest confirmed one (LATEST_PATCHES)."""
    return [MilvusVersion(major, minor, patch) for (major, minor), floor in sorted(SUPPORTED_FLOORS.items())
            for patch in range(floor.patch, LATEST_PATCHES[(major, minor)].patch + 1)]


def known_release_problem(tag: str) -> str | None:
    """None when `tag` is exactly a known Milvus release (known_releases()), else why it is not.

    Only known releases get a stand-in image on the local cluster's real nodes: any other tag is
    never built, so a pod naming it fails as a real never-pullable image (ErrImageNeverPull)."""
    version = parse_tag(tag)
    if version is None:
        variant = release_of(tag)
        if variant is not None:
            return f"'{tag}' is a variant tag of {variant}, not a Milvus release tag"
        return f"'{tag}' is not a Milvus release tag (vMAJOR.MINOR.PATCH)"
    problem = support_problem(tag)
    if problem:
        return problem
    latest = LATEST_PATCHES[version.minor_line]
    if version > latest:
        return f"Milvus {version} is newer than the newest known {version.major}.{version.minor} release {latest}"
    return None
