"""Plan text -> actions: what is read, what is ignored, what is reported."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner_eval.parse import (
    MALFORMED,
    MAX_ACTIONS,
    MAX_LINE_CHARS,
    MAX_TEXT_CHARS,
    TOO_LARGE,
    _ast_call,
    _json_call,
    parse_call,
    parse_plan,
)
from planner_eval.plan import Action, format_plan

PLAN = """1. get_email_address("Sid")
2. get_email_address("Nick")
Thought: I have both addresses, now the email.
3. compose_new_email(["$1"], ["$2"], "Budget", "Send the Q3 budget", [])
4. join()<END_OF_PLAN>"""


def test_reads_actions_thoughts_and_join():
    plan = parse_plan(PLAN)
    assert [(a.id, a.tool, a.args) for a in plan.actions] == [
        (1, "get_email_address", ["Sid"]),
        (2, "get_email_address", ["Nick"]),
        (3, "compose_new_email", [["$1"], ["$2"], "Budget", "Send the Q3 budget", []]),
    ]
    assert plan.actions[2].thought == "I have both addresses, now the email."
    assert plan.actions[0].thought is None
    assert plan.has_join and plan.join_id == 4
    assert plan.problems == []


def test_round_trips_through_the_serializer():
    actions = [
        Action(1, "create_reminder", ["Call mom", "2024-05-01 09:00:00", "", "", 5, True], "remember"),
        Action(3, "get_zoom_meeting_link", ["sync", "2024-05-01 10:00:00", 30, ["a@b.c", "$1"]]),
        Action(4, "create_calendar_event", ["x", "", "", "", [], "say \"hi\"\nthere", None]),
    ]
    assert parse_plan(format_plan(actions)).actions == actions


def test_literal_types_are_kept():
    _, args = parse_call('t(1, -2, 2.5, True, False, None, "5", [], [1, [2, "x"]], +3)')
    assert args == [1, -2, 2.5, True, False, None, "5", [], [1, [2, "x"]], 3]
    assert [type(a) for a in args[:7]] == [int, int, float, bool, bool, type(None), str]


def test_blank_lines_prose_and_text_after_join_are_ignored():
    text = "Sure! Here is the plan:\n\n1. get_phone_number('Ann')\n\n2. join()\n3. send_sms(oops\nmore prose"
    plan = parse_plan(text)
    assert [a.tool for a in plan.actions] == ["get_phone_number"]
    assert plan.problems == [] and plan.join_id == 2


def test_end_marker_without_join_ends_the_plan():
    plan = parse_plan('1. get_phone_number("Ann")<END_OF_PLAN>\n2. get_phone_number("Bob")')
    assert [a.args for a in plan.actions] == [["Ann"]]
    assert not plan.has_join


def test_unnumbered_join_and_join_only_plans():
    assert parse_plan("join()").has_join
    only = parse_plan("1. join()<END_OF_PLAN>")
    assert only.actions == [] and only.has_join and not only.empty
    assert parse_plan("").empty and parse_plan("I cannot help with that.").empty


def test_a_truncated_line_is_reported_and_the_rest_still_parses():
    plan = parse_plan('1. get_email_address("Sid")\n2. compose_new_email(["$1"], ["')
    assert [a.id for a in plan.actions] == [1]
    assert [(p.line, p.kind) for p in plan.problems] == [(2, MALFORMED)]


@pytest.mark.parametrize(
    "line",
    [
        '1. get_email_address(name="Sid")',  # keyword arguments
        "1. get_email_address(Sid)",  # a bare name, not a literal
        "1. get_email_address(true)",  # JSON spelling is not Python
        '1. get_email_address(__import__("os").system("x"))',  # code is never run
        '1. get_email_address(("a", "b"))',  # tuples are not plan data
        '1. get_email_address({1: "a"})',  # dict keys are strings
        '1. get_email_address({**{"a": 1}})',  # no unpacking
        '1. get_email_address({"a": {"b": [[1]]}})',  # deeper than the nesting limit
        '1. get_email_address({"a", "b"})',  # sets are not plan data
        '1. get_email_address(f"x{1}")',
        "1. get_email_address(-True)",
        "1. get_email_address(1 + 2)",
        '1. get_email_address("a")("b")',
        '1. get_email_address("a"), send_sms([], "b")',
        "1. get_email_address",
        "1. Look up Sid's address",
        "1. get_email_address([[[[1]]]])",  # deeper than the list limit
    ],
)
def test_non_literal_or_odd_calls_are_malformed(line):
    plan = parse_plan(line + "\n2. join()")
    assert plan.actions == []
    assert [p.kind for p in plan.problems] == [MALFORMED]


def test_bounds_are_enforced_without_failing():
    long_line = '1. create_note("' + "x" * MAX_LINE_CHARS + '", "", "")'
    assert [p.kind for p in parse_plan(long_line).problems] == [MALFORMED]
    many = "\n".join(f'{i}. get_phone_number("p{i}")' for i in range(1, MAX_ACTIONS + 10))
    plan = parse_plan(many)
    assert len(plan.actions) == MAX_ACTIONS + 1 and plan.problems[-1].kind == TOO_LARGE
    huge = parse_plan('1. get_phone_number("a")\n' + "x" * MAX_TEXT_CHARS)
    assert huge.problems[0].kind == TOO_LARGE and len(huge.actions) == 1


def test_parsed_arguments_are_private_copies():
    first = parse_plan('1. send_sms(["$1"], "hi")')
    first.actions[0].args[0].append("$2")
    assert parse_plan('1. send_sms(["$1"], "hi")').actions[0].args == [["$1"], "hi"]


def test_windows_line_endings_and_indentation():
    plan = parse_plan('  1. get_phone_number("Ann")\r\n  2.join()\r\n')
    assert plan.actions[0].args == ["Ann"] and plan.join_id == 2


# The JSON shortcut must read exactly what the compiler would, or step aside.

ATOMS = ['"a"', "'a'", '"\\/"', '"\\u00e9"', '"\\ud83d\\ude00"', '"\\t"', '"\t"', '"\\x41"', '"$1"', "1", "-1",
         "01", "1.5", "1e999", "-0.0", "1_0", "True", "true", "None", "null", "NaN", "Infinity", "{}", '{"a": 1}',
         '"True"', '"no None"', "-True", "[[[[1]]]]"]
# Well-formed argument lists (so that the shortcut often accepts) and token soup (so that it often must not).
KEYS = ['"a"', '"b"', "'a'", "1", "None", '"\\u0061"']


def _containers(inner):
    lists = st.lists(inner, max_size=3).map(lambda v: f"[{', '.join(v)}]")
    dicts = st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=3).map(
        lambda items: "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}")
    return st.one_of(lists, dicts)


VALUE = st.recursive(st.sampled_from(ATOMS), _containers, max_leaves=6)
ARGUMENTS = st.one_of(
    st.lists(VALUE, max_size=4).map(", ".join),
    st.lists(st.sampled_from(ATOMS + ["[", "]", ",", " ", ":"]), max_size=12).map("".join),
)


def typed(value):
    """A form of a value in which 1, 1.0 and True differ."""
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    return (type(value).__name__, repr(value))


@settings(max_examples=400, deadline=None)
@given(ARGUMENTS, st.sampled_from(["send_sms", "send_sms", "if", "True", "match"]))
def test_json_shortcut_agrees_with_the_compiler(inner, name):
    text = f"{name}({inner})"
    quick = _json_call(text)
    if quick is not None:
        tool, args = _ast_call(text)  # must not raise: JSON accepted it, so Python must too
        assert quick[0] == tool and typed(quick[1]) == typed(args)
