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
    assert _catalog(to_native(_catalog([HOTEL]))) == _catalog([HOTEL])  # properties survive both formats


def test_catalogs_that_spell_a_name_differently_differ():
    from planner_eval.catalog_io import catalog_difference

    dotted, plain = _catalog([FACTORIAL]), _catalog([dict(FACTORIAL, name="math_factorial")])
    assert "called 'math.factorial'" in catalog_difference(dotted, plain)
    assert catalog_difference(dotted, _catalog([FACTORIAL])) is None


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


# --- answers: score --gold possible_answer --questions BFCL_x.json --pred PRED.jsonl ---------------

def _first(options):
    value = next(o for o in options if o != "")
    if isinstance(value, dict):
        return {k: _first(v) for k, v in value.items() if any(o != "" for o in v)}
    return value


def gold_actions(entry_id: str, category: str):
    """The ground truth written as plan actions: each parameter's first acceptable value, in the
    catalog's order, stopping at the first one that may be left out."""
    from planner_eval.plan import Action

    question = next(q for q in QUESTIONS[category] if q["id"] == entry_id)
    answer = next(a for a in ANSWERS[category] if a["id"] == entry_id)
    catalog = _catalog(question)
    actions = []
    for position, call in enumerate(answer["ground_truth"], start=1):
        (name, params), = call.items()
        tool = next(t for t in catalog.values() if t.call_name == name)
        args = []
        for arg in tool.args:
            options = params.get(arg.name, [""])
            if all(o == "" for o in options):
                break
            args.append(_first(options))
        actions.append(Action(position, tool.name, args))
    return actions, catalog


def variants(entry_id: str, category: str) -> dict[str, tuple[object, tuple[bool, str | None]]]:
    """Predictions for the verdicts BFCL scoring must give, and what each must score."""
    from planner_eval.plan import Action

    actions, catalog = gold_actions(entry_id, category)
    cases = {
        "ground truth": (format_plan(actions), (True, None)),
        "ground truth as tool calls": ({"tool_calls": actions_to_tool_calls(actions, catalog)}, (True, None)),
        "unknown tool": (format_plan(actions[:-1] + [Action(actions[-1].id, "send_fax", actions[-1].args)]), (False, "unknown_tool")),
    }
    def edited(position: int, value: object) -> str:
        copy = [Action(a.id, a.tool, list(a.args)) for a in actions]
        copy[-1].args[position] = value
        return format_plan(copy)

    last = actions[-1].args
    position = next(i for i, v in enumerate(last) if isinstance(v, (str, int)) and not isinstance(v, bool))
    value = last[position]
    cases["one argument changed"] = (edited(position, value + " Heights" if isinstance(value, str) else value + 1), (False, None))
    number = next((i for i, v in enumerate(last) if isinstance(v, (int, float)) and not isinstance(v, bool)), None)
    if number is not None:
        cases["number as a string"] = (edited(number, str(last[number])), (False, "bad_arguments"))
        if isinstance(last[number], float) and last[number].is_integer():
            cases["25 against 25.0 on a number"] = (edited(number, int(last[number])), (True, None))
    if len(actions) > 1:
        cases["one call dropped"] = (format_plan(actions[:-1]), (False, None))
        reordered = [Action(i, a.tool, a.args) for i, a in enumerate(reversed(actions), start=1)]
        cases["calls reordered"] = (format_plan(reordered), (True, None))
    return cases


def _score_cli(tmp_path, category, predictions):
    answers = write_jsonl(tmp_path / f"possible_answer_{category}.json", ANSWERS[category])
    questions = write_jsonl(tmp_path / f"BFCL_v3_{category}.json", QUESTIONS[category])
    pred = write_jsonl(tmp_path / "pred.jsonl", predictions)
    done = subprocess.run([sys.executable, "-m", "planner_eval", "score", "--gold", str(answers), "--questions", str(questions),
                           "--pred", str(pred)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


@pytest.mark.parametrize("category", sorted(QUESTIONS))
def test_bfcl_verdicts_per_category(tmp_path, category):
    for answer in ANSWERS[category]:
        cases = variants(answer["id"], category)
        for name, (pred, expected) in cases.items():
            line = {"id": answer["id"], **(pred if isinstance(pred, dict) else {"plan": pred})}
            report, _ = _score_cli(tmp_path, category, [line])
            result = next(r for r in report["results"] if r["id"] == answer["id"])
            assert (result["success"], result["error"]) == expected, (category, name, pred, result["detail"])
        others = [r for r in report["results"] if r["id"] != answer["id"]]
        assert all(r["error"] == "missing" for r in others)
    assert report["summary"]["n"] == len(ANSWERS[category]) and report["summary"]["catalog"] == "bfcl"


@pytest.mark.parametrize(
    "plan, expected",
    [
        ("1. geometry_area_circle(25)", (True, None)),  # 25 against 25.0 on a number
        ("1. geometry_area_circle(25.0, \"units\", False)", (False, None)),  # precise given, gold says leave it out
        ('1. geometry_area_circle(25.0, "UNITS")', (True, None)),  # normalized strings
        ("1. geometry_area_circle(True)", (False, "bad_arguments")),
    ],
)
def test_numbers_and_optional_parameters(plan, expected):
    from planner_eval.bfcl import score_entry

    entry, answer = QUESTIONS["simple"][1], ANSWERS["simple"][1]
    score = score_entry(answer["ground_truth"], _catalog(entry), plan)
    assert (score.success, score.error) == expected


@pytest.mark.parametrize(
    "plan, success",
    [
        ('1. weather_get_forecast("Berkeley, CA")', True),  # another acceptable value; days may be left out
        ('1. weather_get_forecast("berkeley", 3)', True),
        ('1. weather_get_forecast("Berkeley", 4)', False),
        ('1. get_stock_price("Berkeley")', False),
    ],
)
def test_acceptable_values_and_optional_parameters(plan, success):
    from planner_eval.bfcl import score_entry

    score = score_entry(ANSWERS["multiple"][0]["ground_truth"], _catalog(QUESTIONS["multiple"][0]), plan)
    assert (score.success, score.error) == (success, None)


@pytest.mark.parametrize(
    "preferences, expected",
    [
        ('{"view": "sea"}', (True, None)),  # breakfast may be left out
        ('{"breakfast": True, "view": "sea"}', (True, None)),
        ('{"view": "Sea"}', (False, "bad_arguments")),  # enums are exact (BFCL's checker has no enum check)
        ('{"view": "city"}', (False, None)),
        ('{"view": "sea", "breakfast": False}', (False, None)),
        ('{"view": "sea", "pool": True}', (False, "bad_arguments")),
    ],
)
def test_object_arguments_against_bfcl_answers(preferences, expected):
    from planner_eval.bfcl import score_entry

    plan = f'1. flight_book("San Francisco", "Lisbon")\n2. hotel_book("Lisbon", 3, {preferences})'
    score = score_entry(ANSWERS["parallel_multiple"][0]["ground_truth"], _catalog(QUESTIONS["parallel_multiple"][0]), plan)
    assert (score.success, score.error) == expected


def test_a_dependency_never_matches_independent_calls():
    from planner_eval.bfcl import score_entry

    plan = '1. spotify_play("Queen", 20)\n2. spotify_play("$1", 15)'
    score = score_entry(ANSWERS["parallel"][0]["ground_truth"], _catalog(QUESTIONS["parallel"][0]), plan, "ignore")
    assert (score.success, score.error) == (False, None)


@pytest.mark.parametrize(
    "which, content, message",
    [
        ("gold", lambda text: text[: len(text) // 2], "not JSON"),  # truncated
        ("questions", lambda text: "this is not JSON\n", "not JSON"),
        ("questions", lambda text: json.dumps({"id": "simple_0", "question": []}) + "\n", "has no 'function' list"),
        ("gold", lambda text: json.dumps({"id": "simple_0"}) + "\n", "has no 'ground_truth' list"),
        ("questions", lambda text: json.dumps({"id": "other", "function": [FACTORIAL]}) + "\n", "no question with the answer's id"),
        ("questions", lambda text: json.dumps({"id": "simple_0", "function": [{"name": "f", "parameters": {"type": "String"}}]})
         + "\n" + text.split("\n", 1)[1], "entry 'simple_0'"),  # a function doc that cannot be read
    ],
)
def test_bad_bfcl_files_are_a_one_line_error(tmp_path, which, content, message):
    paths = {"gold": write_jsonl(tmp_path / "answers.json", ANSWERS["simple"]),
             "questions": write_jsonl(tmp_path / "questions.json", QUESTIONS["simple"])}
    paths[which].write_text(content(paths[which].read_text()))
    pred = write_jsonl(tmp_path / "pred.jsonl", [{"id": "simple_0", "plan": "1. math_factorial(5)"}])
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "planner_eval", "score", "--gold", str(paths["gold"]), "--questions",
                           str(paths["questions"]), "--pred", str(pred), "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not out.exists()


def test_a_whole_bfcl_data_file_as_a_catalog_is_a_one_line_error_with_a_pointer(tmp_path):
    path = write_jsonl(tmp_path / "BFCL_v3_simple.json", QUESTIONS["simple"])
    run = subprocess.run([sys.executable, "-m", "planner_eval", "tools", "--tools", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "score --questions" in run.stderr
