"""Object arguments: Python dict literals with string keys, for JSON Schema `object` arguments."""

from __future__ import annotations

import json
import warnings

import pytest

from bfcl_fixtures import FLIGHT, HOTEL
from planner_eval.catalog_io import CatalogWarning, catalog_from_json
from planner_eval.parse import parse_plan
from planner_eval.plan import format_plan, references
from planner_eval.score import score_plan
from planner_eval.tool_calls import actions_to_tool_calls, parse_tool_calls

with warnings.catch_warnings():
    warnings.simplefilter("ignore", CatalogWarning)
    CATALOG = catalog_from_json([FLIGHT, HOTEL])

GOLD = ('1. flight_book("SFO", "Lisbon")\n'
        '2. hotel_book("Lisbon", 3, {"view": "sea", "breakfast": True}, [38.7, -9.1], {"booking": "$1", "n": 2, "note": "Late arrival"})\n3. join()')


def outcome(pred: str, mode: str = "normalized", gold: str = GOLD) -> tuple[bool, str | None]:
    score = score_plan(gold, pred, mode, catalog=CATALOG)
    return score.success, score.error


def test_dicts_parse_and_a_whole_string_reference_in_them_is_a_dependency():
    plan = parse_plan(GOLD)
    assert plan.actions[1].args[2] == {"view": "sea", "breakfast": True} and not plan.problems
    assert references(plan.actions[1].args) == [1]
    assert outcome(GOLD) == (True, None)
    assert outcome(GOLD.replace('"$1"', '"$2"'))[1] == "bad_reference"
    assert outcome(GOLD.replace('"$1"', '"$3"'))[1] == "bad_reference"


@pytest.mark.parametrize(
    "old, new, normalized, strict",
    [
        ('{"view": "sea", "breakfast": True}', '{"breakfast": True, "view": "sea"}', True, True),  # keys as a set
        ('"Late arrival"', '" late  ARRIVAL"', True, False),  # strings inside as strings outside
        ('"breakfast": True', '"breakfast": 1', False, False),  # type-aware inside too
        ('"n": 2', '"n": 2, "m": 1', False, False),  # an extra key
        ('"n": 2, ', '', False, False),  # a missing key
        ('"booking": "$1"', '"booking": "1"', False, False),  # a reference is not its text
    ],
)
def test_objects_compare_by_keys_and_values(old, new, normalized, strict):
    pred = GOLD.replace(old, new)
    assert outcome(pred)[0] is normalized
    assert outcome(pred, "strict")[0] is strict
    assert outcome(pred, "ignore")[0] is ('"$1"' in pred)  # the edge 1 -> 2 is all that counts


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('"view": "sea"', '"view": "moon"', "should be one of 'sea', 'city', 'garden'"),
        ('{"view": "sea", "breakfast": True}', '{"breakfast": True}', "missing its required property 'view'"),
        ('"breakfast": True', '"breakfast": True, "pool": True', "has no property 'pool'"),
        ('"breakfast": True', '"breakfast": "yes"', "argument 'preferences' of hotel_book's property 'breakfast' should be bool"),
        ('{"view": "sea", "breakfast": True}', '"sea view"', "argument 'preferences' of hotel_book should be dict"),
    ],
)
def test_objects_are_checked_against_their_properties(old, new, message):
    success, error = outcome(GOLD.replace(old, new))
    assert (success, error) == (False, "bad_arguments")
    assert message in score_plan(GOLD, GOLD.replace(old, new), catalog=CATALOG).detail


def test_a_reference_fills_any_property_and_any_object():
    assert outcome(GOLD.replace('"view": "sea"', '"view": "$1"'))[1] is None
    assert outcome(GOLD.replace('{"view": "sea", "breakfast": True}', '"$1"'))[1] is None


def test_objects_go_to_tool_calls_and_back():
    actions = parse_plan(GOLD).actions
    calls = actions_to_tool_calls(actions, CATALOG)
    arguments = json.loads(calls[1]["function"]["arguments"])
    assert calls[1]["function"]["name"] == "hotel.book"
    assert arguments["preferences"] == {"view": "sea", "breakfast": True} and arguments["extra"]["booking"] == "$1"
    back = parse_tool_calls(calls, CATALOG)
    assert [a.args for a in back.actions] == [a.args for a in actions] and not back.problems
    assert parse_plan(format_plan(back.actions)).actions == back.actions
    assert outcome(back) == (True, None)


def test_single_quoted_keys_and_the_json_shortcut_read_alike():
    pred = GOLD.replace('{"view": "sea", "breakfast": True}', "{'view': 'sea', 'breakfast': True}")
    assert parse_plan(pred).actions == parse_plan(GOLD).actions


def test_a_signature_shows_an_objects_keys_and_which_are_optional():
    assert CATALOG["hotel_book"].signature().startswith(
        'hotel_book(location: str, nights: int, preferences: {"view": "sea" | "city" | "garden", "breakfast"?: bool} = ...')
