"""Arbitrary text, as gold or prediction, and arbitrary catalogs never raise and always yield a well-formed result."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner_eval.catalog_io import CatalogError, catalog_from_json, to_native
from planner_eval.plan import format_literal
from planner_eval.score import score_plan
from planner_eval.tool_calls import parse_tool_calls
from planner_eval.validate import ERROR_CATEGORIES

PLAN = """Thought: look both up first.
1. get_email_address("Sid")
2. get_email_address("Nick")
3. compose_new_email(["$1"], ["$2"], "Budget", "Send the Q3 budget", [])
4. create_reminder("x", "", "", "", 5, True)
5. join()<END_OF_PLAN>"""

# Characters that matter to the plan language, so that random text often gets near a plan.
PLAN_ALPHABET = st.sampled_from(list('0123456789.()[]"\',$ \n\t\\_-#:=+{}TrueFalsNonejoin<END_OF_PLAN>') + ["\x00", "é", "\u2028", "\r"])
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
@given(st.text(PLAN_ALPHABET, max_size=200), st.sampled_from(["normalized", "strict", "ignore"]),
       st.sampled_from(["lenient", "llmcompiler"]))
def test_plan_like_text(text, mode, layout):
    check(score_plan(PLAN, "1. " + text, mode, layout=layout))
    check(score_plan("1. get_phone_number(" + text, text, mode, layout=layout))
    strict = score_plan(PLAN, PLAN + "\n" + text, mode, layout="llmcompiler")
    assert strict.success == score_plan(PLAN, PLAN + "\n" + text, mode).success  # nothing after join() counts


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


# Random catalogs: mostly valid JSON Schema, with a share of mistakes (unknown types, bad names,
# required names that are not properties, defaults of the wrong type).
VALID_TYPES = ["string", "integer", "number", "boolean", "null", "array", "object"]
SCHEMA_TYPES = st.sampled_from(VALID_TYPES * 4 + ["strin", 3])
LEAF = st.fixed_dictionaries(
    {"type": SCHEMA_TYPES | st.lists(SCHEMA_TYPES, min_size=1, max_size=3)},
    optional={"default": st.sampled_from([None, None, None, 1, "x"])},
) | st.just({})
SCHEMA = st.recursive(
    LEAF,
    lambda inner: st.fixed_dictionaries({"type": st.just("array")}, optional={"items": inner})
    | st.fixed_dictionaries({"anyOf": st.lists(inner, min_size=1, max_size=3)}),
    max_leaves=4,
)


@st.composite
def FUNCTION(draw, name: str) -> dict:
    properties = draw(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), SCHEMA, max_size=4))
    required = draw(st.lists(st.sampled_from(list(properties)), max_size=3, unique=True)) if properties else []
    if draw(st.integers(0, 19)) == 0:
        required.append("zz")
    parameters = {"type": "object" if draw(st.integers(0, 19)) else "array", "properties": properties, "required": required}
    function = {"name": name, "parameters": parameters}
    return {"type": "function", "function": function} if draw(st.booleans()) else function


TOOL_NAMES = st.sampled_from(["f", "g", "h", "k", "m", "n", "p", "q", "join", "bad-name"])
CATALOG_JSON = st.lists(TOOL_NAMES, max_size=4, unique=True).flatmap(
    lambda names: st.tuples(*(FUNCTION(name) for name in names)).map(list)
)
LITERAL = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, width=16) | st.sampled_from(["", "x", "$1", "$2", "$9"]),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)


def _random_plan(data, names: list[str]) -> str:
    lines = []
    for i in range(1, data.draw(st.integers(0, 4)) + 1):
        name = data.draw(st.sampled_from(names + ["unknown"]))
        args = data.draw(st.lists(LITERAL, max_size=5))
        lines.append(f"{i}. {name}({', '.join(format_literal(a) for a in args)})")
    return "\n".join(lines + [f"{len(lines) + 1}. join()"])


@FUZZ
@given(CATALOG_JSON, st.data())
def test_random_catalogs_and_plans(raw, data):
    try:
        catalog = catalog_from_json(raw)
    except CatalogError:
        return
    names = list(catalog) or ["f"]
    gold, pred = _random_plan(data, names), _random_plan(data, names)
    calls = [{"function": {"name": data.draw(st.sampled_from(names)), "arguments": json.dumps(dict(zip("abcd", data.draw(st.lists(LITERAL, max_size=4)))))}}]
    for mode in ("normalized", "strict", "ignore"):
        check(score_plan(gold, pred, mode, catalog=catalog))
        check(score_plan(gold, gold + " ", mode, catalog=catalog))
        check(score_plan(gold, parse_tool_calls(calls, catalog), mode, catalog=catalog))
    assert catalog_from_json(to_native(catalog)) == catalog
