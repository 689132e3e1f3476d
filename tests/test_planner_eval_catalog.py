"""Catalogs other than TinyAgent's: reading them (OpenAI schemas, native), argument checks, defaults."""

from __future__ import annotations

import ast
import json
import random
from pathlib import Path

import pytest

from benchmark_scripts import load_benchmark
from planner_eval.argtypes import parse_type, type_checker, type_from_schema, type_to_schema
from planner_eval.catalog import TOOLS
from planner_eval.catalog_io import (
    CatalogError,
    catalog_from_json,
    from_openai_schemas,
    read_catalog,
    to_native,
    to_openai_schemas,
)
from planner_eval.parse import parse_plan
from planner_eval.plan import format_plan
from planner_eval.score import score_plan

TESTS = Path(__file__).parent

evaluator_speed = load_benchmark("evaluator_speed")  # the realistic prediction mix

# Four tools of a weather and calendar app as OpenAI function schemas (also the README's example).
WEATHER = json.loads((Path(__file__).parent / "data" / "weather_tools.json").read_text())
CATALOG = from_openai_schemas(WEATHER)

GOLD = """1. get_location("Berkeley")
2. get_forecast("$1", 5)
3. create_event("Picnic", "2026-06-01 12:00:00", ["ann@x.com"], None)
4. send_alert("$2", True, ["$3", 2])
5. join()"""


def result(pred: str, mode: str = "normalized", gold: str = GOLD) -> tuple[bool, str | None]:
    score = score_plan(gold, pred, mode, catalog=CATALOG)
    return score.success, score.error


def test_openai_schemas_give_positional_arguments_required_first():
    assert CATALOG["create_event"].arg_names == ("title", "start", "attendees", "reminder_minutes")
    reminder = CATALOG["create_event"].args[3]
    assert (reminder.type, reminder.nullable, reminder.required) == ("int", True, False)
    assert CATALOG["get_forecast"].args[1].default == 3 and CATALOG["get_forecast"].required_count == 1
    assert CATALOG["send_alert"].args[2].type == "list[str | int]"
    assert CATALOG["get_location"].description == "Coordinates of a place."


def test_renumbered_and_reordered_plans_match():
    pred = """Thought: the event does not depend on the weather.
3. create_event("picnic", "2026-06-01 12:00:00", ["ann@x.com"], None)
7. get_location("berkeley")
8. get_forecast("$7", 5, "metric")
9. send_alert("$8", True, [2, "$3"])"""
    assert result(GOLD) == (True, None)
    assert result(pred) == (True, None)
    assert result(pred, "strict") == (False, None)


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ('get_forecast("$1", 5)', 'get_forecast("$1", 6)', (False, None)),  # wrong value
        ('send_alert("$2", True', 'send_alert("$3", True', (False, None)),  # wrong reference
        ('get_forecast("$1", 5)', 'get_forecast("$1", "5")', (False, "bad_arguments")),  # wrong type
        ('get_forecast("$1", 5)', 'get_forecast("$1", True)', (False, "bad_arguments")),  # bool is no int
        ('get_forecast("$1", 5)', 'get_forecast("$1", "$1")', (False, None)),  # a reference fits any slot
        ('get_forecast("$1", 5)', "get_forecast()", (False, "bad_arguments")),  # missing required
        ('get_location("Berkeley")', 'get_location("Berkeley", "CA")', (False, "bad_arguments")),  # too many
        ('["ann@x.com"], None)', '["ann@x.com"], "10")', (False, "bad_arguments")),
        ('["ann@x.com"], None)', '["ann@x.com"], 10)', (False, None)),  # right type, other value
        ('["$3", 2]', '["$3", 2.5]', (False, "bad_arguments")),  # a float in list[str | int]
        ('send_alert("$2", True, ["$3", 2])', 'send_alert("$2", True)', (False, None)),  # optional left out
        ('get_location("Berkeley")', 'get_weather("Berkeley")', (False, "unknown_tool")),
    ],
)
def test_edited_plans(old, new, expected):
    assert old in GOLD
    assert result(GOLD.replace(old, new)) == expected


def test_an_omitted_argument_equals_its_default():
    gold = GOLD.replace('get_forecast("$1", 5)', 'get_forecast("$1")')
    assert result(GOLD.replace('get_forecast("$1", 5)', 'get_forecast("$1", 3, "metric")'), gold=gold) == (True, None)
    assert result(GOLD.replace('get_forecast("$1", 5)', 'get_forecast("$1", 3, "imperial")'), gold=gold) == (False, None)
    assert parse_plan('1. get_forecast("x")', CATALOG).actions[0].args == ["x", 3, "metric"]
    assert parse_plan('1. get_forecast("x")').actions[0].args == ["x"]


def test_bad_arguments_comes_after_unknown_tool_and_before_duplicate_ids_and_references():
    lines = GOLD.splitlines()
    too_many = 'get_location("Berkeley", "CA")'
    assert result(GOLD.replace('get_location("Berkeley")', too_many).replace("get_forecast", "get_weather"))[1] == "unknown_tool"
    duplicate = "\n".join([lines[0].replace('get_location("Berkeley")', too_many), lines[0], *lines[1:]])
    assert result(duplicate)[1] == "bad_arguments"
    assert result(GOLD.replace('get_forecast("$1", 5)', 'get_forecast("$9", "x")'))[1] == "bad_arguments"


def test_a_line_checked_once_is_checked_again_under_another_catalog():
    # Without defaults or numbers to fill in, a parsed line's action is shared by every plan that
    # has it, and its argument check is remembered: per catalog, as each may answer differently.
    def catalog(kind: str) -> dict:
        parameters = {"type": "object", "properties": {"x": {"type": kind}}, "required": ["x"]}
        return from_openai_schemas([{"type": "function", "function": {"name": "f", "parameters": parameters}}])

    plan = "1. f(5)\n2. join()"
    for _ in range(2):
        assert score_plan(plan, plan + " ", catalog=catalog("integer")).error is None
        assert score_plan(plan, plan + " ", catalog=catalog("string")).error == "gold_invalid"


def test_argument_checks_are_off_when_arguments_are_ignored_or_not_asked_for():
    wrong_type = GOLD.replace('get_forecast("$1", 5)', 'get_forecast("$1", "5", "metric", 1)')
    assert result(wrong_type, "ignore") == (True, None)
    assert score_plan(GOLD, wrong_type, catalog=CATALOG, check_args=False).error is None
    builtin = '1. get_phone_number("Ann", "extra")\n2. join()'
    assert score_plan(builtin, builtin + " ").error is None
    assert score_plan(builtin, builtin + " ", check_args=True).error == "gold_invalid"


def test_the_builtin_catalog_accepts_none_for_calendar_only():
    event = '1. create_calendar_event("t", "", "", "", [], "", {})\n2. join()'
    assert score_plan(event.format("None"), event.format("None"), check_args=True).success
    assert score_plan(event.format("None"), event.format('"Work"'), check_args=True).error is None
    assert score_plan(event.format("None"), event.format("None").replace('"t"', "None"), check_args=True).error == "bad_arguments"


def plans_of_the_existing_tests() -> list[str]:
    """Every string that looks like a call in the evaluator's other test modules."""
    texts: set[str] = set()
    for name in ("match", "validate", "cli", "parse", "fuzz"):
        tree = ast.parse((TESTS / f"test_planner_eval_{name}.py").read_text())
        texts.update(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and "(" in n.value)
    return sorted(texts)


@pytest.mark.parametrize("fmt", ["openai", "native"])
def test_exported_builtin_catalog_scores_every_case_the_same(fmt):
    exported = to_openai_schemas() if fmt == "openai" else to_native()
    catalog = catalog_from_json(json.loads(json.dumps(exported)))
    assert list(catalog) == list(TOOLS)
    assert all(catalog[name].args == tool.args for name, tool in TOOLS.items())
    texts = plans_of_the_existing_tests()
    assert len(texts) > 50
    pairs = [(gold, pred) for gold in texts for pred in texts]
    rng = random.Random(7)
    for _ in range(300):
        gold = format_plan(evaluator_speed.synthesize_plan(rng))
        pairs.append((gold, evaluator_speed.make_prediction(rng, gold)[1]))
    for gold, pred in pairs:
        for mode in ("normalized", "strict", "ignore"):
            for check in (False, True):
                assert score_plan(gold, pred, mode, catalog, check) == score_plan(gold, pred, mode, None, check)


def test_native_round_trip_keeps_everything():
    assert catalog_from_json(to_native(CATALOG)) == CATALOG
    assert catalog_from_json(to_openai_schemas(CATALOG)) == CATALOG
    assert catalog_from_json({"tools": WEATHER}) == CATALOG


def test_json_schema_types_map_both_ways():
    cases = {
        "str": {"type": "string"},
        "float": {"type": "number"},
        "bool | None": {"type": ["boolean", "null"]},
        "list": {"type": "array"},
        "list[list[int]]": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
        "dict": {"type": "object"},
        "any": {},
    }
    for text, schema in cases.items():
        assert type_from_schema(schema) == text and type_to_schema(text) == schema
    assert type_from_schema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}) == "str | list[str]"
    assert type_to_schema("str | list[str]") == {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    assert parse_type("list[ str|int ] | any") == ("any",)
    for bad in ("string", "list[str", "int |", "list[str]]", ""):
        with pytest.raises(ValueError):
            parse_type(bad)
    with pytest.raises(ValueError, match="unknown JSON Schema type"):
        type_from_schema({"type": "strin"})


@pytest.mark.parametrize(
    "text, good, bad",
    [
        ("int", [0, -3, "$2"], [True, 1.0, "5", None, "$x"]),
        ("float", [1, 1.5], [False, "1.5"]),
        ("list[str]", [[], ["a", "$1"], "$4"], [["a", 1], "a", [["a"]]]),
        ("str | None", ["", None], [0, []]),
        ("dict", ["$1"], [[], "x"]),
        ("any", [None, [1, "a"], {}], []),
    ],
)
def test_type_checks(text, good, bad):
    check = type_checker(text)
    assert all(check(value) for value in good) and not any(check(value) for value in bad)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"foo": 1}, "expected a list of tools"),
        ([1], "tool 1: not a JSON object"),
        ([{"type": "function", "function": {"description": "x"}}], "missing or empty name"),
        ([{"name": "a"}, {"name": "b"}, {"name": "a"}], "tool 3: duplicate name 'a'"),
        ([{"name": "a", "parameters": {"type": "object", "properties": {"x": {"type": "strin"}}}}], "unknown JSON Schema type 'strin'"),
        ([{"name": "a", "parameters": {"type": "object", "properties": {}, "required": ["x"]}}], "'x' is not among the properties"),
        ([{"name": "a", "parameters": {"type": "array"}}], '"type": "object"'),
        ([{"name": "get-weather"}], "cannot be called in a plan"),
        ([{"name": "join"}], "reserved"),
        ({"tools": [{"name": "a", "args": [{"name": "x", "type": "string"}]}]}, "unknown type 'string'"),
        ({"tools": [{"name": "a", "args": [{"name": "x", "type": "str", "required": False}, {"name": "y", "type": "int"}]}]}, "comes after an optional"),
        ({"tools": [{"name": "a", "args": [{"name": "x", "type": "str"}, {"name": "x", "type": "int"}]}]}, "appears twice"),
    ],
)
def test_malformed_catalogs_raise_one_line_errors(data, message):
    with pytest.raises(CatalogError, match=message.replace("[", r"\[")) as info:
        catalog_from_json(data)
    assert "\n" not in str(info.value)


def test_native_defaults_and_null_defaults():
    catalog = catalog_from_json(
        {
            "tools": [
                {
                    "name": "search",
                    "args": [
                        {"name": "query", "type": "str"},
                        {"name": "limit", "type": "int", "required": False, "default": 10},
                        {"name": "lang", "type": "str", "required": False, "default": None},
                        {"name": "filters", "type": "dict", "required": False, "default": {}},
                    ],
                }
            ]
        }
    )
    lang, filters = catalog["search"].args[2:]
    assert lang.nullable and filters.default == {}  # plans write dict literals, {} among them
    assert score_plan('1. search("x")', '1. search("x", 10, None, {})', catalog=catalog).success
    assert score_plan('1. search("x", 5)', '1. search("x")', catalog=catalog).error is None


def test_read_catalog_reports_json_errors(tmp_path):
    path = tmp_path / "tools.json"
    path.write_text("[{")
    with pytest.raises(CatalogError, match="not JSON"):
        read_catalog(path)
    path.write_bytes(b"\xff\xfe\x00[")
    with pytest.raises(CatalogError, match="not UTF-8"):
        read_catalog(path)
    path.write_text(json.dumps(WEATHER))
    assert read_catalog(path) == CATALOG
