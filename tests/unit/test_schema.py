"""deploytool.render.schema against jsonschema's Draft7Validator: the same errors, field for field.

render validates with its own draft-7 validator (jsonschema's import alone cost more than `helm
template` runs); jsonschema stays a test dependency so that every input compared here is judged
by both: every values case, every committed env, batch mutations of every env (each leaf, list
and mapping replaced or extended at once) and a table of schemas per keyword.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from deploytool.render import schema as ours
from deploytool.render.validate import load_schema, problems_of
from deploytool.render.values import Layers, available_envs

SCHEMA = load_schema()
CASES = Path(__file__).parent / "values_cases"


def _errors(errors: Any) -> list[tuple[Any, ...]]:
    return sorted((tuple(e.absolute_path), str(e.validator), e.message, repr(e.validator_value)) for e in errors)


def assert_same(values: Any, schema: dict[str, Any] = SCHEMA) -> list[tuple[Any, ...]]:
    theirs = list(Draft7Validator(schema).iter_errors(values))
    mine = list(ours.Validator(schema).iter_errors(values))
    assert _errors(mine) == _errors(theirs)
    if schema is SCHEMA:
        assert problems_of(mine) == problems_of(theirs)
    return _errors(mine)


def _case_values(path: Path) -> dict[str, Any]:
    env = re.search(r"^# env: (\S+)", path.read_text(), re.M)
    assert env, f"{path.name} must name its env"
    return Layers(env.group(1), files=[path]).merged()


@pytest.mark.parametrize("path", sorted(CASES.glob("[iv]*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_values_case_gets_the_errors_jsonschema_gives(path: Path) -> None:
    errors = assert_same(_case_values(path))
    if path.parent.name == "valid":
        assert errors == []


@pytest.mark.parametrize("env", available_envs())
def test_every_env_is_valid_under_both(env: str) -> None:
    assert assert_same(Layers(env).merged()) == []


# What each leaf / list / mapping of an env's values is replaced with (all at once) or gains.
WRONG = [None, True, False, -1, 0, 1, 1.0, 1.5, 2**31, "", "x", "25%", "500m", "ALL", [], ["ALL"], ["x", 5], {},
         {"type": "RuntimeDefault"}]


def _mutated(node: Any, leaf: Any, top: bool = True) -> Any:
    """Every scalar, list and empty mapping below the top replaced by leaf."""
    if isinstance(node, dict) and (node or top):
        return {k: _mutated(v, leaf, False) for k, v in node.items()}
    return leaf


def _extended(node: Any, extra: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {**{k: _extended(v, extra) for k, v in node.items()}, **copy.deepcopy(extra)}
    if isinstance(node, list):
        return [_extended(v, extra) for v in node]
    return node


def _first_key_dropped(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _first_key_dropped(v) for k, v in list(node.items())[1:]}
    return node


@pytest.mark.parametrize("env", available_envs())
@pytest.mark.parametrize("leaf", WRONG, ids=repr)
def test_an_env_with_every_leaf_replaced_gets_the_same_errors(env: str, leaf: Any) -> None:
    assert assert_same(_mutated(Layers(env).merged(), leaf)), "a mutation every value survives tests nothing"


@pytest.mark.parametrize("env", available_envs())
@pytest.mark.parametrize("extra", [{"zzUnknown": 1}, {"accessKeyID": "a"}, {"secretAccessKey": "b"}, {"type": None}],
                         ids=repr)
def test_an_env_with_a_key_added_to_every_mapping_gets_the_same_errors(env: str, extra: dict[str, Any]) -> None:
    assert assert_same(_extended(Layers(env).merged(), extra))


@pytest.mark.parametrize("env", available_envs())
def test_an_env_with_the_first_key_of_every_mapping_dropped_gets_the_same_errors(env: str) -> None:
    assert assert_same(_first_key_dropped(Layers(env).merged()))


# One schema per keyword the validator implements, each with instances that pass and fail.
KEYWORD_TABLE: list[tuple[dict[str, Any], list[Any]]] = [
    ({"type": ["integer", "null"]}, [1, 1.0, 1.5, None, True, "1"]),
    ({"type": "number"}, [1, 2.5, False, "2"]),
    ({"type": "boolean"}, [True, 0]),
    ({"enum": [1, "a", None, [1]]}, [1, True, 1.0, "a", None, [1], [True], 2]),
    ({"const": False}, [False, 0, None]),
    ({"const": {"a": [1]}}, [{"a": [1]}, {"a": [True]}, {"a": [1], "b": 1}]),
    ({"minimum": 1, "maximum": 3}, [0, 1, 3, 3.5, True, "9"]),
    ({"exclusiveMinimum": 1, "exclusiveMaximum": 3}, [1, 2, 3]),
    ({"minLength": 1, "maxLength": 2}, ["", "ab", "abc", 5]),
    ({"minLength": 3, "maxLength": 0}, ["", "ab", 5]),
    ({"pattern": "^[0-9]+%$"}, ["25%", "x25%", 25]),
    ({"minItems": 1, "maxItems": 2}, [[], [1], [1, 2, 3], "abc"]),
    ({"minItems": 2, "maxItems": 0}, [[], [1], "x"]),
    ({"uniqueItems": True}, [[1, 2], [1, 1], [1, True], [1, 1.0], [{"a": 1}, {"a": 1}], [[1], [True]]]),
    ({"items": {"type": "string"}}, [["a", 1, None], [], "a"]),
    ({"contains": {"const": "ALL"}}, [["ALL", "x"], ["x"], [], "ALL"]),
    ({"properties": {"a": {"type": "integer"}, "b": {}}, "additionalProperties": False},
     [{"a": 1}, {"a": "x"}, {"b": 1}, {"c": 1, "d": 2}, {"c": 1}, []]),
    ({"properties": {"a": {}}, "patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False},
     [{"x-1": "s"}, {"x-1": 2}, {"y": 1}, {"y": 1, "z": 2}]),
    ({"additionalProperties": {"type": "string"}}, [{"a": "s", "b": 1}]),
    ({"propertyNames": {"maxLength": 2}}, [{"ab": 1, "abc": 2}]),
    ({"required": ["type", "x"]}, [{"type": 1}, {}, [1]]),
    ({"minProperties": 1, "maxProperties": 2}, [{}, {"a": 1}, {"a": 1, "b": 2, "c": 3}]),
    ({"minProperties": 2, "maxProperties": 0}, [{"a": 1}]),
    ({"allOf": [{"type": "integer"}, {"minimum": 2}]}, [1, 2, "a"]),
    ({"anyOf": [{"type": "integer"}, {"minLength": 2}]}, [1, "ab", "a", None]),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}, {"type": "string"}]}, [1, 3, 1.5, "a", None]),
    ({"not": {"anyOf": [{"required": ["a"]}, {"required": ["b"]}]}, "description": "no a or b"},
     [{"a": 1}, {"c": 1}]),
    ({"if": {"type": "integer"}, "then": {"minimum": 5}, "else": {"type": "string"}}, [1, 7, "s", None]),
    ({"if": {"type": "integer"}, "then": {"minimum": 5}}, [1, None]),
    ({"definitions": {"n": {"type": "integer"}, "a/b": {"const": 1}},
      "properties": {"x": {"$ref": "#/definitions/n", "minimum": 10}, "y": {"$ref": "#/definitions/a~1b"},
                     "z": {"items": {"$ref": "#"}}}},
     [{"x": 1}, {"x": "s"}, {"y": 2}, {"z": [{"x": "s"}, 5]}]),
    ({"format": "email", "title": "t", "default": 1, "$comment": "c", "examples": [1]}, ["not an email"]),
]


@pytest.mark.parametrize("schema, instances", KEYWORD_TABLE, ids=lambda v: str(v)[:60] if isinstance(v, dict) else "")
def test_each_keyword_gives_the_errors_jsonschema_gives(schema: dict[str, Any], instances: list[Any]) -> None:
    results = [assert_same(instance, schema) for instance in instances]
    if len(instances) > 1:
        assert any(results) and not all(results), "each row needs a passing and a failing instance"


@pytest.mark.parametrize("schema, fragment", [
    ({"dependencies": {"a": ["b"]}}, "keyword 'dependencies'"),
    ({"properties": {"a": {"multipleOf": 2}}}, "#/properties/a: keyword 'multipleOf'"),
    ({"items": [{"type": "string"}]}, "single-schema form of 'items'"),
    ({"$ref": "other.json#/x"}, "only references inside this schema"),
    ({"$ref": "#/definitions/missing"}, "does not resolve"),
    ({"type": "float"}, "unknown type"),
    ({"properties": {"a": False}}, "#/properties/a: only object schemas"),
    ({"items": True}, "#/items: only object schemas"),
    ({"anyOf": [{"typo": 1}]}, "#/anyOf/0: keyword 'typo'"),
])
def test_a_schema_using_what_is_not_implemented_is_refused_when_loaded(schema: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ours.UnsupportedSchema, match=fragment):
        ours.Validator(schema)
