"""What the toolkit writes parses back to the same plan: every line break `str.splitlines()` knows,
`<END_OF_PLAN>`, quotes, backslashes and `$` text, in strings, lists, dicts and thoughts."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from planner_eval.parse import parse_plan
from planner_eval.plan import END_OF_PLAN, Action, format_plan, references
from planner_eval.tinyagent_format import record_plan
from planner_eval.tool_calls import tool_calls_to_plan_text

SEPARATORS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
PIECES = SEPARATORS + [END_OF_PLAN, "<END_OF", "_PLAN>", "$", "$1", "${2}", "$2 coffee", " $1 ", "{", "}", '"', "'",
                       "\\", "\\n", "\\u0024", "join()", "2. send_sms(", "Thought: ", "é", "😀", "\x00", "\t", " "]
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=6).map("".join)
SCALAR = st.one_of(TEXT, st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none())
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=6,
)


@st.composite
def plans(draw) -> list[Action]:
    actions = []
    for position in range(1, draw(st.integers(1, 4)) + 1):
        args = draw(st.lists(VALUE, max_size=4))
        if position > 1 and draw(st.booleans()):
            args.append(f"${draw(st.integers(1, position - 1))}")  # a real reference
        thought = draw(st.one_of(st.none(), TEXT))
        actions.append(Action(position, "tool_" + str(position), args, thought))
    return actions


def one_line(thought: str | None) -> str | None:
    text = " ".join(" ".join((thought or "").splitlines()).replace(END_OF_PLAN, " ").split())
    return text or None


@settings(max_examples=300, deadline=None)
@given(plans())
def test_format_plan_reads_back_to_the_same_plan(actions):
    text = format_plan(actions)
    plan = parse_plan(text)
    assert not plan.problems and plan.has_join
    assert [(a.id, a.tool, a.args) for a in plan.actions] == [(a.id, a.tool, a.args) for a in actions]
    assert [a.thought for a in plan.actions] == [one_line(a.thought) for a in actions]
    assert [references(a.args) for a in plan.actions] == [references(a.args) for a in actions]


@settings(max_examples=200, deadline=None)
@given(plans())
def test_tool_calls_and_parsed_outputs_read_back_to_the_same_plan(actions):
    calls = [{"function": {"name": a.tool, "arguments": json.dumps({f"a{i}": v for i, v in enumerate(a.args)})}}
             for a in actions]
    plan = parse_plan(tool_calls_to_plan_text(calls))
    assert [a.args for a in plan.actions] == [a.args for a in actions] and not plan.problems
    record = {"output": [{"type": "plan", "parsed_output": [
        {"tool_name": a.tool, "tool_args": {f"a{i}": v for i, v in enumerate(a.args)}} for a in actions
    ] + [{"tool_name": "join", "tool_args": {}}]}]}
    assert [a.args for a in parse_plan(record_plan(record)).actions] == [a.args for a in actions]


def test_plain_dollar_text_is_escaped_and_references_are_not():
    text = format_plan([Action(1, "f", ["x"]), Action(2, "g", ["$1", "$1 and more", ["$1", "I owe you $2"], {"k": "${1}"}])])
    line = text.splitlines()[1]
    assert line.count("$") == 2 and '"$1", ' in line and '["$1", ' in line
    assert "\\u0024" in line
