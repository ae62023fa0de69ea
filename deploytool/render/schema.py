"""A JSON Schema (draft 7) validator for the keywords a values schema uses, with jsonschema's semantics.

`jsonschema` costs ~45 ms to import (referencing, attrs, rpds, format checkers), close to the whole
time `helm template` takes; every `render` paid it. This covers draft 7's validation keywords except
`dependencies`, `additionalItems`, the array form of `items`, `multipleOf`, boolean schemas (other
than `additionalProperties: false`) and references to other documents: a schema using one of those
is refused when it is loaded (UnsupportedSchema), never half checked. Errors carry jsonschema's
fields and messages (validator, validator_value, instance, schema, absolute_path, message);
tests/unit/test_schema.py compares the two on every values case, every env, mutations of them and
a table of schemas per keyword. jsonschema stays a test dependency for that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Where = tuple[str | int, ...]  # keys and indexes from the root to the instance

# Keywords that only annotate: jsonschema ignores them too (`format` is only checked when a format
# checker is passed, which validate.py never did).
ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples",
                         "definitions", "readOnly", "writeOnly", "format", "contentMediaType",
                         "contentEncoding", "then", "else"})
# Keywords whose value is a schema, a list of schemas or a mapping name -> schema (walked when loading).
_SUBSCHEMA = frozenset({"additionalProperties", "items", "contains", "not", "propertyNames", "if", "then", "else"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "definitions"})


class UnsupportedSchema(Exception):
    """The schema uses a keyword (or a reference) this validator does not implement."""


@dataclass
class SchemaError:
    """One failed keyword, shaped like jsonschema.ValidationError's fields validate.py reads."""

    message: str
    validator: str | None
    validator_value: Any
    instance: Any
    schema: Any
    absolute_path: Where = ()
    context: list[SchemaError] = field(default_factory=list)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


TYPES = {
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "integer": _is_integer,
    "null": lambda v: v is None,
    "number": _is_number,
    "object": lambda v: isinstance(v, dict),
    "string": lambda v: isinstance(v, str),
}

_TRUE, _FALSE = object(), object()


def _unbool(value: Any) -> Any:
    return _TRUE if value is True else _FALSE if value is False else value


def equal(one: Any, two: Any) -> bool:
    """JSON equality: true is not 1 and false is not 0, also inside lists and mappings."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(k in two and equal(v, two[k]) for k, v in one.items())
    return bool(_unbool(one) == _unbool(two))


def _unique(items: list[Any]) -> bool:
    seen: list[Any] = []
    for item in items:
        if any(equal(other, item) for other in seen):
            return False
        seen.append(item)
    return True


def _extras(schema: dict[str, Any], instance: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = "|".join(schema.get("patternProperties", {}))
    return [k for k in instance if k not in properties and not (patterns and re.search(patterns, k))]


class Validator:
    """A loaded schema; iter_errors(instance) yields every SchemaError, as jsonschema's Draft7Validator."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema
        self._check(schema, "#")

    # -- loading -----------------------------------------------------------------------------------
    def _check(self, schema: Any, where: str) -> None:
        if not isinstance(schema, dict):  # jsonschema drops the last path segment of a boolean schema's error
            raise UnsupportedSchema(f"{where}: only object schemas are implemented (not {schema!r})")
        for key, value in schema.items():
            if key not in KEYWORDS and key not in ANNOTATIONS:
                raise UnsupportedSchema(f"{where}: keyword {key!r} is not implemented by deploytool.render.schema")
            if key == "$ref":
                self._resolve(value)
            elif key == "type" and not set([value] if isinstance(value, str) else value) <= set(TYPES):
                raise UnsupportedSchema(f"{where}: unknown type in {value!r}")
            elif key == "items" and isinstance(value, list):
                raise UnsupportedSchema(f"{where}: only the single-schema form of 'items' is implemented")
            elif key == "additionalProperties" and isinstance(value, bool):
                continue
            elif key in _SUBSCHEMA:
                self._check(value, f"{where}/{key}")
            elif key in _SCHEMA_LISTS:
                for index, sub in enumerate(value):
                    self._check(sub, f"{where}/{key}/{index}")
            elif key in _SCHEMA_MAPS:
                for name, sub in value.items():
                    self._check(sub, f"{where}/{key}/{name}")

    def _resolve(self, ref: str) -> Any:
        if ref == "#":
            return self.root
        if not ref.startswith("#/") or "%" in ref:
            raise UnsupportedSchema(f"$ref {ref!r}: only references inside this schema ('#/...') are implemented")
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            try:
                node = node[int(part)] if isinstance(node, list) else node[part]
            except (KeyError, IndexError, ValueError, TypeError):
                raise UnsupportedSchema(f"$ref {ref!r} does not resolve") from None
        return node

    # -- validating --------------------------------------------------------------------------------
    def iter_errors(self, instance: Any) -> Iterator[SchemaError]:
        return self.descend(instance, self.root, ())

    def is_valid(self, instance: Any, schema: Any) -> bool:
        return next(self.descend(instance, schema, ()), None) is None

    def descend(self, instance: Any, schema: Any, path: Where) -> Iterator[SchemaError]:
        # Draft 7: a $ref's siblings are ignored.
        items = [("$ref", schema["$ref"])] if "$ref" in schema else schema.items()
        for key, value in items:
            check = KEYWORDS.get(key)
            if check is None:
                continue
            for error in check(self, value, instance, schema, path):
                if error.schema is None:  # raised by this keyword, not by a sub-schema
                    error.validator, error.validator_value, error.schema = key, value, schema
                    error.instance, error.absolute_path = instance, path
                yield error


def _error(message: str) -> SchemaError:
    """An error of the keyword being checked; descend() fills in which keyword, instance and path."""
    return SchemaError(message, None, None, None, None)


Errors = Iterator[SchemaError]
Keyword = Callable[["Validator", Any, Any, dict[str, Any], Where], Errors]


def _ref(v: Validator, ref: str, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    yield from v.descend(instance, v._resolve(ref), path)


def _type(v: Validator, types: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    names = [types] if isinstance(types, str) else types
    if not any(TYPES[name](instance) for name in names):
        yield _error(f"{instance!r} is not of type {', '.join(repr(name) for name in names)}")


def _enum(v: Validator, enums: list[Any], instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if all(not equal(each, instance) for each in enums):
        yield _error(f"{instance!r} is not one of {enums!r}")


def _const(v: Validator, const: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if not equal(instance, const):
        yield _error(f"{const!r} was expected")


def _minimum(v: Validator, bound: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if _is_number(instance) and instance < bound:
        yield _error(f"{instance!r} is less than the minimum of {bound!r}")


def _maximum(v: Validator, bound: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if _is_number(instance) and instance > bound:
        yield _error(f"{instance!r} is greater than the maximum of {bound!r}")


def _exclusive_minimum(v: Validator, bound: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if _is_number(instance) and instance <= bound:
        yield _error(f"{instance!r} is less than or equal to the minimum of {bound!r}")


def _exclusive_maximum(v: Validator, bound: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if _is_number(instance) and instance >= bound:
        yield _error(f"{instance!r} is greater than or equal to the maximum of {bound!r}")


def _length(kind: type[str] | type[list[Any]], at_least: bool) -> Keyword:
    """minLength / maxLength (kind str) and minItems / maxItems (kind list)."""

    def check(v: Validator, bound: int, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
        if isinstance(instance, kind) and (len(instance) < bound if at_least else len(instance) > bound):
            if at_least:
                yield _error(f"{instance!r} {'should be non-empty' if bound == 1 else 'is too short'}")
            else:
                yield _error(f"{instance!r} {'is expected to be empty' if bound == 0 else 'is too long'}")

    return check


def _pattern(v: Validator, pattern: str, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if isinstance(instance, str) and not re.search(pattern, instance):
        yield _error(f"{instance!r} does not match {pattern!r}")


def _unique_items(v: Validator, wanted: bool, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if wanted and isinstance(instance, list) and not _unique(instance):
        yield _error(f"{instance!r} has non-unique elements")


def _items(v: Validator, items: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if isinstance(instance, list):
        for index, item in enumerate(instance):
            yield from v.descend(item, items, (*path, index))


def _contains(v: Validator, contains: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if isinstance(instance, list) and not any(v.is_valid(each, contains) for each in instance):
        yield _error(f"None of {instance!r} are valid under the given schema")


def _properties(v: Validator, properties: dict[str, Any], instance: Any, schema: dict[str, Any],
                path: Where) -> Errors:
    if isinstance(instance, dict):
        for name, sub in properties.items():
            if name in instance:
                yield from v.descend(instance[name], sub, (*path, name))


def _pattern_properties(v: Validator, patterns: dict[str, Any], instance: Any, schema: dict[str, Any],
                        path: Where) -> Errors:
    if isinstance(instance, dict):
        for pattern, sub in patterns.items():
            for name, value in instance.items():
                if re.search(pattern, name):
                    yield from v.descend(value, sub, (*path, name))


def _additional_properties(v: Validator, allowed: Any, instance: Any, schema: dict[str, Any],
                           path: Where) -> Errors:
    if not isinstance(instance, dict):
        return
    extras = _extras(schema, instance)
    if isinstance(allowed, dict):
        for name in extras:
            yield from v.descend(instance[name], allowed, (*path, name))
    elif not allowed and extras:
        names = sorted(extras, key=str)
        if "patternProperties" in schema:
            verb = "does" if len(names) == 1 else "do"
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            yield _error(f"{', '.join(repr(n) for n in names)} {verb} not match any of the regexes: {patterns}")
        else:
            verb = "was" if len(names) == 1 else "were"
            yield _error(f"Additional properties are not allowed ({', '.join(repr(n) for n in names)} {verb} "
                         "unexpected)")


def _property_names(v: Validator, names: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if isinstance(instance, dict):
        for name in instance:
            yield from v.descend(name, names, path)


def _required(v: Validator, required: list[str], instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if isinstance(instance, dict):
        for name in required:
            if name not in instance:
                yield _error(f"{name!r} is a required property")


def _min_properties(v: Validator, bound: int, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if isinstance(instance, dict) and len(instance) < bound:
        yield _error(f"{instance!r} {'should be non-empty' if bound == 1 else 'does not have enough properties'}")


def _max_properties(v: Validator, bound: int, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if isinstance(instance, dict) and len(instance) > bound:
        yield _error(f"{instance!r} {'is expected to be empty' if bound == 0 else 'has too many properties'}")


def _all_of(v: Validator, subs: list[Any], instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    for sub in subs:
        yield from v.descend(instance, sub, path)


def _any_of(v: Validator, subs: list[Any], instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    context: list[SchemaError] = []
    for sub in subs:
        errors = list(v.descend(instance, sub, path))
        if not errors:
            return
        context.extend(errors)
    error = _error(f"{instance!r} is not valid under any of the given schemas")
    error.context = context
    yield error


def _one_of(v: Validator, subs: list[Any], instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    context: list[SchemaError] = []
    for index, sub in enumerate(subs):
        errors = list(v.descend(instance, sub, path))
        if not errors:
            more = [each for each in subs[index + 1:] if v.is_valid(instance, each)]
            if more:
                reprs = ", ".join(repr(each) for each in [*more, sub])
                yield _error(f"{instance!r} is valid under each of {reprs}")
            return
        context.extend(errors)
    error = _error(f"{instance!r} is not valid under any of the given schemas")
    error.context = context
    yield error


def _not(v: Validator, sub: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    if v.is_valid(instance, sub):
        yield _error(f"{instance!r} should not be valid under {sub!r}")


def _if(v: Validator, condition: Any, instance: Any, schema: dict[str, Any], path: Where) -> Errors:
    branch = "then" if v.is_valid(instance, condition) else "else"
    if branch in schema:
        yield from v.descend(instance, schema[branch], path)


KEYWORDS: dict[str, Keyword] = {
    "$ref": _ref, "type": _type, "enum": _enum, "const": _const,
    "minimum": _minimum, "maximum": _maximum, "exclusiveMinimum": _exclusive_minimum,
    "exclusiveMaximum": _exclusive_maximum, "minLength": _length(str, True), "maxLength": _length(str, False),
    "pattern": _pattern, "minItems": _length(list, True), "maxItems": _length(list, False),
    "uniqueItems": _unique_items,
    "items": _items, "contains": _contains, "properties": _properties, "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties, "propertyNames": _property_names, "required": _required,
    "minProperties": _min_properties, "maxProperties": _max_properties,
    "allOf": _all_of, "anyOf": _any_of, "oneOf": _one_of, "not": _not, "if": _if,
}
