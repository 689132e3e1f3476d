"""Argument types of catalog tools: a small Python-style notation, its JSON Schema mapping, checks.

A type is written as in a Python hint, over the values a plan can hold: `str`, `int`, `float`,
`bool`, `None`, `dict`, `any`, `list` and `list[T]`, joined into unions with `|` (for example
`list[str | int] | None`). The same text is the `type` of the native catalog format and what a
prompt shows, so one notation serves people and the checker. `float` also accepts integers, as
JSON Schema's `number` does; `dict` is JSON Schema's `object`, written in plans as a Python dict
literal with string keys (its properties are checked by `planner_eval.arguments`). A whole-string reference `"$N"` stands in
for any type, at the top level and inside lists, since what an action returns is not typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Union

from planner_eval.plan import REFERENCE

SCALARS: tuple[str, ...] = ("str", "int", "float", "bool", "None", "dict", "any")
# An alternative is a scalar name or ("list", item type), the item type None for a bare `list`.
Alternative = Union[str, tuple[str, "TypeSpec | None"]]
TypeSpec = tuple[Alternative, ...]

_SCHEMA_TO_SCALAR = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "null": "None",
    "object": "dict",
}
_SCALAR_TO_SCHEMA = {scalar: name for name, scalar in _SCHEMA_TO_SCALAR.items()}
# The Berkeley Function Calling Leaderboard writes Python's names in its function docs; they are
# read as the JSON Schema types they stand for ("tuple" is an array, "any" any value).
_BFCL_SCALARS = {"dict": "dict", "float": "float", "any": "any"}
_ARRAY_TYPES = ("array", "tuple")
_WORD = re.compile(r"[A-Za-z_]*")
MAX_TYPE_DEPTH = 8  # nesting of lists and unions in a schema; deeper is a runaway, not a catalog


def parse_type(text: str) -> TypeSpec:
    """`list[str] | None` -> its alternatives; raises ValueError naming what is wrong."""
    spec, rest = _parse_union(text.strip(), depth=0)
    if rest:
        raise ValueError(f"unexpected {rest!r} in type {text!r}")
    return spec


def _parse_union(text: str, depth: int) -> tuple[TypeSpec, str]:
    if depth > MAX_TYPE_DEPTH:
        raise ValueError("type nested too deeply")
    alternatives: list[Alternative] = []
    while True:
        alternative, text = _parse_alternative(text.lstrip(), depth)
        alternatives.append(alternative)
        text = text.lstrip()
        if not text.startswith("|"):
            return _union(alternatives), text
        text = text[1:]


def _parse_alternative(text: str, depth: int) -> tuple[Alternative, str]:
    name = _WORD.match(text).group(0)
    rest = text[len(name) :]
    if name == "list":
        if not rest.startswith("["):
            return ("list", None), rest
        item, rest = _parse_union(rest[1:], depth + 1)
        rest = rest.lstrip()
        if not rest.startswith("]"):
            raise ValueError(f"missing ']' in list type near {rest[:20]!r}")
        return ("list", item), rest[1:]
    if name not in SCALARS:
        raise ValueError(f"unknown type {name or text[:20]!r}; known: {', '.join((*SCALARS, 'list[...]'))}")
    return name, rest


def _union(alternatives: list[Alternative]) -> TypeSpec:
    """Duplicates dropped, order kept; `any` absorbs everything else."""
    if "any" in alternatives:
        return ("any",)
    return tuple(dict.fromkeys(alternatives))


def format_type(spec: TypeSpec) -> str:
    return " | ".join(_format_alternative(alternative) for alternative in spec)


def _format_alternative(alternative: Alternative) -> str:
    if isinstance(alternative, str):
        return alternative
    item = alternative[1]
    return "list" if item is None else f"list[{format_type(item)}]"


def type_from_schema(schema: Any, depth: int = 0) -> str:
    """The type a JSON Schema describes (`type`, a list of types, `anyOf` / `oneOf`, `items`);
    raises ValueError for what it cannot map. No `type` at all means any value."""
    return format_type(_spec_from_schema(schema, depth))


def _spec_from_schema(schema: Any, depth: int) -> TypeSpec:
    if depth > MAX_TYPE_DEPTH:
        raise ValueError("schema nested too deeply")
    if not isinstance(schema, Mapping):
        raise ValueError(f"a schema must be a JSON object, not {type(schema).__name__}")
    alternatives: list[Alternative] = []
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            if not isinstance(options, list) or not options:
                raise ValueError(f"{key} must be a non-empty list of schemas")
            for option in options:
                alternatives.extend(_spec_from_schema(option, depth + 1))
    names = schema.get("type")
    if names is None:
        return _union(alternatives) if alternatives else ("any",)
    for name in names if isinstance(names, list) else [names]:
        alternatives.append(_alternative_from_schema_type(name, schema, depth))
    return _union(alternatives)


def _alternative_from_schema_type(name: Any, schema: Mapping, depth: int) -> Alternative:
    if name in _ARRAY_TYPES:
        items = schema.get("items")
        return ("list", None if items is None else _spec_from_schema(items, depth + 1))
    if isinstance(name, str) and name in _SCHEMA_TO_SCALAR:
        return _SCHEMA_TO_SCALAR[name]
    if isinstance(name, str) and name in _BFCL_SCALARS:
        return _BFCL_SCALARS[name]
    raise ValueError(f"unknown JSON Schema type {name!r}")


def type_to_schema(text: str) -> dict[str, Any]:
    """The JSON Schema of a type: `{"type": ...}`, a list of types for unions of scalars,
    `anyOf` where a union holds a typed list."""
    return _spec_to_schema(parse_type(text))


def _spec_to_schema(spec: TypeSpec) -> dict[str, Any]:
    if spec == ("any",):
        return {}
    schemas = [_alternative_to_schema(alternative) for alternative in spec]
    if len(schemas) == 1:
        return schemas[0]
    if all(set(s) == {"type"} for s in schemas):
        return {"type": [s["type"] for s in schemas]}
    return {"anyOf": schemas}


def _alternative_to_schema(alternative: Alternative) -> dict[str, Any]:
    if isinstance(alternative, str):
        return {"type": _SCALAR_TO_SCHEMA[alternative]}
    item = alternative[1]
    return {"type": "array"} if item is None else {"type": "array", "items": _spec_to_schema(item)}


Checker = Callable[[Any], bool]


@lru_cache(maxsize=1024)
def type_checker(text: str) -> Checker:
    """A predicate for values of the type written `text` (a `$N` reference always passes).

    Compiled into closures once per type, since argument checks run on every action scored."""
    return _compile(parse_type(text))


def _compile(spec: TypeSpec) -> Checker:
    checks = [_compile_alternative(alternative) for alternative in spec]
    if "str" in spec or "any" in spec:  # a reference is a string, so it passes already
        return checks[0] if len(checks) == 1 else lambda value: any(check(value) for check in checks)
    if len(checks) == 1:
        only = checks[0]
        return lambda value: only(value) or _is_reference(value)
    return lambda value: any(check(value) for check in checks) or _is_reference(value)


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and value[:1] == "$" and REFERENCE.match(value) is not None


def _compile_alternative(alternative: Alternative) -> Checker:
    if isinstance(alternative, tuple):
        if alternative[1] is None:
            return lambda value: isinstance(value, list)
        item = _compile(alternative[1])
        return lambda value: isinstance(value, list) and all(map(item, value))
    return _SCALAR_CHECKS[alternative]


_SCALAR_CHECKS: dict[str, Checker] = {
    "str": lambda value: isinstance(value, str),
    # bool is an int subclass in Python; plans tell them apart
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "bool": lambda value: isinstance(value, bool),
    "None": lambda value: value is None,
    "dict": lambda value: isinstance(value, dict),
    "any": lambda value: True,
}
