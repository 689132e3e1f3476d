"""Plan text -> actions, tolerant of what language models actually write.

The parser never raises on any input string: every line it cannot use is either ignored (prose,
blank lines, text after `join()`) or reported as a `Problem`, and the caller decides what a problem
means. Arguments are read with `ast.parse` on one bounded line and converted by hand from a small
whitelist of node types, so no code is ever evaluated; most lines take a JSON shortcut that is
only used where it provably reads the same values (a property test holds it to that).
"""

from __future__ import annotations

import ast
import json
import keyword
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from planner_eval.arguments import fill_defaults
from planner_eval.catalog import JOIN, Catalog
from planner_eval.plan import END_OF_PLAN, Action, references

# Bounds keep parsing time and memory flat on adversarial or runaway generations.
MAX_TEXT_CHARS = 100_000
MAX_LINE_CHARS = 4_000
MAX_ACTIONS = 200
MAX_ARGS = 32
MAX_LIST_DEPTH = 3  # nesting of lists and dicts; a top-level list counts as depth 1

MALFORMED = "malformed"
TOO_LARGE = "too_large"

_NUMBERED = re.compile(r"(\d{1,9})\s*\.\s*(.*)", re.DOTALL)
_CALL_NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")
_ASCII_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_JOIN_CALL = re.compile(rf"{JOIN}\s*\(")
_THOUGHT = re.compile(r"thought\s*:\s*(.*)", re.IGNORECASE | re.DOTALL)

# Layouts: how strictly an action line must be written. LLMCompiler's executor
# (SqueezeAILab/LLMCompiler, src/llm_compiler/output_parser.py) finds actions with the unanchored
# pattern `(\d+)\. (\w+)\((.*)\)` over text split at "\n" only.
LENIENT, LLMCOMPILER = "lenient", "llmcompiler"
LAYOUTS: tuple[str, ...] = (LENIENT, LLMCOMPILER)
_EXECUTOR_ACTION = re.compile(r"(\d+)\. (\w+)\(")
_EXECUTOR_THOUGHT_THEN_ACTION = re.compile(r"Thought: [^\n]*\n\n*\d+\. \w+\(")
_EXECUTOR_REFERENCE = re.compile(r"\$\{?(\d+)\}?")  # the executor's dependency rule: anywhere in the text
_FOREIGN_BREAK = re.compile("\r(?!\n)|[\v\f\x1c-\x1e\x85\u2028\u2029]")


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based line number in the plan text
    kind: str  # MALFORMED or TOO_LARGE
    message: str


@dataclass
class ParsedPlan:
    actions: list[Action] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    has_join: bool = False
    join_id: int | None = None  # None when join() is absent or written without a number

    @property
    def empty(self) -> bool:
        """Nothing parsed at all: no action and no join."""
        return not self.actions and not self.has_join


class _NotALiteral(Exception):
    pass


def parse_plan(text: str, catalog: Catalog | None = None, layout: str = LENIENT) -> ParsedPlan:
    """Parse LLMCompiler plan text; never raises for any `str` input.

    With a catalog, an action that leaves out trailing optional arguments gets their defaults
    (where the catalog gives them), so that it reads the same as one that writes them out.
    `layout="llmcompiler"` also reports, as malformed lines, what LLMCompiler's executor would read
    otherwise (see `executor_layout_problems`).
    """
    plan, _ = shared_parse(text, layout, copy_args=True)
    if catalog is not None:
        fill_defaults(plan.actions, catalog)
    return plan


def shared_parse(text: str, layout: str = LENIENT, copy_args: bool = False) -> tuple[ParsedPlan, list[tuple[int, ...]]]:
    """`parse_plan` without a catalog, and the `references` of each action (as they stand before any
    change to the arguments). Unless `copy_args`, the actions and their arguments are the line
    cache's own objects: cheaper, for callers that never change a plan."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    plan, refs = _parse(text, copy_args)
    if layout == LLMCOMPILER:
        plan.problems.extend(executor_layout_problems(text))
    return plan, refs


def _parse(text: str, copy_args: bool) -> tuple[ParsedPlan, list[tuple[int, ...]]]:
    plan = ParsedPlan()
    refs: list[tuple[int, ...]] = []
    if len(text) > MAX_TEXT_CHARS:
        plan.problems.append(Problem(1, TOO_LARGE, f"plan longer than {MAX_TEXT_CHARS} characters"))
        text = text[:MAX_TEXT_CHARS]
    thought: str | None = None
    actions = plan.actions
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        ends_plan = END_OF_PLAN in line
        if ends_plan:
            line = line.partition(END_OF_PLAN)[0].strip()
        if line:
            classify = _classify_cached if len(line) <= _CACHED_LINE_CHARS else _classify
            kind, action_id, tool, payload, action_refs, shared = classify(line)
            if kind == _ACTION:
                if copy_args:
                    actions.append(Action(action_id, tool, _copy_lists(payload), thought))
                else:  # the line's own action, unless a thought makes this one different
                    actions.append(shared if thought is None else Action(action_id, tool, payload, thought))
                refs.append(action_refs)
                if len(actions) > MAX_ACTIONS and not ends_plan:
                    plan.problems.append(Problem(number, TOO_LARGE, f"more than {MAX_ACTIONS} actions"))
                    break
            elif kind == _JOIN_LINE:
                plan.has_join, plan.join_id = True, action_id
                break  # whatever follows join() is outside the plan
            elif kind == MALFORMED:
                plan.problems.append(Problem(number, MALFORMED, f"action {action_id}: {payload}"))
            # A thought belongs to the line right after it.
            thought = payload if kind == _THOUGHT_LINE else None
        if ends_plan:
            break
    return plan, refs


_ACTION, _JOIN_LINE, _THOUGHT_LINE, _PROSE = "action", "join", "thought", "prose"
_PROSE_LINE = (_PROSE, None, None, None, (), None)  # `_classify` of prose; an empty line counts as prose too


def _thought_before_action(raw: str, lines: list[str], number: int) -> bool:
    """Whether line `number` is a thought the executor takes with the action after it (empty lines
    between them are skipped, nothing else is)."""
    following = next((line for line in lines[number:] if line), "")
    return _EXECUTOR_THOUGHT_THEN_ACTION.match(f"{raw.lstrip()}\n{following}") is not None


def _executor_dependencies(line: str, action_id: int) -> set[int]:
    text = line[line.index("(") + 1 : line.rindex(")")]
    return {int(n) for n in _EXECUTOR_REFERENCE.findall(text) if 0 < int(n) < action_id}


def _own_dependencies(refs: tuple[int, ...], action_id: int) -> set[int]:
    return {ref for ref in refs if 0 < ref < action_id}


def executor_layout_problems(text: str) -> list[Problem]:
    """Where LLMCompiler's executor would read the plan differently from the lenient parser, up to
    the end of the plan: an action or join() not written exactly `N. name(`, a line break other
    than "\n" (the executor's lines run on through it), an action whose text holds a `$N` or `${N}`
    naming an earlier id that is not a whole-string reference (the executor would wait for that
    action), and a line that is not an action but holds `N. name(` (the executor would run it),
    unless it is a `Thought: ` line right before an action, which the executor takes as that
    action's thought."""
    problems: list[Problem] = []
    lines = text[:MAX_TEXT_CHARS].split("\n")
    for number, raw in enumerate(lines, start=1):
        foreign = _FOREIGN_BREAK.search(raw.partition(END_OF_PLAN)[0])
        if foreign:
            problems.append(Problem(number, MALFORMED, f"layout: a line break {foreign.group(0)!r} the executor does not split at"))
            break
        line = raw.partition(END_OF_PLAN)[0].strip()
        kind, action_id, _, _, refs, _ = (_classify_cached if len(line) <= _CACHED_LINE_CHARS else _classify)(line) if line else _PROSE_LINE
        if kind in (_ACTION, _JOIN_LINE, MALFORMED):
            if not _EXECUTOR_ACTION.match(line):
                problems.append(Problem(number, MALFORMED, "layout: the executor reads only actions written `N. name(`"))
            elif kind == _ACTION and _executor_dependencies(line, action_id) != _own_dependencies(refs, action_id):
                problems.append(Problem(number, MALFORMED, "layout: a `$N` in plain text, which the executor reads as a dependency"))
        elif _EXECUTOR_ACTION.search(line) and not _thought_before_action(raw, lines, number):
            problems.append(Problem(number, MALFORMED, "layout: the executor would read an action in this line"))
        if kind == _JOIN_LINE or END_OF_PLAN in raw:
            break
    return problems


def _classify(line: str) -> tuple[str, int | None, str | None, Any, tuple[int, ...], Action | None]:
    """(kind, id, tool, payload, references, action) of a stripped, non-empty line; payload is the
    arguments of an action, the text of a thought, or the reason a numbered line is malformed;
    references are those of an action's arguments, found here once for every use of the line;
    action is the line's action (without a thought), shared by every plan that has the line."""
    thought = _THOUGHT.match(line) if line[:1] in "Tt" else None  # most lines start with a digit
    if thought:
        return _THOUGHT_LINE, None, None, thought.group(1).strip() or None, (), None
    numbered = _NUMBERED.fullmatch(line)
    action_id = int(numbered.group(1)) if numbered else None
    body = numbered.group(2) if numbered else line
    if _JOIN_CALL.match(body):
        return _JOIN_LINE, action_id, None, None, (), None  # join's own arguments do not matter
    if not numbered:
        return _PROSE_LINE
    try:
        tool, args = parse_call(body)
    except ValueError as exc:
        return MALFORMED, action_id, None, str(exc), (), None
    return _ACTION, action_id, tool, args, tuple(references(args)), Action(action_id, tool, args)


# Lines recur across plans (the same lookups, predictions equal to gold) and compiling them is most
# of the parsing time. Only short lines are kept, which bounds the cache's memory; callers copy the
# arguments before handing them out.
_CACHED_LINE_CHARS = 400
_classify_cached = lru_cache(maxsize=65_536)(_classify)


def _copy_lists(value: list[Any]) -> list[Any]:
    """A copy of cached arguments, so that callers may edit their actions freely."""
    return [_copy_value(item) if isinstance(item, (list, dict)) else item for item in value]


def _copy_value(value: Any) -> Any:
    if isinstance(value, list):
        return _copy_lists(value)
    if isinstance(value, dict):
        return {key: _copy_value(item) for key, item in value.items()}
    return value


def parse_call(text: str) -> tuple[str, list[Any]]:
    """`tool(arg, ...)` -> (tool, [literal, ...]); raises ValueError with a short reason."""
    if len(text) > MAX_LINE_CHARS:
        raise ValueError(f"line longer than {MAX_LINE_CHARS} characters")
    quick = _json_call(text)  # first: most lines are calls it reads, and it checks the name itself
    if quick is not None:
        return quick
    if not _CALL_NAME.match(text):
        raise ValueError("expected tool(arguments)")
    return _ast_call(text)


def _json_call(text: str) -> tuple[str, list[Any]] | None:
    """The common case, read several times faster than by compiling: a call whose arguments
    become a JSON array *with the same meaning* once Python's True/False/None are respelled.
    None whenever Python and JSON could disagree (JSON's own true/false/null/NaN, the escapes
    \\/ and \\u, keywords as names, a respelling inside a string, limits): `_ast_call` decides."""
    call = _ASCII_CALL.match(text)
    if call is None or not text.endswith(")") or keyword.iskeyword(call.group(1)):
        return None
    inner = text[call.end() : -1]
    # Substring tests first: they rule out most lines far faster than the word-bounded patterns.
    if "\\/" in inner or "\\u" in inner:
        return None
    if ("true" in inner or "false" in inner or "null" in inner) and _JSON_CONSTANT.search(inner):
        return None
    respelled = 0
    if "True" in inner or "False" in inner or "None" in inner:
        inner, respelled = _PYTHON_CONSTANT.subn(_respell, inner)
    try:
        values = _DECODER.decode(f"[{inner}]")
    except (ValueError, RecursionError):
        return None
    if len(values) > MAX_ARGS:
        return None
    # Every constant in the result comes from a respelling; fewer means one was inside a string.
    # With nothing respelled there is no constant (JSON's own are refused above), and with few
    # brackets no deep nesting: then the values need no walk.
    if respelled or inner.count("[") + inner.count("{") > MAX_LIST_DEPTH:
        if _count_constants(values, depth=0) != respelled:
            return None
    return call.group(1), values


_JSON_CONSTANT = re.compile(r"\b(?:true|false|null)\b")
_PYTHON_CONSTANT = re.compile(r"\b(?:True|False|None)\b")
_RESPELLING = {"True": "true", "False": "false", "None": "null"}


def _respell(match: re.Match[str]) -> str:
    return _RESPELLING[match.group(0)]


def _reject_constant(name: str) -> None:
    raise ValueError(name)  # NaN and Infinity are names in Python, not literals


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _count_constants(values: list[Any], depth: int) -> int:
    """How many bools and Nones the decoded values hold; -1 if they hold anything but plain
    values, lists and objects, or nest too deep."""
    count = 0
    for value in values:
        if isinstance(value, (list, dict)):
            items = value if isinstance(value, list) else list(value.values())
            inner = _count_constants(items, depth + 1) if depth < MAX_LIST_DEPTH else -1
            if inner < 0:
                return -1
            count += inner
        elif value is None or isinstance(value, bool):
            count += 1
        elif not isinstance(value, (str, int, float)):
            return -1
    return count


def _ast_call(text: str) -> tuple[str, list[Any]]:
    try:
        with warnings.catch_warnings():
            # Odd text such as `1abc` makes the compiler warn; a malformed line is our report.
            warnings.simplefilter("ignore")
            tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        raise ValueError("arguments do not parse (truncated or not Python literals)") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise ValueError("expected a single tool(arguments) call")
    if call.keywords:
        raise ValueError("keyword arguments are not allowed; arguments are positional")
    if len(call.args) > MAX_ARGS:
        raise ValueError(f"more than {MAX_ARGS} arguments")
    try:
        args = [_literal(node, depth=0) for node in call.args]
    except _NotALiteral as exc:
        raise ValueError(f"argument is not a plain literal: {exc}") from None
    return call.func.id, args


def _literal(node: ast.expr, depth: int) -> Any:
    if isinstance(node, ast.Constant):
        value = node.value
        if value is None or isinstance(value, (str, bool, int, float)):
            return value
        raise _NotALiteral(type(value).__name__)
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) in (int, float)  # not bool: -True is an expression, not data
    ):
        value = node.operand.value
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.List):
        if depth >= MAX_LIST_DEPTH:
            raise _NotALiteral(f"lists nested deeper than {MAX_LIST_DEPTH}")
        return [_literal(item, depth + 1) for item in node.elts]
    if isinstance(node, ast.Dict):
        if depth >= MAX_LIST_DEPTH:
            raise _NotALiteral(f"lists and dicts nested deeper than {MAX_LIST_DEPTH}")
        if not all(isinstance(key, ast.Constant) and isinstance(key.value, str) for key in node.keys):
            raise _NotALiteral("dict keys must be strings")  # a None key is a `**` unpacking
        return {key.value: _literal(value, depth + 1) for key, value in zip(node.keys, node.values)}
    raise _NotALiteral(type(node).__name__)
