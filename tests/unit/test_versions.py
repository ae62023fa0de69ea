"""The chart's supported Milvus versions (deploytool/render/versions.py) as a table."""

from __future__ import annotations

import pytest

from deploytool.render.versions import (
    DEFAULT_TAG,
    LATEST_PATCHES,
    SUPPORTED_FLOORS,
    MilvusVersion,
    known_release_problem,
    known_releases,
    parse_tag,
    release_of,
    support_problem,
)


@pytest.mark.parametrize(("tag", "expected"), [
    ("v2.6.22", MilvusVersion(2, 6, 22)),
    ("v3.0.0", MilvusVersion(3, 0, 0)),
    ("2.6.22", None),
    ("v2.6", None),
    ("v2.6.22-gpu", None),
    ("v02.6.1", None),
    ("latest", None),
    ("", None),
])
def test_parse_tag(tag: str, expected: MilvusVersion | None) -> None:
    assert parse_tag(tag) == expected


def test_version_orders_and_prints_as_a_tag() -> None:
    assert MilvusVersion(2, 6, 9) < MilvusVersion(2, 6, 10) < MilvusVersion(3, 0, 0)
    assert str(MilvusVersion(2, 6, 22)) == "v2.6.22"


def test_variant_tags_name_their_release() -> None:
    assert release_of("v2.6.22-broken") == MilvusVersion(2, 6, 22)
    assert release_of("v2.6.22") == MilvusVersion(2, 6, 22)
    assert release_of("master-20260101-abc") is None


def test_default_tag_is_supported() -> None:
    assert support_problem(DEFAULT_TAG) is None
    assert parse_tag(DEFAULT_TAG) is not None


@pytest.mark.parametrize(("tag", "fragment"), [
    ("v2.5.26", "2.5 is not supported"),
    ("v2.6.4", "below this chart's floor"),
    ("latest", "not a Milvus release tag"),
    ("v4.0.0", "4.0 is not supported"),
])
def test_unsupported_tags_say_why(tag: str, fragment: str) -> None:
    problem = support_problem(tag)
    assert problem is not None and fragment in problem and "\n" not in problem


def test_latest_patches_are_supported_and_default_is_the_latest_2_6() -> None:
    assert all(support_problem(str(v)) is None for v in LATEST_PATCHES.values())
    assert DEFAULT_TAG == "v2.6.24"


def test_every_floor_is_supported_and_one_below_is_not() -> None:
    for (major, minor), floor in SUPPORTED_FLOORS.items():
        assert (floor.major, floor.minor) == (major, minor)
        assert support_problem(str(floor)) is None
        if floor.patch:
            assert support_problem(str(MilvusVersion(major, minor, floor.patch - 1))) is not None


@pytest.mark.parametrize(("tag", "why"), [
    ("v2.6.24", None),
    ("v2.6.7", None),
    ("v3.0.0", None),
    ("v3.0.2", None),
    ("v2.6.25", "newer than the newest known 2.6 release v2.6.24"),
    ("v3.0.3", "newer than the newest known 3.0 release v3.0.2"),
    ("v2.6.24-broken", "variant tag of v2.6.24, not a Milvus release tag"),
    ("v2.6.6", "below this chart's floor v2.6.7"),
    ("v2.5.4", "not supported by this chart"),
    ("latest", "not a Milvus release tag"),
])
def test_known_release_problem(tag: str, why: str | None) -> None:
    problem = known_release_problem(tag)
    assert problem is None if why is None else why in (problem or ""), problem


def test_known_releases_span_each_supported_minor_from_floor_to_latest() -> None:
    known = known_releases()
    assert known[0] == SUPPORTED_FLOORS[(2, 6)] and known[-1] == LATEST_PATCHES[(3, 0)]
    assert MilvusVersion(2, 6, 24) in known and MilvusVersion(3, 0, 1) in known
    assert all(known_release_problem(str(v)) is None for v in known)
