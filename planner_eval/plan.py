"""The plan data model and its text form (LLMCompiler's numbered-call language).

A plan is a list of actions; an argument that is exactly the string "$N" (alone, as a list
element or as a dict value) stands for the output of action N. Parsing lives in `planner_eval.parse`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from planner_eval.catalog import JOIN

END_OF_PLAN = "<END_OF_PLAN>"
REFERENCE = re.compile(r"^\$(\d+)$")


@dataclass
class Action:
    id: int
    tool: str
    args: list[Any] = field(default_factory=list)
    thought: str | None = None  # the `Thought:` line written just before this action, if any


def reference_id(value: Any) -> int | None:
    """The action id a whole-string argument like "$3" points to, else None."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if match:
            return int(match.group(1))
    return None


def references(args: list[Any]) -> list[int]:
    """Ids referenced by an action's arguments, in order: an argument, an element of a list
    argument, a value of a dict (itself read as an argument); not an element of a nested list."""
    found: list[int] = []
    for arg in args:
        # Strings and flat lists first, inline: this runs for every action scored.
        if isinstance(arg, str):
            if arg[:1] == "$":
                match = REFERENCE.match(arg)
                if match:
                    found.append(int(match.group(1)))
        elif isinstance(arg, list):
            for item in arg:
                if isinstance(item, str):
                    if item[:1] == "$":
                        match = REFERENCE.match(item)
                        if match:
                            found.append(int(match.group(1)))
                elif isinstance(item, dict):
                    _collect(item, found, in_list=True)
        elif isinstance(arg, dict):
            _collect(arg, found, in_list=False)
    return found


def references_by_action(actions: list[Action]) -> list[list[int]]:
    """`references` of each action's arguments: walked once, for the several checks that use them."""
    return [references(action.args) for action in actions]


def _collect(value: Any, found: list[int], in_list: bool) -> None:
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if match:
            found.append(int(match.group(1)))
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found, in_list=False)
    elif isinstance(value, list) and not in_list:
        for item in value:
            _collect(item, found, in_list=True)


# What a string literal must not hold raw: a line break `str.splitlines()` knows but JSON leaves
# unescaped, a lone surrogate (not UTF-8), and the end-of-plan marker, which would cut the line or
# the plan short when read back; outside a reference, also `$`, so that LLMCompiler's executor,
# which takes a dependency from any `$N` or `${N}` in an action's text, sees none.
_UNSAFE = re.compile("[\x85\u2028\u2029\ud800-\udfff]|" + re.escape(END_OF_PLAN))
_UNSAFE_OR_DOLLAR = re.compile("[\x85\u2028\u2029\ud800-\udfff$]|" + re.escape(END_OF_PLAN))


def _escaped(match: re.Match[str]) -> str:
    text = match.group(0)
    return f"\\u{ord(text[0]):04x}{text[1:]}"


def format_string(value: str, reference: bool = True) -> str:
    """A double-quoted literal (as TinyAgent's data writes them) that Python and JSON read back as
    `value`, on one line, with no `<END_OF_PLAN>` and no `$` unless `value` is a reference in a
    place where references count (`reference`)."""
    unsafe = _UNSAFE if reference and reference_id(value) is not None else _UNSAFE_OR_DOLLAR
    return unsafe.sub(_escaped, json.dumps(value, ensure_ascii=False))


def format_literal(value: Any, counted: bool = True, in_list: bool = False) -> str:
    """A Python literal for an argument; see `format_string` for strings. `counted` and `in_list`
    follow `references`: a "$N" where it is not counted (in a nested list) is written escaped, so
    that LLMCompiler's executor does not count it either."""
    if isinstance(value, str):
        return format_string(value, counted)
    if isinstance(value, list):
        inner = counted and not in_list
        return "[" + ", ".join(format_literal(v, inner, True) for v in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("dict arguments must have string keys")
        # A key is never a reference, so its `$` is escaped too.
        return "{" + ", ".join(f"{format_string(k, False)}: {format_literal(v, counted)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise TypeError(f"plan arguments must be str, int, float, bool, None, lists or dicts; got {type(value).__name__}")


def format_action(action: Action) -> str:
    return f"{action.id}. {action.tool}({', '.join(format_literal(a) for a in action.args)})"


def _one_line(text: str) -> str:
    """A thought as one line: it is free text, not a literal, so breaks become spaces and the
    end-of-plan marker is left out."""
    return " ".join(" ".join(text.splitlines()).replace(END_OF_PLAN, " ").split())


def format_plan(actions: list[Action], end_marker: bool = True) -> str:
    """Plan text: thoughts and numbered actions, then `join()` with the next id."""
    lines = []
    for action in actions:
        thought = _one_line(action.thought) if action.thought else None
        if thought:
            lines.append(f"Thought: {thought}")
        lines.append(format_action(action))
    join_id = (actions[-1].id + 1) if actions else 1
    lines.append(f"{join_id}. {JOIN}()" + (END_OF_PLAN if end_marker else ""))
    return "\n".join(lines)
