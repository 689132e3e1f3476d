"""Actions against a tool's signature: the `bad_arguments` check and defaults for omitted arguments.

Arguments are positional: the required ones first, then the optional ones, and a plan may stop
after any argument once the required ones are given.
"""

from __future__ import annotations

import copy

from typing import Any

from planner_eval.argtypes import Checker, TypeSpec, parse_type, type_checker
from planner_eval.catalog import Catalog, Tool, ToolArg
from planner_eval.plan import Action, reference_id


def argument_problem(action: Action, tool: Tool) -> str | None:
    """Why the action's arguments do not fit the tool (count or a type), or None when they do."""
    given, allowed = len(action.args), len(tool.args)
    if given > allowed:
        return f"{given} arguments given, {tool.name} takes at most {allowed}"
    if given < tool.required_count:
        missing = tool.args[given].name
        return f"required argument {missing!r} of {tool.name} is missing"
    for value, arg, check in zip(action.args, tool.args, _checkers(tool)):
        # None marks an optional argument left out before a later one (see tool_calls).
        if value is None and not arg.required and not arg.has_default:
            continue
        problem = _value_problem(arg, value, check)
        if problem is not None:
            return f"argument {arg.name!r} of {tool.name}{problem}"
    return None


def _value_problem(arg: ToolArg, value: Any, check: Checker) -> str | None:
    """What is wrong with a value, as the end of a sentence about it (" should be ..."), or None."""
    if not check(value):
        return f" should be {arg.type_hint}, got {_shown(value)}"
    if arg.enum is not None and not enum_allows(arg.enum, value):
        allowed = ", ".join(_shown(v) for v in arg.enum[:10]) + (", ..." if len(arg.enum) > 10 else "")
        return f" should be one of {allowed}, got {_shown(value)}"
    if arg.properties is not None and isinstance(value, dict):
        return _object_problem(arg.properties, value)
    return None


def _object_problem(properties: tuple[ToolArg, ...], value: dict) -> str | None:
    """An object against its schema's `properties` and `required`: unknown keys are refused, as
    unknown arguments are."""
    known = {prop.name: prop for prop in properties}
    unknown = next((key for key in value if key not in known), None)
    if unknown is not None:
        return f" has no property {unknown!r} (known: {', '.join(known)})"
    missing = next((prop.name for prop in properties if prop.required and prop.name not in value), None)
    if missing is not None:
        return f" is missing its required property {missing!r}"
    for key, item in value.items():
        prop = known[key]
        problem = _value_problem(prop, item, type_checker(prop.type_hint))
        if problem is not None:
            return f"'s property {key!r}{problem}"
    return None


def same_value(a: Any, b: Any) -> bool:
    """Equality as plans mean it: 1 != True, 5 != "5", None != "" (Python's == says 1 == True), while
    an int and a float of equal value are the same number, as JSON cannot tell them apart."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def enum_allows(enum: tuple[Any, ...], value: Any) -> bool:
    """True when ``value`` is one of ``enum``'s values, or a `$N` reference (known only at run time)."""
    if value is None:
        return True  # nullable is the type check's business, not the enum's
    if reference_id(value) is not None:
        return True
    return any(same_value(value, allowed) for allowed in enum)


_CHECKERS: dict[int, tuple[Tool, tuple[Checker, ...]]] = {}


def _checkers(tool: Tool) -> tuple[Checker, ...]:
    """The type checks of a tool's arguments, looked up by identity (a tool with a list default
    cannot be hashed); the entry holds the tool, so its id is not reused while cached."""
    found = _CHECKERS.get(id(tool))
    if found is None or found[0] is not tool:
        if len(_CHECKERS) > 4096:
            _CHECKERS.clear()
        found = _CHECKERS[id(tool)] = (tool, tuple(type_checker(a.type_hint) for a in tool.args))
    return found[1]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def has_defaults(catalog: Catalog) -> bool:
    return any(arg.has_default for tool in catalog.values() for arg in tool.args)


def fill_defaults(actions: list[Action], catalog: Catalog) -> None:
    """Append the defaults of trailing omitted arguments, in place, so that leaving an argument
    out and writing its default compare equal. Stops at the first omitted argument without one
    (or a required one, whose absence the argument check reports);
    actions of unknown tools or with too many arguments are left alone."""
    for action in actions:
        tool = catalog.get(action.tool)
        if tool is None or len(action.args) >= len(tool.args):
            continue
        for arg in tool.args[len(action.args) :]:
            if arg.required or not arg.has_default:
                break
            # A copy: the default object is shared by every action that omits it.
            action.args.append(copy.deepcopy(arg.default))


def has_numbers(catalog: Catalog) -> bool:
    """Whether any argument (or object property) is typed `float`, JSON Schema's `number`."""
    return any(_mentions_float(arg) for tool in catalog.values() for arg in tool.args)


def _mentions_float(arg: ToolArg) -> bool:
    return "float" in arg.type or any(_mentions_float(p) for p in arg.properties or ())


def widen_numbers(actions: list[Action], catalog: Catalog) -> None:
    """In place, make an integer a float where the argument is a `number` (and not also an
    integer): JSON writes 25.0 as 25, so the two must compare equal there and only there."""
    for action in actions:
        tool = catalog.get(action.tool)
        if tool is not None:
            action.args = [_widened(value, arg) for value, arg in zip(action.args, tool.args)] + action.args[len(tool.args):]


def put_keys_in_schema_order(actions: list[Action], catalog: Catalog) -> bool:
    """In place, order the keys of every object argument as the plan grammar writes them: the
    required properties, then the optional ones, each in catalog order, then any key the schema
    does not name. Returns whether a key moved. Scoring compares keys as a set; a model trained on
    plans in this order is not pulled away from what constrained decoding lets it write."""
    moved = False
    for action in actions:
        tool = catalog.get(action.tool)
        if tool is None:
            continue
        for position, (value, arg) in enumerate(zip(action.args, tool.args)):
            ordered, changed = _in_schema_order(value, arg)
            if changed:
                action.args[position], moved = ordered, True
    return moved


def _in_schema_order(value: Any, arg: ToolArg) -> tuple[Any, bool]:
    if not isinstance(value, dict) or arg.properties is None:
        return value, False
    known = {prop.name: prop for prop in arg.properties}
    order = [p.name for p in arg.properties if p.required] + [p.name for p in arg.properties if not p.required]
    keys = [key for key in order if key in value] + [key for key in value if key not in known]
    ordered, moved = {}, keys != list(value)
    for key in keys:
        ordered[key], changed = _in_schema_order(value[key], known[key]) if key in known else (value[key], False)
        moved = moved or changed
    return ordered, moved


def _widened(value: Any, arg: ToolArg) -> Any:
    if isinstance(value, dict) and arg.properties is not None:
        known = {prop.name: prop for prop in arg.properties}
        return {key: _widened(item, known[key]) if key in known else item for key, item in value.items()}
    return _widened_by_type(value, parse_type(arg.type))


def _widened_by_type(value: Any, spec: TypeSpec) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value) if "float" in spec and "int" not in spec else value
    if isinstance(value, list):
        items = [alternative[1] for alternative in spec if isinstance(alternative, tuple) and alternative[1] is not None]
        return [_widened_by_type(item, items[0]) for item in value] if len(items) == 1 else value
    return value
