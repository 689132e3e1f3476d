"""Tool catalogs in JSON: OpenAI function schemas and the project's own (native) format.

OpenAI: a list of `{"type": "function", "function": {"name", "description", "parameters"}}` or of
the bare `function` objects, `parameters` being a JSON Schema object. Arguments are positional in
plans, so their order is fixed here: the `required` ones first, then the others, each group in
`properties` order.

Native: `{"tools": [{"name", "description", "returns", "args": [{"name", "type", "description",
"nullable", "required", "default"}]}]}` with `type` in the notation of `planner_eval.argtypes`
(`str`, `list[str]`, `int | None`, ...) and the args in positional order, required ones first.
Only `name` (of tools and args) and `type` are needed; `required` defaults to true, `nullable`
to false.

Either form may also sit under a top-level `"tools"` key, and each entry is recognised on its
own. The Berkeley Function Calling Leaderboard's function docs read as they are: a list of
`{"name", "description", "parameters": {"type": "dict", ...}}` or a BFCL data line (its
`"function"` list), with BFCL's type names (see `planner_eval.argtypes`) and dotted names such as
`math.factorial`, which plans write `math_factorial` (`Tool.source_name` keeps the original). A catalog that cannot be used raises `CatalogError` with one line that names the tool. A bad
value inside a usable catalog (a default or an enum value of the wrong type) is dropped with one
`CatalogWarning` naming the tool and the argument: published catalogs hold such slips, and
refusing a whole catalog for one default helps nobody.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from planner_eval.arguments import enum_allows, same_value
from planner_eval.argtypes import MAX_TYPE_DEPTH, parse_type, type_checker, type_from_schema, type_to_schema
from planner_eval.catalog import FORMATS, JOIN, NO_DEFAULT, TOOLS, Catalog, Tool, ToolArg
from planner_eval.parse import MAX_LIST_DEPTH

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+")
_UNKNOWN_RETURNS = "any"


class CatalogError(ValueError):
    """A catalog that cannot be used; the message is one line."""


class CatalogWarning(UserWarning):
    """A value of a catalog that was dropped (a default or enum value of the wrong type); one line."""


def _warn(message: str) -> None:
    warnings.warn(message, CatalogWarning, stacklevel=2)


def read_catalog(path: str | Path) -> dict[str, Tool]:
    """A catalog file in either format. Raises OSError when it cannot be read, else CatalogError."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        hint = _bfcl_lines_hint(text) if getattr(exc, "msg", "") == "Extra data" else ""
        raise CatalogError(f"not JSON: {getattr(exc, 'msg', exc)} (line {getattr(exc, 'lineno', '?')}){hint}") from None
    except RecursionError:
        raise CatalogError("not JSON: nested too deeply") from None
    return catalog_from_json(data)


def _bfcl_lines_hint(text: str) -> str:
    """A pointer for a whole BFCL data file (JSON Lines, one catalog per line) given as a catalog."""
    try:
        first = json.loads(text.lstrip().partition("\n")[0])
    except ValueError:
        return ""
    if isinstance(first, Mapping) and isinstance(first.get("function"), list):
        return "; a BFCL data file holds one catalog per line: give one line, or score it with `score --questions`"
    return ""


def catalog_from_json(data: Any) -> dict[str, Tool]:
    """A catalog from decoded JSON in either format (see the module doc); raises CatalogError."""
    entries = _entries(data)
    if not isinstance(entries, list):
        raise CatalogError('expected a list of tools, or an object with a "tools" (or BFCL "function") list')
    catalog: dict[str, Tool] = {}
    for number, entry in enumerate(entries, start=1):
        tool = _tool_from_entry(number, entry)
        if tool.name in catalog:
            same = "" if tool.call_name == catalog[tool.name].call_name else f" (as {catalog[tool.name].call_name!r} is written in plans)"
            raise CatalogError(f"tool {number}: duplicate name {tool.call_name!r}{same}")
        catalog[tool.name] = tool
    return catalog


def _entries(data: Any) -> Any:
    if not isinstance(data, Mapping):
        return data
    if "tools" not in data and isinstance(data.get("function"), list):
        return data["function"]  # a BFCL data line: {"id", "question", "function": [...]}
    return data.get("tools")


def from_openai_schemas(schemas: list[Any]) -> dict[str, Tool]:
    """A catalog from OpenAI function schemas (wrapped or bare); raises CatalogError."""
    if not isinstance(schemas, list):
        raise CatalogError("expected a list of function schemas")
    return catalog_from_json([_as_openai(number, entry) for number, entry in enumerate(schemas, start=1)])


def _as_openai(number: int, entry: Any) -> Any:
    if isinstance(entry, Mapping) and "args" in entry:
        raise CatalogError(f"tool {number}: a native entry where an OpenAI function schema was expected")
    return entry


def to_openai_schemas(catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """OpenAI function schemas (`{"type": "function", "function": {...}}`) for a catalog, the
    built-in TinyAgent tools by default; `from_openai_schemas` reads them back."""
    return [_openai_schema(tool) for tool in (TOOLS if catalog is None else catalog).values()]


def _property_schemas(properties: tuple[ToolArg, ...]) -> dict[str, Any]:
    return {"properties": {arg.name: _arg_schema(arg) for arg in properties},
            "required": [arg.name for arg in properties if arg.required]}


def _arg_schema(arg: ToolArg) -> dict[str, Any]:
    schema = type_to_schema(arg.type_hint)
    if arg.properties is not None:
        schema.update(_property_schemas(arg.properties))
    if arg.enum is not None:
        schema["enum"] = list(arg.enum)
    if arg.description:
        schema["description"] = arg.description
    if arg.has_default:
        schema["default"] = arg.default
    return schema


def to_native(catalog: Catalog | None = None) -> dict[str, Any]:
    """The native JSON form of a catalog, the built-in TinyAgent tools by default."""
    return {"tools": [_native_tool(tool) for tool in (TOOLS if catalog is None else catalog).values()]}


def export_catalog(catalog: Catalog | None = None, fmt: str = "openai") -> Any:
    """The catalog as JSON-ready data in `fmt` ("openai" or "native")."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    return to_openai_schemas(catalog) if fmt == "openai" else to_native(catalog)


def _openai_schema(tool: Tool) -> dict[str, Any]:
    parameters = {"type": "object", **_property_schemas(tool.args)}
    return {"type": "function", "function": {"name": tool.call_name, "description": tool.description, "parameters": parameters}}


def _native_tool(tool: Tool) -> dict[str, Any]:
    return {"name": tool.call_name, "description": tool.description, "returns": tool.returns,
            "args": [_native_arg_entry(arg) for arg in tool.args]}


def _native_arg_entry(arg: ToolArg) -> dict[str, Any]:
    entry = {"name": arg.name, "type": arg.type, "description": arg.description, "nullable": arg.nullable, "required": arg.required}
    if arg.enum is not None:
        entry["enum"] = list(arg.enum)
    if arg.has_default:
        entry["default"] = arg.default
    if arg.properties is not None:
        entry["properties"] = [_native_arg_entry(p) for p in arg.properties]
    return entry


def _tool_from_entry(number: int, entry: Any) -> Tool:
    if not isinstance(entry, Mapping):
        raise CatalogError(f"tool {number}: not a JSON object")
    try:
        if "args" in entry:
            return _native_entry(entry)
        if "function" in entry or entry.get("type") == "function":
            function = entry.get("function")
            if not isinstance(function, Mapping):
                raise ValueError('"function" must be an object')
            return _openai_function(function)
        return _openai_function(entry)
    except ValueError as exc:
        name = _entry_name(entry)
        raise CatalogError(f"tool {number}{f' ({name!r})' if name else ''}: {exc}") from None


def _entry_name(entry: Mapping) -> str | None:
    function = entry.get("function")
    name = (function if isinstance(function, Mapping) else entry).get("name")
    return name if isinstance(name, str) and name else None


def _tool_name(value: Any) -> tuple[str, str | None]:
    """(the name plans write, the catalog's spelling when it differs): LLMCompiler's executor reads
    a call's name with `\\w+`, so a dot is written `_`, as BFCL does for OpenAI models."""
    if not isinstance(value, str) or not value:
        raise ValueError("missing or empty name")
    name = value.replace(".", "_") if _DOTTED_NAME.fullmatch(value) else value
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        raise ValueError(f"name {value!r} cannot be called in a plan (letters, digits, _ and inner dots, not first a digit)")
    if name == JOIN:
        raise ValueError(f"{JOIN!r} is reserved: it ends a plan")
    return name, (value if name != value else None)


def _text(entry: Mapping, key: str, default: str = "") -> str:
    value = entry.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError(f'"{key}" must be a string')
    return value


def _openai_function(function: Mapping) -> Tool:
    name, source_name = _tool_name(function.get("name"))
    parameters = function.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise ValueError('"parameters" must be a JSON Schema object')
    if parameters.get("type", "object") not in _OBJECT_TYPES:
        raise ValueError('"parameters" must have "type": "object"')
    args = _openai_properties(source_name or name, parameters, depth=0)
    return Tool(name, _text(function, "description"), args, _UNKNOWN_RETURNS, source_name)


_OBJECT_TYPES = ("object", "dict")  # "dict": BFCL's spelling


def _openai_properties(tool: str, schema: Mapping, depth: int) -> tuple[ToolArg, ...]:
    """The `properties` of an object schema as ToolArgs: the `required` ones first, then the
    others, each group in `properties` order."""
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    if not isinstance(properties, Mapping):
        raise ValueError('"properties" must be an object')
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise ValueError('"required" must be a list of argument names')
    unknown = [r for r in required if r not in properties]
    if unknown:
        raise ValueError(f"required argument {unknown[0]!r} is not among the properties")
    ordered = [n for n in properties if n in required] + [n for n in properties if n not in required]
    return tuple(_openai_arg(tool, n, properties[n], n in required, depth) for n in ordered)


def _openai_arg(tool: str, name: str, schema: Any, required: bool, depth: int = 0) -> ToolArg:
    if not name:
        raise ValueError("an argument has an empty name")
    try:
        hint = type_from_schema(schema)
    except ValueError as exc:
        raise ValueError(f"argument {name!r}: {exc}") from None
    if not isinstance(schema, Mapping):
        return _arg(tool, name, hint, "", False, required, NO_DEFAULT, None)
    description = _text(schema, "description")
    arg = _arg(tool, name, hint, description, False, required, schema.get("default", NO_DEFAULT), schema.get("enum"))
    if "dict" in _top_level_union(hint.replace(" ", "")) and isinstance(schema.get("properties"), Mapping) and schema["properties"]:
        if depth >= MAX_TYPE_DEPTH:
            raise ValueError(f"argument {name!r}: properties nested too deeply")
        arg = replace(arg, properties=_openai_properties(tool, schema, depth + 1))
    return arg


def _native_entry(entry: Mapping) -> Tool:
    name, source_name = _tool_name(entry.get("name"))
    raw_args = entry.get("args")
    if not isinstance(raw_args, list):
        raise ValueError('"args" must be a list')
    args = tuple(_native_arg(source_name or name, number, raw) for number, raw in enumerate(raw_args, start=1))
    names = [a.name for a in args]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ValueError(f"argument {duplicate!r} appears twice")
    first_optional = next((i for i, a in enumerate(args) if not a.required), len(args))
    late = next((a for a in args[first_optional:] if a.required), None)
    if late is not None:
        raise ValueError(f"required argument {late.name!r} comes after an optional one")
    return Tool(name, _text(entry, "description"), args, _text(entry, "returns", _UNKNOWN_RETURNS), source_name)


def _native_arg(tool: str, number: int, raw: Any, depth: int = 0) -> ToolArg:
    if not isinstance(raw, Mapping):
        raise ValueError(f"argument {number} is not a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"argument {number} has no name")
    hint = raw.get("type")
    if not isinstance(hint, str):
        raise ValueError(f'argument {name!r} has no "type" string')
    flags = {key: raw.get(key, fallback) for key, fallback in (("nullable", False), ("required", True))}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f'argument {name!r}: "{key}" must be true or false')
    try:
        parse_type(hint)
    except ValueError as exc:
        raise ValueError(f"argument {name!r}: {exc}") from None
    arg = _arg(tool, name, hint, _text(raw, "description"), flags["nullable"], flags["required"],
               raw.get("default", NO_DEFAULT), raw.get("enum"))
    properties = raw.get("properties")
    if properties is None:
        return arg
    if not isinstance(properties, list) or depth >= MAX_TYPE_DEPTH:
        raise ValueError(f'argument {name!r}: "properties" must be a list of arguments, not nested too deeply')
    return replace(arg, properties=tuple(_native_arg(tool, i, p, depth + 1) for i, p in enumerate(properties, start=1)))


def _arg(tool: str, name: str, hint: str, description: str, nullable: bool, required: bool, default: Any,
         enum: Any) -> ToolArg:
    """A ToolArg with None split off the type into `nullable`, its enum and default vetted: a value
    of the wrong type is dropped with a CatalogWarning."""
    alternatives = [part.strip() for part in _top_level_union(hint)]
    if "None" in alternatives and len(alternatives) > 1:
        nullable = True
        hint = " | ".join(a for a in alternatives if a != "None")
    if default is None:
        nullable = nullable or hint != "None"  # a null default says None is a fine value here
    elif default is not NO_DEFAULT and not _plan_literal(default, depth=0):
        default = NO_DEFAULT  # a plan cannot write it, so it cannot stand for an omitted argument
    check = type_checker(f"{hint} | None" if nullable else hint)
    where = f"tool {tool!r}, argument {name!r}"
    values = _enum_values(where, enum, check, hint)
    if default is not NO_DEFAULT and not check(default):
        _warn(f"{where}: default {_shown(default)} is not of type {hint}; dropped")
        default = NO_DEFAULT
    elif default is not NO_DEFAULT and values is not None and not enum_allows(values, default):
        _warn(f"{where}: default {_shown(default)} is not one of its enum values; dropped")
        default = NO_DEFAULT
    return ToolArg(name, hint, description, nullable, required, default, values)


def _enum_values(where: str, enum: Any, check, hint: str) -> tuple[Any, ...] | None:
    """The enum's values that a plan can write and that fit the type; None for no enum."""
    if enum is None:
        return None
    if not isinstance(enum, list) or not enum:
        _warn(f"{where}: enum is not a non-empty list; ignored")
        return None
    kept = [v for v in enum if _plan_literal(v, depth=0) and check(v)]
    dropped = [v for v in enum if v not in kept]
    if dropped:
        shown = ", ".join(_shown(v) for v in dropped[:5]) + (", ..." if len(dropped) > 5 else "")
        _warn(f"{where}: enum value(s) {shown} not of type {hint}; dropped")
    unique: list[Any] = []
    for value in kept:
        if not any(same_value(value, seen) for seen in unique):
            unique.append(value)
    return tuple(unique) or None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _top_level_union(hint: str) -> list[str]:
    """The `|`-separated parts of a type outside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(hint):
        depth += (char == "[") - (char == "]")
        if char == "|" and depth == 0:
            parts.append(hint[start:i])
            start = i + 1
    parts.append(hint[start:])
    return parts


def _plan_literal(value: Any, depth: int) -> bool:
    if isinstance(value, list):
        return depth < MAX_LIST_DEPTH and all(_plan_literal(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return depth < MAX_LIST_DEPTH and all(_plan_literal(item, depth + 1) for item in value.values())
    return value is None or isinstance(value, (str, int, float))


CATALOG_FILE = "tools.json"


def write_catalog(catalog: Catalog, directory: str | Path) -> Path:
    """Store the catalog an artifact (a retriever, a checkpoint) was built with, as OpenAI schemas."""
    path = Path(directory) / CATALOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_openai_schemas(catalog), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def stored_catalog(directory: str | Path) -> dict[str, Tool] | None:
    """The catalog stored in an artifact directory; None when it has none (made before catalogs
    travelled with artifacts, so built on the built-in tools). Raises CatalogError naming the file."""
    path = Path(directory) / CATALOG_FILE
    if not path.is_file():
        return None
    try:
        return read_catalog(path)
    except CatalogError as exc:
        raise CatalogError(f"{path}: {exc}") from None


def catalog_difference(first: Catalog, second: Catalog, first_name: str = "the first",
                       second_name: str = "the second") -> str | None:
    """The first difference in tool names or argument schemas (names, types, order, required,
    defaults, enums) between two catalogs, in words; None when they agree. Descriptions may differ."""
    for name in first:
        if name not in second:
            return f"tool {name!r} is in {first_name} but not in {second_name}"
    for name in second:
        if name not in first:
            return f"tool {name!r} is in {second_name} but not in {first_name}"
    for name, tool in first.items():
        other = second[name]
        if tool.call_name != other.call_name:
            return f"tool {name!r} is called {tool.call_name!r} in {first_name} but {other.call_name!r} in {second_name}"
        if tool.arg_names != other.arg_names:
            return f"tool {name!r} takes ({', '.join(tool.arg_names)}) in {first_name} but ({', '.join(other.arg_names)}) in {second_name}"
        for arg, theirs in zip(tool.args, other.args):
            for field in ("type_hint", "required", "default", "enum", "properties"):
                ours, its = getattr(arg, field), getattr(theirs, field)
                if not (ours is its or same_value(ours, its)):
                    return (f"tool {name!r}, argument {arg.name!r}: {field.replace('_hint', '')} {ours!r} in "
                            f"{first_name} but {its!r} in {second_name}")
    return None


def canonical(catalog: Catalog) -> Catalog:
    """The built-in catalog object itself when ``catalog`` is the built-in one read back from a file,
    so that it prompts and reports exactly as the built-in one does; else ``catalog``."""
    if catalog is TOOLS:
        return catalog
    same = catalog_difference(catalog, TOOLS) is None and all(
        catalog[name].description == tool.description and
        all(a.description == b.description for a, b in zip(catalog[name].args, tool.args))
        for name, tool in TOOLS.items())
    return TOOLS if same else catalog


def resolve_catalog(tools: str | Path | None, stored_in: Sequence[str | Path] = ()) -> Catalog:
    """The catalog a command works with: ``tools`` (a catalog file) when given, else the one stored in
    the first of ``stored_in`` (an artifact without one means the built-in catalog), else the
    built-in one. Every stored catalog must agree with it: the first difference is a CatalogError."""
    chosen: Catalog | None = None
    chosen_name = ""
    if tools is not None:
        try:
            chosen = read_catalog(tools)
        except CatalogError as exc:
            raise CatalogError(f"{tools}: {exc}") from None
        chosen_name = f"--tools {tools}"
    for directory in stored_in:
        found = stored_catalog(directory)
        here = TOOLS if found is None else found
        name = f"the catalog of {directory}" if found is not None else f"{directory} (built-in tools: no {CATALOG_FILE})"
        if chosen is None:
            chosen, chosen_name = here, name
            continue
        difference = catalog_difference(chosen, here, chosen_name, name)
        if difference is not None:
            raise CatalogError(f"catalogs disagree: {difference}")
    return canonical(TOOLS if chosen is None else chosen)


def print_warnings_on_one_line() -> None:
    """Show CatalogWarnings as `warning: MESSAGE` lines on stderr (the CLIs' way), other warnings as before."""
    shown = warnings.showwarning
    if getattr(shown, "one_line", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, CatalogWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    show.one_line = True  # type: ignore[attr-defined]
    warnings.showwarning = show
