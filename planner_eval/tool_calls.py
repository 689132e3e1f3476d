"""OpenAI-style `tool_calls` <-> plan actions, the form an OpenAI-compatible planner answers in.

The i-th call (from 1) is action i, a string argument "$N" names action N, `join` is implied
after the last call, and `function.arguments` is a JSON object string keyed by argument names.
Names are put in positional order by the catalog: an argument left out before a later one takes
its default, or None when it is optional without one; a name the tool does not have goes after
every known slot, so the argument check sees too many arguments. A call may name a tool by the
catalog's own spelling (`math.factorial`) or the plan's (`math_factorial`); calls written from
actions use the catalog's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

from planner_eval.catalog import TOOLS, Catalog, Tool
from planner_eval.parse import MALFORMED, MAX_ACTIONS, MAX_ARGS, MAX_LIST_DEPTH, MAX_TEXT_CHARS, TOO_LARGE, ParsedPlan, Problem
from planner_eval.plan import Action, format_plan, reference_id


class ToolCallError(ValueError):
    """A tool call that cannot become an action; the message says which call and why."""


def parse_tool_calls(tool_calls: Sequence[Any], catalog: Catalog | None = None) -> ParsedPlan:
    """A parsed plan from tool calls; never raises. Unusable calls become `Problem`s (their
    `line` is the call's position), so scoring treats them as a plan that does not parse."""
    tools = TOOLS if catalog is None else catalog
    plan = ParsedPlan(has_join=True)  # a list of calls is a whole plan: join comes implicitly
    for position, call in enumerate(tool_calls[: MAX_ACTIONS + 1], start=1):
        try:
            plan.actions.append(_action(position, call, tools))
        except ToolCallError as exc:
            plan.problems.append(Problem(position, MALFORMED, str(exc)))
    if len(tool_calls) > MAX_ACTIONS:
        plan.problems.append(Problem(MAX_ACTIONS + 1, TOO_LARGE, f"more than {MAX_ACTIONS} tool calls"))
    return plan


def tool_calls_to_actions(tool_calls: Sequence[Any], catalog: Catalog | None = None) -> list[Action]:
    """Actions 1..n from tool calls; raises ToolCallError for the first unusable call."""
    tools = TOOLS if catalog is None else catalog
    return [_action(position, call, tools) for position, call in enumerate(tool_calls, start=1)]


def tool_calls_to_plan_text(tool_calls: Sequence[Any], catalog: Catalog | None = None) -> str:
    """LLMCompiler plan text (ending in join()) for tool calls; raises ToolCallError."""
    return format_plan(tool_calls_to_actions(tool_calls, catalog))


def actions_to_tool_calls(actions: Sequence[Action], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """OpenAI `tool_calls` for a valid plan: `call_i` for the i-th action, references renumbered
    to positions, arguments keyed by the catalog's names. Raises ValueError for an unknown tool
    or more arguments than the tool takes."""
    tools = TOOLS if catalog is None else catalog
    position = {action.id: i for i, action in enumerate(actions, start=1)}
    calls = []
    for i, action in enumerate(actions, start=1):
        tool = tools.get(action.tool)
        if tool is None:
            raise ValueError(f"action {action.id}: unknown tool {action.tool!r}")
        if len(action.args) > len(tool.args):
            raise ValueError(f"action {action.id}: {len(action.args)} arguments, {tool.name} takes {len(tool.args)}")
        arguments = {arg.name: _renumbered(value, position) for arg, value in zip(tool.args, action.args)}
        function = {"name": tool.call_name, "arguments": json.dumps(arguments, ensure_ascii=False)}
        calls.append({"id": f"call_{i}", "type": "function", "function": function})
    return calls


def _renumbered(value: Any, position: dict[int, int]) -> Any:
    if isinstance(value, list):
        return [_renumbered(item, position) for item in value]
    if isinstance(value, dict):
        return {key: _renumbered(item, position) for key, item in value.items()}
    ref = reference_id(value)
    return value if ref is None or ref not in position else f"${position[ref]}"


def _action(position: int, call: Any, tools: Catalog) -> Action:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping):
        raise ToolCallError(f"call {position}: no \"function\" object")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ToolCallError(f"call {position}: no function name")
    arguments = _arguments(position, function.get("arguments"))
    tool = tools.get(name)
    if tool is None and "." in name:
        # The catalog's dotted spelling (BFCL's `math.factorial`) of a tool plans call `math_factorial`.
        tool = tools.get(name.replace(".", "_"))
        if tool is not None and tool.call_name != name:
            tool = None
    if tool is not None:
        name = tool.name
    values = list(arguments.values()) if tool is None else _positional(arguments, tool)
    if len(values) > MAX_ARGS:
        raise ToolCallError(f"call {position}: more than {MAX_ARGS} arguments")
    for key, value in arguments.items():
        _check_literal(position, key, value, depth=0)
    return Action(position, name, values)


def _arguments(position: int, raw: Any) -> dict[str, Any]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if isinstance(raw, str):
        if len(raw) > MAX_TEXT_CHARS:
            raise ToolCallError(f"call {position}: arguments longer than {MAX_TEXT_CHARS} characters")
        try:
            raw = _DECODER.decode(raw)
        except (ValueError, RecursionError):
            raise ToolCallError(f"call {position}: arguments are not valid JSON") from None
    if not isinstance(raw, dict):
        raise ToolCallError(f"call {position}: arguments are not a JSON object")
    return raw


def _reject_constant(name: str) -> None:
    raise ValueError(name)  # NaN and Infinity: JSON extensions that no plan literal can hold


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _positional(arguments: dict[str, Any], tool: Tool) -> list[Any]:
    known = {arg.name for arg in tool.args}
    unknown = [value for key, value in arguments.items() if key not in known]
    given = [i for i, arg in enumerate(tool.args) if arg.name in arguments]
    # With unknown names every slot is kept, so that they land past the end and count as extra.
    end = len(tool.args) if unknown else (given[-1] + 1 if given else 0)
    values = []
    for arg in tool.args[:end]:
        if arg.name in arguments:
            values.append(arguments[arg.name])
        elif arg.required:
            break  # what follows would shift into the wrong slots; the check reports it missing
        else:
            values.append(copy.deepcopy(arg.default) if arg.has_default else None)
    else:
        values.extend(unknown)
    return values


def _check_literal(position: int, key: str, value: Any, depth: int) -> None:
    if isinstance(value, (list, dict)):
        if depth >= MAX_LIST_DEPTH:
            raise ToolCallError(f"call {position}: argument {key!r} nests lists and objects deeper than {MAX_LIST_DEPTH}")
        for item in value if isinstance(value, list) else value.values():
            _check_literal(position, key, item, depth + 1)
