"""planner_eval's BFCL verdicts against BFCL's own AST checker, on entries written in BFCL's format.

`bfcl_valid` re-implements, in this file's own code, the Python rules of BFCL's AST checker as read
in ShishirPatil/gorilla, `berkeley-function-call-leaderboard/bfcl_eval/eval_checker/ast_eval/
ast_checker.py`: the call count must equal the answer's; parallel answers are matched greedily in
answer order against unused calls; a call must name the function, give every required parameter
and no parameter outside the function's properties or the answer; an int is accepted for a float;
values must have the declared type (array and tuple items one level deep); strings compare after
dropping spaces and `,./-_*^` and lower-casing; lists compare in order after that; an object is
checked key by key against `{key: [acceptable values]}`; a parameter left out needs `""` among its
acceptable values. The cases compared avoid the documented differences (docs/evaluator.md).
"""

from __future__ import annotations

import re
import warnings

import pytest

from bfcl_fixtures import ANSWERS, QUESTIONS
from planner_eval.bfcl import score_entry
from planner_eval.catalog_io import CatalogWarning, catalog_from_json
from planner_eval.parse import parse_plan
from test_planner_eval_bfcl import variants

_TYPES = {"string": str, "integer": int, "float": float, "boolean": bool, "array": list, "tuple": list, "dict": dict, "any": str}


def _standard(text: str) -> str:
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def _typed_ok(value, schema) -> bool:
    expected = _TYPES[schema["type"]]
    if schema["type"] == "float" and type(value) is int:
        return True
    if type(value) is not expected:
        return False
    if schema["type"] in ("array", "tuple"):
        inner = _TYPES[schema["items"]["type"]]
        return all(type(v) is inner or (inner is float and type(v) is int) for v in value)
    return True


def _value_ok(value, options, schema) -> bool:
    kind = schema["type"]
    if kind == "dict":
        for option in (o for o in options if o != ""):
            if all(k in option for k in value) and all(
                    (_standard(v) if isinstance(v, str) else v) in [_standard(o) if isinstance(o, str) else o for o in option[k]]
                    for k, v in value.items()) and all(k in value or "" in opts for k, opts in option.items()):
                return True
        return False
    if kind == "string":
        return _standard(value) in [_standard(o) for o in options if isinstance(o, str)]
    if kind in ("array", "tuple"):
        norm = [_standard(v) if isinstance(v, str) else v for v in value]
        return any(norm == [_standard(v) if isinstance(v, str) else v for v in o] for o in options if isinstance(o, list))
    if kind == "float" and type(value) is int:
        value = float(value)
    return value in options


def _call_ok(function, output, answer) -> bool:
    (name, params), = answer.items()
    if name not in output:
        return False
    given = output[name]
    properties, required = function["parameters"]["properties"], function["parameters"].get("required", [])
    if any(p not in given for p in required):
        return False
    for param, value in given.items():
        if param not in properties or param not in params:
            return False
        if not _typed_ok(value, properties[param]) or not _value_ok(value, params[param], properties[param]):
            return False
    return all(p in given or "" in options for p, options in params.items())


def bfcl_valid(functions, outputs, answers) -> bool:
    if len(outputs) != len(answers):
        return False
    used: set[int] = set()
    for answer in answers:
        function = next(f for f in functions if f["name"] == next(iter(answer)))
        match = next((i for i, out in enumerate(outputs) if i not in used and _call_ok(function, out, answer)), None)
        if match is None:
            return False
        used.add(match)
    return True


def as_bfcl_output(plan_text: str, catalog) -> list[dict]:
    """A plan as BFCL's model output: [{function name: {parameter: value}}] (names as the catalog spells them)."""
    output = []
    for action in parse_plan(plan_text).actions:
        tool = catalog.get(action.tool)
        name = tool.call_name if tool else action.tool
        names = tool.arg_names if tool else [f"arg{i}" for i in range(len(action.args))]
        output.append({name: dict(zip(names, action.args))})
    return output


def cases():
    found = []
    for category in sorted(QUESTIONS):
        for question, answer in zip(QUESTIONS[category], ANSWERS[category]):
            for name, (pred, _) in variants(question["id"], category).items():
                if isinstance(pred, str):
                    found.append(pytest.param(question, answer, pred, id=f"{question['id']}: {name}"))
    extra = [
        ("simple", 1, '1. geometry_area_circle(25, "UNITS")'),
        ("simple", 1, "1. geometry_area_circle(25.5)"),
        ("multiple", 0, '1. weather_get_forecast("Berkeley, CA")'),
        ("multiple", 0, '1. weather_get_forecast("Berkeley", 4)'),
        ("parallel", 0, '1. spotify_play("abba", 15)\n2. spotify_play("Queen", 20)'),
        ("parallel", 0, '1. spotify_play("Queen", 15)\n2. spotify_play("Abba", 20)'),
        ("parallel_multiple", 0, '1. hotel_book("Lisbon", 3, {"view": "sea"})\n2. flight_book("SFO", "Lisbon")'),
        ("parallel_multiple", 0, '1. hotel_book("Lisbon", 3, {"view": "sea", "breakfast": False})\n2. flight_book("SFO", "Lisbon")'),
        ("parallel_multiple", 0, '1. hotel_book("Lisbon", 3, {"view": "city"})\n2. flight_book("SFO", "Lisbon")'),
    ]
    for category, index, plan in extra:
        found.append(pytest.param(QUESTIONS[category][index], ANSWERS[category][index], plan, id=f"{category}: {plan[:40]}"))
    return found


@pytest.mark.parametrize("question, answer, plan", cases())
def test_planner_eval_agrees_with_bfcls_checker(question, answer, plan):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CatalogWarning)
        catalog = catalog_from_json(question)
    ours = score_entry(answer["ground_truth"], catalog, plan).success
    theirs = bfcl_valid(question["function"], as_bfcl_output(plan, catalog), answer["ground_truth"])
    assert ours == theirs
