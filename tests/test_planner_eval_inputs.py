"""Inputs beyond {"id", "plan"} lines: OpenAI-style tool calls and TinyAgent-format gold files."""

from __future__ import annotations

import json

import pytest
from test_planner_eval_catalog import CATALOG, GOLD
from test_planner_eval_cli import run_cli, score, write_jsonl

from planner_eval.parse import parse_plan
from planner_eval.score import score_plan
from planner_eval.tinyagent_format import load_tinyagent_json, record_plan
from planner_eval.tool_calls import (
    ToolCallError,
    actions_to_tool_calls,
    parse_tool_calls,
    tool_calls_to_actions,
    tool_calls_to_plan_text,
)

EMAIL = """1. get_email_address("Sid")
2. get_email_address("Nick")
3. compose_new_email(["$1"], ["$2"], "Budget", "Send the Q3 budget", [])
4. join()<END_OF_PLAN>"""


def call(name: str, arguments: object) -> dict:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "call_x", "type": "function", "function": {"name": name, "arguments": text}}


def test_tool_calls_become_positional_actions():
    calls = [
        call("get_email_address", {"name": "Nick"}),
        call("get_email_address", {"name": "Sid"}),
        # keyword order does not matter; the catalog fixes the positions
        call("compose_new_email", {"subject": "Budget", "cc": ["$1"], "recipients": ["$2"], "attachments": [], "context": "Send the Q3 budget"}),
    ]
    actions = tool_calls_to_actions(calls)
    assert [a.id for a in actions] == [1, 2, 3]
    assert actions[2].args == [["$2"], ["$1"], "Budget", "Send the Q3 budget", []]
    assert tool_calls_to_plan_text(calls).endswith("4. join()<END_OF_PLAN>")
    assert score_plan(EMAIL, parse_tool_calls(calls), "strict").success
    swapped = calls[:2] + [call("compose_new_email", {**json.loads(calls[2]["function"]["arguments"]), "cc": ["$2"], "recipients": ["$1"]})]
    assert not score_plan(EMAIL, parse_tool_calls(swapped)).success


def test_actions_to_tool_calls_round_trip_with_renumbering():
    plan = parse_plan(GOLD.replace("1. get_location", "4. get_location").replace('"$1"', '"$4"').replace("2. get_forecast", "6. get_forecast").replace('"$2"', '"$6"').replace("3. create", "7. create").replace('"$3"', '"$7"').replace("4. send", "8. send").replace("5. join", "9. join"))
    calls = actions_to_tool_calls(plan.actions, CATALOG)
    assert [c["id"] for c in calls] == ["call_1", "call_2", "call_3", "call_4"]
    assert json.loads(calls[3]["function"]["arguments"]) == {"message": "$2", "urgent": True, "channels": ["$3", 2]}
    assert tool_calls_to_plan_text(calls, CATALOG) == GOLD.replace("5. join()", "5. join()<END_OF_PLAN>")
    with pytest.raises(ValueError, match="unknown tool"):
        actions_to_tool_calls(parse_plan('1. nope("x")').actions, CATALOG)


@pytest.mark.parametrize(
    "forecast, expected",
    [
        ({"location": "$1", "days": 5}, (True, None)),
        ({"days": 5, "location": "$1", "units": "metric"}, (True, None)),
        ({"location": "$1", "units": "metric"}, (False, None)),  # days takes its default, 3
        ({"location": "$1", "days": "5"}, (False, "bad_arguments")),
        ({"days": 5}, (False, "bad_arguments")),  # the required location is missing
        ({"location": "$1", "days": 5, "hourly": True}, (False, "bad_arguments")),  # no such argument
        ('{"location": "$1", "days": 5', (False, "parse")),  # truncated JSON
        ('["$1", 5]', (False, "parse")),  # not an object
        ({"location": {"lat": 1}, "days": 5}, (False, "bad_arguments")),  # an object where a string goes
        ('{"location": "$1", "days": NaN}', (False, "parse")),
    ],
)
def test_tool_calls_against_a_custom_catalog(forecast, expected):
    calls = [
        call("get_location", {"place": "Berkeley"}),
        call("get_forecast", forecast),
        call("create_event", {"title": "Picnic", "start": "2026-06-01 12:00:00", "attendees": ["ann@x.com"], "reminder_minutes": None}),
        call("send_alert", {"message": "$2", "urgent": True, "channels": ["$3", 2]}),
    ]
    scored = score_plan(GOLD, parse_tool_calls(calls, CATALOG), catalog=CATALOG)
    assert (scored.success, scored.error) == expected


def test_an_optional_argument_left_out_before_a_later_one():
    calls = [call("create_event", {"title": "t", "start": "s", "reminder_minutes": 5})]
    assert tool_calls_to_actions(calls, CATALOG)[0].args == ["t", "s", None, 5]
    assert score_plan('1. create_event("t", "s", None, 5)', parse_tool_calls(calls, CATALOG), catalog=CATALOG).success


def test_unusable_calls_are_parse_problems_not_exceptions():
    plan = parse_tool_calls([None, {"function": {"name": ""}}, {"function": "x"}, call("get_phone_number", "")])
    assert [p.line for p in plan.problems] == [1, 2, 3]
    assert plan.actions[0].args == [] and plan.has_join
    with pytest.raises(ToolCallError, match="call 1"):
        tool_calls_to_actions([None])
    assert score_plan("1. join()", parse_tool_calls([])).success  # no calls: the empty plan


def test_cli_scores_tool_calls_and_plans_side_by_side(tmp_path):
    gold = [{"id": str(i), "plan": EMAIL} for i in range(5)]
    good = actions_to_tool_calls(parse_plan(EMAIL).actions)
    pred = [
        {"id": "0", "tool_calls": good},
        {"id": "1", "tool_calls": good[:2] + [call("compose_new_email", {"recipients": ["$1"], "cc": "$2"})]},
        {"id": "2", "tool_calls": "not a list"},
        {"id": "3", "tool_calls": None},
        {"id": "4", "plan": EMAIL.replace("Sid", "sid")},
    ]
    report, stderr = score(tmp_path, gold, pred, "--check-args")
    outcome = [(r["success"], r["error"]) for r in report["results"]]
    assert outcome == [(True, None), (False, "bad_arguments"), (False, "missing"), (False, None), (True, None)]
    assert "pred.jsonl:3: \"tool_calls\" is not a list" in stderr
    assert report["summary"]["check_args"] is True and report["summary"]["catalog"] == "builtin"


def tinyagent_record(plan_step: dict) -> dict:
    return {"input": "q", "output": [{"type": "join", "raw_output": "x"}, {"type": "plan", **plan_step}]}


def test_gold_from_a_tinyagent_file(tmp_path):
    parsed = [
        {"tool_name": "get_phone_number", "tool_args": {"name": "Ann"}},
        {"tool_name": "send_sms", "tool_args": {"message": "late", "recipients": ["$1"]}},
        {"tool_name": "join", "tool_args": {}},
    ]
    records = {
        "raw": tinyagent_record({"raw_output": EMAIL, "parsed_output": []}),
        "rebuilt": tinyagent_record({"parsed_output": parsed}),
        "noplan": {"input": "q", "output": [{"type": "join"}]},
    }
    path = tmp_path / "testing_data.json"
    path.write_text(json.dumps(records, indent=1))
    assert record_plan(records["rebuilt"]) == '1. get_phone_number("Ann")\n2. send_sms(["$1"], "late")\n3. join()<END_OF_PLAN>'
    pred = write_jsonl(tmp_path / "pred.jsonl", [{"id": "raw", "plan": EMAIL}, {"id": "rebuilt", "plan": '1. get_phone_number("Ann")\n2. send_sms(["$1"], "late")'}])
    done = run_cli("score", "--gold", str(path), "--pred", str(pred), "--check-args")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(r["id"], r["success"]) for r in report["results"]] == [("raw", True), ("rebuilt", True)]
    assert "record 'noplan': no \"plan\" step; record skipped" in done.stderr
    assert report["summary"]["skipped_lines"]["gold"] == 1


def test_jsonl_files_are_not_mistaken_for_tinyagent_files(tmp_path):
    jsonl = write_jsonl(tmp_path / "a.jsonl", [{"id": "x", "plan": EMAIL}, {"id": "y", "plan": EMAIL}])
    assert load_tinyagent_json(jsonl) is None
    one_object = tmp_path / "b.json"
    one_object.write_text(json.dumps({"x": {"input": "q", "output": []}}))
    assert load_tinyagent_json(one_object) == {"x": {"input": "q", "output": []}}
    (tmp_path / "c.json").write_text('{"x": 1}\n')
    assert load_tinyagent_json(tmp_path / "c.json") is None


def test_generated_gold_plans_pass_the_builtin_argument_checks(tmp_path):
    from tinyagent_ft.data import generate_splits, write_tinyagent_file  # tests may reach upwards

    records = generate_splits(0, 0, 400, seed=3)["test"]
    assert any(", None)" in record_plan(r) for r in records.values())  # calendar=None is among them
    path = tmp_path / "testing_data.json"
    write_tinyagent_file(records, path)
    done = run_cli("score", "--gold", str(path), "--pred", str(path), "--check-args")
    summary = json.loads(done.stdout)["summary"]
    assert summary["n"] == 400 and summary["valid_rate"] == 1.0 and summary["check_args"]
