"""Arbitrary text, as gold or prediction, never raises and always yields a well-formed result."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner_eval.score import score_plan
from planner_eval.validate import ERROR_CATEGORIES

PLAN = """Thought: look both up first.
1. get_email_address("Sid")
2. get_email_address("Nick")
3. compose_new_email(["$1"], ["$2"], "Budget", "Send the Q3 budget", [])
4. create_reminder("x", "", "", "", 5, True)
5. join()<END_OF_PLAN>"""

# Characters that matter to the plan language, so that random text often gets near a plan.
PLAN_ALPHABET = st.sampled_from(list('0123456789.()[]"\',$ \n\t\\_-#:=+{}TrueFalsNonejoin<END_OF_PLAN>') + ["\x00", "é", "\u2028"])
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(result) -> None:
    assert isinstance(result.success, bool) and isinstance(result.tool_set_match, bool)
    assert result.error is None or result.error in ERROR_CATEGORIES
    assert not (result.success and result.error is not None)
    for value in (result.tool_precision, result.tool_recall, result.tool_f1, result.edge_f1):
        assert value is None or 0.0 <= value <= 1.0


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text):
    check(score_plan(PLAN, text))
    check(score_plan(text, PLAN))


@FUZZ
@given(st.text(PLAN_ALPHABET, max_size=200), st.sampled_from(["normalized", "strict", "ignore"]))
def test_plan_like_text(text, mode):
    check(score_plan(PLAN, "1. " + text, mode))
    check(score_plan("1. get_phone_number(" + text, text, mode))


@FUZZ
@given(st.data())
def test_edited_plans(data):
    """Deleting, duplicating or replacing a span of a real plan: truncations, broken quotes, ..."""
    start = data.draw(st.integers(0, len(PLAN)))
    end = data.draw(st.integers(start, min(len(PLAN), start + 20)))
    insert = data.draw(st.sampled_from(["", PLAN[start:end] * 2, "$9", '"', "(", "\n", "]", "1."]))
    edited = PLAN[:start] + insert + PLAN[end:]
    result = score_plan(PLAN, edited)
    check(result)
    if edited == PLAN:
        assert result.success
