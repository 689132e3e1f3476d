"""The Berkeley Function Calling Leaderboard's formats: function docs read as they are, and its
answer files scored (`score --questions`). Entries are written by `bfcl_fixtures` in BFCL's format."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from bfcl_fixtures import ANSWERS, CIRCLE, FACTORIAL, HOTEL, QUESTIONS, write_jsonl
from planner_eval.catalog_io import CatalogWarning, catalog_from_json, read_catalog, to_native, to_openai_schemas
from planner_eval.parse import parse_plan
from planner_eval.plan import format_plan
from planner_eval.tool_calls import actions_to_tool_calls, parse_tool_calls

ROOT = Path(__file__).parent.parent


def _catalog(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogWarning)
        return catalog_from_json(data)


@pytest.mark.parametrize("category", sorted(QUESTIONS))
def test_every_entry_reads_as_it_is(category):
    for entry in QUESTIONS[category]:
        by_line, by_list = _catalog(entry), _catalog(entry["function"])
        assert list(by_line) == list(by_list) and len(by_line) == len(entry["function"])
        assert {tool.call_name for tool in by_line.values()} == {f["name"] for f in entry["function"]}


def test_bfcl_types_map_to_the_catalog_types():
    hotel = _catalog([HOTEL])["hotel_book"]
    types = {arg.name: arg.type_hint for arg in hotel.args}
    assert types == {"location": "str", "nights": "int", "preferences": "dict", "coordinates": "list[float]", "extra": "any"}
    preferences = hotel.args[2].properties
    assert [(p.name, p.type, p.required) for p in preferences] == [("view", "str", True), ("breakfast", "bool", False)]
    assert preferences[0].enum == ("sea", "city", "garden")
    circle = _catalog([CIRCLE])["geometry_area_circle"]
    assert circle.args[0].type == "float" and circle.args[1].default == "units"


def test_dotted_names_are_written_with_underscores_in_plans_and_kept_in_tool_calls():
    catalog = _catalog([FACTORIAL])
    assert list(catalog) == ["math_factorial"] and catalog["math_factorial"].call_name == "math.factorial"
    for name in ("math.factorial", "math_factorial"):
        plan = parse_tool_calls([{"function": {"name": name, "arguments": '{"number": 5}'}}], catalog)
        assert [(a.tool, a.args) for a in plan.actions] == [("math_factorial", [5])] and not plan.problems
    text = format_plan(plan.actions)
    assert text.startswith("1. math_factorial(5)")
    calls = actions_to_tool_calls(parse_plan(text).actions, catalog)
    assert calls[0]["function"] == {"name": "math.factorial", "arguments": '{"number": 5}'}
    # Exports keep the catalog's spelling, so they read back to the same catalog.
    assert to_openai_schemas(catalog)[0]["function"]["name"] == "math.factorial"
    assert _catalog(to_native(catalog))["math_factorial"].call_name == "math.factorial"
    assert _catalog(to_openai_schemas(_catalog([HOTEL]))) == _catalog([HOTEL])


def test_a_dotted_name_that_collides_with_a_plain_one_is_refused():
    from planner_eval.catalog_io import CatalogError

    plain = dict(FACTORIAL, name="math_factorial")
    with pytest.raises(CatalogError, match="duplicate name"):
        catalog_from_json([FACTORIAL, plain])


def test_wrongly_typed_defaults_and_enum_values_are_dropped_with_one_warning_each():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalog = catalog_from_json([CIRCLE, HOTEL])
    messages = [str(w.message) for w in caught if issubclass(w.category, CatalogWarning)]
    assert len(messages) == 2 and all("\n" not in m for m in messages)
    assert "'geometry.area_circle', argument 'precise': default 'false'" in messages[0]
    assert not catalog["geometry_area_circle"].args[2].has_default


def test_tools_command_reads_bfcl_files(tmp_path):
    docs = tmp_path / "docs.json"
    docs.write_text(json.dumps([FACTORIAL, CIRCLE, HOTEL]))
    line = tmp_path / "line.json"
    line.write_text(json.dumps(QUESTIONS["parallel_multiple"][0]))
    for path in (docs, line):
        run = subprocess.run([sys.executable, "-m", "planner_eval", "tools", "--tools", str(path)],
                             capture_output=True, text=True, cwd=ROOT)
        assert run.returncode == 0, run.stderr
    assert "math_factorial(number: int)" in subprocess.run(
        [sys.executable, "-m", "planner_eval", "tools", "--tools", str(docs)], capture_output=True, text=True, cwd=ROOT).stdout
    assert "hotel_book(location: str, nights: int" in run.stdout
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("warning: ")  # breakfast's "dontcare"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogWarning)
        assert read_catalog(line)["flight_book"].call_name == "flight.book"


def test_an_integer_equals_the_same_float_on_a_number_argument_only():
    from planner_eval.score import score_plan

    catalog = _catalog([CIRCLE, HOTEL])
    assert score_plan("1. geometry_area_circle(25.0)", "1. geometry_area_circle(25)", catalog=catalog).success
    assert not score_plan("1. geometry_area_circle(25.5)", "1. geometry_area_circle(25)", catalog=catalog).success
    assert not score_plan("1. geometry_area_circle(1.0)", "1. geometry_area_circle(True)", catalog=catalog).success
    assert not score_plan('1. geometry_area_circle(5.0)', '1. geometry_area_circle("5")', catalog=catalog).success
    coordinates = '1. hotel_book("Lisbon", 3, {"view": "sea"}, [38.0, -9.0])'
    assert score_plan(coordinates, coordinates.replace(".0", ""), catalog=catalog).success
    integer = score_plan('1. hotel_book("Lisbon", 3)', '1. hotel_book("Lisbon", 3.0)', catalog=catalog)
    assert integer.error == "bad_arguments"  # an integer argument stays an integer
