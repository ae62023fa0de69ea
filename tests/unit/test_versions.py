"""The chart's supported Milvus versions (deploytool/render/versions.py) as a table."""

from __future__ import annotations

import pytest

from deploytool.render.versions import (
    DEFAULT_TAG,
    LATEST_PATCHES,
    SUPPORTED_FLOORS,
    MilvusVersion,
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
