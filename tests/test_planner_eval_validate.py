"""One error category per plan, first that applies, in the contract's order; and the graph."""

from __future__ import annotations

import pytest

from planner_eval.graph import dependency_edges, to_digraph
from planner_eval.parse import parse_plan
from planner_eval.validate import (
    BAD_REFERENCE,
    DUPLICATE_ID,
    PARSE,
    PREDICTION_ERRORS,
    UNKNOWN_TOOL,
    plan_error,
)


def error_of(text: str) -> str | None:
    return plan_error(parse_plan(text))[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", PARSE),
        ("   \n\n", PARSE),
        ("I am sorry, I cannot do that.", PARSE),
        ("1. Find Sid.\n2. Email him.", PARSE),  # numbered prose: nothing parses
        ("1. join()", None),
        ('1. get_phone_number("a")', None),  # join is optional
        ('1. get_phone_number("a")\n3. send_sms(["$1"], "hi")\n7. join()', None),  # gaps are fine
        ('1. send_telegram("a")\n2. join()', UNKNOWN_TOOL),
        ('1. join("x")', None),
        ('2. get_phone_number("a")\n1. get_phone_number("b")', DUPLICATE_ID),
        ('1. get_phone_number("a")\n1. get_phone_number("b")', DUPLICATE_ID),
        ('1. get_phone_number("a")\n2. get_phone_number("b")\n2. join()', DUPLICATE_ID),
        ('1. get_phone_number("a")\n2. send_sms(["$0"], "hi")', BAD_REFERENCE),
        ('1. get_phone_number("a")\n2. send_sms(["$9"], "hi")', BAD_REFERENCE),
        ('1. get_phone_number("a")\n2. send_sms(["$2"], "hi")', BAD_REFERENCE),  # itself
        ('1. send_sms(["$2"], "hi")\n2. get_phone_number("a")', BAD_REFERENCE),  # a later action
        ('1. get_phone_number("a")\n2. join()\n3. send_sms(["$2"], "hi")', None),  # after join: ignored
        ('1. get_phone_number("a")\n2. send_sms([], "$2")', BAD_REFERENCE),  # top-level reference
        ('1. get_phone_number("a")\n2. send_sms([], "$1 and more")', None),  # an ordinary string
        ('1. get_phone_number("a")\n2. send_sms([], "costs $5")', None),
        ('1. get_phone_number("a")\n2. send_sms(["$1", "$1"], "hi")', None),
    ],
)
def test_categories(text, expected):
    assert error_of(text) == expected


def test_precedence_follows_the_contract():
    assert PREDICTION_ERRORS.index("missing") < PREDICTION_ERRORS.index("parse")
    order = [PREDICTION_ERRORS.index(c) for c in ("parse", "unknown_tool", "bad_arguments", "duplicate_id", "bad_reference")]
    assert order == sorted(order)
    # Each plan below has every problem from its category onwards; the earliest one wins.
    everything = '1. get_phone_number("a")\n1. send_telegram(["$5"])\n2. compose(['
    assert error_of(everything) == "parse"
    # A malformed action beside good ones is a parse failure, named as such in the detail.
    category, detail = plan_error(parse_plan('1. get_phone_number("a")\n2. send_sms(["$1"], "hi"\n3. join()'))
    assert category == "parse" and detail.startswith("malformed: line 2")
    assert set(PREDICTION_ERRORS) == {"missing", "parse", "unknown_tool", "bad_arguments", "duplicate_id", "bad_reference"}
    assert error_of('1. get_phone_number("a")\n1. send_telegram(["$5"])') == UNKNOWN_TOOL
    assert error_of('1. get_phone_number("a")\n1. send_sms(["$5"], "")') == DUPLICATE_ID


def test_details_point_at_the_problem():
    category, detail = plan_error(parse_plan('1. get_phone_number("a")\n2. send_sms(["$7"], "hi")'))
    assert category == BAD_REFERENCE and "$7" in detail and "action 2" in detail


def test_graph_edges_include_references_inside_lists_once():
    plan = parse_plan(
        '1. get_email_address("a")\n2. get_zoom_meeting_link("t", "", 30, ["$1"])\n'
        '3. create_calendar_event("t", "", "", "", ["$1", "$1"], "$2", None)\n4. join()'
    )
    assert dependency_edges(plan.actions) == [(1, 2), (1, 3), (2, 3)]
    graph = to_digraph(plan.actions)
    assert sorted(graph.edges) == [(1, 2), (1, 3), (2, 3)]
    assert graph.nodes[2]["tool"] == "get_zoom_meeting_link" and 4 not in graph
