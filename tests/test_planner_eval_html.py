"""The HTML report (`score --html`) and the first-difference finder behind it, without a browser
(tests/test_pages_in_browser.py opens the page in Chromium)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from planner_eval.html_report import PER_PAGE, read_gold_context, render_html_report
from planner_eval.parse import parse_plan
from planner_eval.plan_diff import align, first_difference, tool_pairs
from planner_eval.report import read_plans, score_files
from planner_eval.tool_calls import parse_tool_calls

GOLD = """1. get_email_address("Sid")
2. get_email_address("Nick")
3. compose_new_email(["$1"], ["$2"], "Budget", "Send the Q3 budget", [])
4. join()<END_OF_PLAN>"""
SMS = '1. get_phone_number("Ann")\n2. send_sms(["$1"], "late")\n3. join()'
SCRIPT = "<script>window.__pwned = 1</script>"
IMAGE = '<img src=x onerror="window.__pwned = 1">'


def actions(text: str):
    return parse_plan(text).actions


def write_jsonl(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def island(page: str) -> list[dict]:
    data = re.search(r'<script type="application/json" id="case-data">(.*?)</script>', page, re.DOTALL)
    assert data is not None
    return json.loads(data.group(1))


# ---- the first difference -------------------------------------------------------------------


def test_a_wrong_argument_marks_both_actions_and_the_argument():
    found = first_difference(actions(GOLD), actions(GOLD.replace('"Nick"', '"Nik"')))
    assert found.kind == "wrong_argument"
    assert found.gold.nodes == found.pred.nodes == {2} and found.gold.arg == found.pred.arg == (2, 0)
    assert '"Nik"' in found.message and '"Nick"' in found.message and "name" in found.message


def test_swapped_references_are_a_wrong_argument_and_a_dropped_one_also_marks_the_missing_edge():
    swapped = first_difference(actions(GOLD), actions(GOLD.replace('["$1"], ["$2"]', '["$2"], ["$1"]')))
    assert swapped.kind == "wrong_argument" and swapped.pred.arg == (3, 0) and not swapped.gold.edges
    dropped = first_difference(actions(GOLD), actions(GOLD.replace('["$2"]', "[]")))
    assert dropped.kind == "wrong_argument" and dropped.gold.edges == {(2, 3)} and "cc" in dropped.message


def test_renumbered_actions_pair_up_by_tool_and_arguments():
    renumbered = '1. get_email_address("Nick")\n2. get_email_address("Sid")\n3. compose_new_email(["$2"], ["$1"], "Budget", "x", [])'
    pairs = align(actions(GOLD), actions(renumbered))
    assert pairs == {0: 1, 1: 0, 2: 2}
    found = first_difference(actions(GOLD), actions(renumbered), pairs=pairs)
    assert found.kind == "wrong_argument" and found.pred.arg == (3, 3)  # only the context differs


def test_missing_extra_and_wrong_tool_actions():
    missing = first_difference(actions(GOLD), actions('1. get_email_address("Sid")\n2. join()'))
    assert missing.kind == "missing_action" and missing.gold.nodes == {2} and not missing.pred.nodes
    extra = first_difference(actions(SMS), actions(SMS.replace("3. join()", '3. get_phone_number("Bo")\n4. join()')))
    assert extra.kind == "extra_action" and extra.pred.nodes == {3}
    wrong = first_difference(actions(SMS), actions(SMS.replace("get_phone_number", "get_email_address")))
    assert wrong.kind == "wrong_tool" and wrong.gold.nodes == wrong.pred.nodes == {1}


def test_under_ignore_only_edges_count():
    assert first_difference(actions(GOLD), actions(GOLD.replace('"Sid"', '"Bob"')), "ignore") is None
    found = first_difference(actions(GOLD), actions(GOLD.replace('["$2"]', "[]")), "ignore")
    assert found.kind == "missing_edge" and found.gold.edges == {(2, 3)}
    doubled = first_difference(actions(SMS), actions(SMS.replace('"late"', '"$1"')), "ignore")
    assert doubled is None  # the same edge twice is still one edge


def test_an_invalid_prediction_marks_the_action_its_error_names():
    found = first_difference(actions(GOLD), actions(GOLD), pred_error="bad_reference", pred_detail="action 3: $5 is not an earlier action")
    assert found.kind == "invalid" and found.pred.nodes == {3} and "bad_reference" in found.message


def test_tool_pairs_count_missing_and_extra_actions():
    pred = actions('1. get_phone_number("Sid")\n2. send_sms(["$1"], "x")\n3. create_note("a", "b", "c")')
    pairs = align(actions(GOLD), pred)
    assert sorted(tool_pairs(actions(GOLD), pred, pairs), key=str) == sorted([
        ("get_email_address", "get_phone_number"), ("get_email_address", "send_sms"),
        ("compose_new_email", "create_note")], key=str)
    assert tool_pairs(actions(SMS), [], {}) == [("get_phone_number", None), ("send_sms", None)]
    assert (None, "create_note") in tool_pairs(actions(SMS), pred, align(actions(SMS), pred))


# ---- the page -------------------------------------------------------------------------------


def mixed_files(tmp_path: Path) -> tuple[Path, Path]:
    hostile = f'1. get_phone_number({json.dumps(IMAGE)})\n2. send_sms(["$1"], {json.dumps(SCRIPT)})\n3. join()'
    # A tool name can carry markup only through tool calls (plan text needs an identifier).
    hostile_calls = [{"function": {"name": "get_phone_number", "arguments": json.dumps({"name": IMAGE})}},
                     {"function": {"name": f"send_{IMAGE}", "arguments": json.dumps({"message": SCRIPT})}}]
    gold = [
        {"id": "ok", "query": "email Sid and Nick the budget", "plan": GOLD, "intent": "email"},
        {"id": "wrong-arg", "query": "email Sid and Nik", "plan": GOLD, "intent": "email"},
        {"id": "prose", "query": f"text Ann {SCRIPT}", "plan": SMS, "intent": "sms"},
        {"id": "missing", "plan": SMS, "intent": "sms"},
        {"id": f"x{IMAGE}", "query": IMAGE, "plan": hostile, "intent": "sms"},
    ]
    pred = [
        {"id": "ok", "plan": GOLD},
        {"id": "wrong-arg", "plan": GOLD.replace('"Nick"', '"Nik"')},
        {"id": "prose", "plan": f"Sorry {SCRIPT}"},
        {"id": f"x{IMAGE}", "tool_calls": hostile_calls},
    ]
    return write_jsonl(tmp_path / "gold.jsonl", gold), write_jsonl(tmp_path / "pred.jsonl", pred)


def test_cli_writes_the_json_report_and_one_self_contained_page(tmp_path):
    gold, pred = mixed_files(tmp_path)
    out, page_path = tmp_path / "report.json", tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "planner_eval", "score", "--gold", str(gold), "--pred", str(pred),
                           "--out", str(out), "--html", str(page_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["summary"]["n"] == 5
    page = page_path.read_text()
    assert page.startswith("<!doctype html>") and "Content-Security-Policy" in page
    # Nothing outside the file: no src, no link but to its own anchors, no URL but the SVG namespace.
    assert not re.search(r"<[^>]*\b(src\s*=|href\s*=\s*\"(?!#))", page, re.IGNORECASE)
    assert 'href="#failures"' in page
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= {"http://www.w3.org/2000/svg"}
    cases = {case["i"]: case for case in island(page)}
    assert set(cases) == {"wrong-arg", "prose", "missing", f"x{IMAGE}"}
    assert cases["wrong-arg"]["q"] == "email Sid and Nik" and cases["wrong-arg"]["gm"]["arg"] == [2, 0, "name"]
    assert cases["wrong-arg"]["pm"]["nodes"] == [2] and cases["wrong-arg"]["c"] == "mismatch"
    assert cases["prose"]["px"][0] == "the predicted plan does not parse" and "pa" not in cases["prose"]
    assert cases["prose"]["p"] == f"Sorry {SCRIPT}" and cases["prose"]["e"].startswith("parse: ")
    assert cases["missing"]["px"][0] == "no prediction" and cases["missing"]["q"] is None
    assert cases[f"x{IMAGE}"]["c"] == "unknown_tool" and cases[f"x{IMAGE}"]["pm"]["nodes"] == [2]


def test_html_in_queries_arguments_ids_and_tool_names_never_reaches_the_markup(tmp_path):
    gold, pred = mixed_files(tmp_path)
    report = score_files(gold, pred)
    golds, preds = read_plans(gold)[0], read_plans(pred)[0]
    queries, intents = read_gold_context(gold)
    page = render_html_report(report, golds, preds, queries, intents=intents, title=f"run {SCRIPT}")
    # The only script elements are the page's own two, and no hostile element exists at all.
    assert page.count("<script") == 2 and page.count("</script>") == 2 and "<img" not in page.lower()
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page  # the title, escaped
    assert "send_&lt;img src=x onerror=" in page  # the unknown tool's column of the confusion table
    # In the data island every "<" is an escape, and the texts decode intact.
    assert any(case["q"] == IMAGE for case in island(page))
    assert any(SCRIPT in (case["p"] or "") for case in island(page))


def test_breakdowns_confusion_and_intents_are_on_the_page(tmp_path):
    gold, pred = mixed_files(tmp_path)
    report = score_files(gold, pred)
    queries, intents = read_gold_context(gold)
    page = render_html_report(report, read_plans(gold)[0], read_plans(pred)[0], queries, intents=intents)
    assert "Success by tool" in page and "Success by gold plan length" in page and "Success by intent" in page
    assert "Tool confusion" in page and "(none: missing)" in page
    assert re.search(r"<th>get_email_address</th><td class=num>2</td><td class=num>50\.0 %</td>", page)
    without = render_html_report(report, read_plans(gold)[0], read_plans(pred)[0])
    assert "Success by intent" not in without


def test_every_failed_case_is_in_the_island_and_pages_hold_at_least_50(tmp_path):
    n = 130
    gold = write_jsonl(tmp_path / "g.jsonl", [{"id": str(i), "plan": SMS} for i in range(n)])
    pred = write_jsonl(tmp_path / "p.jsonl", [{"id": str(i), "plan": SMS.replace("late", f"late {i}")} for i in range(n)])
    page = render_html_report(score_files(gold, pred), read_plans(gold)[0], read_plans(pred)[0])
    assert len(island(page)) == n and PER_PAGE >= 50 and f"const PER_PAGE = {PER_PAGE};" in page


def test_gold_context_from_a_tinyagent_file(tmp_path):
    records = {"q1": {"input": "text Ann <b>now</b>", "output": [{"type": "plan", "raw_output": SMS}]},
               "q2": {"input": "no plan here", "output": [{"type": "join", "raw_output": "x"}], "intent": "chat"}}
    path = tmp_path / "testing_data.json"
    path.write_text(json.dumps(records))
    assert read_gold_context(path) == ({"q1": "text Ann <b>now</b>", "q2": "no plan here"}, {"q2": "chat"})


def test_tool_call_predictions_infinite_floats_and_lone_surrogates_do_not_break_the_page(tmp_path):
    gold = {"a": SMS, "b": SMS, "c": SMS}
    preds = {
        "a": parse_tool_calls([{"function": {"name": "get_phone_number", "arguments": '{"name": "Ann"}'}},
                               {"function": {"name": "send_sms", "arguments": "not json"}}]),
        "b": '1. get_phone_number(1e999)\n2. send_sms(["$1"], "late")\n3. join()',
        "c": '1. get_phone_number("\ud800")\n2. send_sms(["$1"], "late")\n3. join()',
    }
    report = {"summary": {"n": 3}, "results": [
        {"id": k, **{"success": False, "tool_set_match": True, "error": e, "detail": d}}
        for k, e, d in (("a", "parse", "malformed: line 2: call 2: arguments are not valid JSON"), ("b", None, None), ("c", None, None))
    ]}
    from planner_eval.html_report import write_html_report

    path = write_html_report(report, gold, preds, tmp_path / "r.html", queries={"c": "odd \ud800 text"})
    cases = {case["i"]: case for case in island(path.read_text(encoding="utf-8"))}
    assert "arguments are not valid JSON" in cases["a"]["p"] and cases["a"]["p"].startswith('1. get_phone_number("Ann")')
    assert cases["b"]["pa"][0][2] == ["inf"] and cases["c"]["q"] == "odd \ud800 text"


def test_an_unwritable_html_path_is_a_one_line_error_after_the_json_report(tmp_path):
    gold = write_jsonl(tmp_path / "g.jsonl", [{"id": "a", "plan": SMS}])
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "planner_eval", "score", "--gold", str(gold), "--pred", str(gold),
                           "--out", str(out), "--html", str(tmp_path / "no" / "such" / "dir" / "r.html")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("error: cannot write") and len(done.stderr.splitlines()) == 1
    assert json.loads(out.read_text())["summary"]["success_rate"] == 1.0


@pytest.mark.parametrize("module", ["planner_eval.html_report", "planner_eval.plan_diff"])
def test_the_report_modules_import_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules, 'networkx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["False", "False"], done.stderr


def test_the_benchmark_times_scoring_and_writing_on_one_mix():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "html_report.py"
    done = subprocess.run([sys.executable, str(script), "--n", "200", "--repeat", "1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] == 200 and 0 < result["failed"] < 200 and result["page_bytes"] > 0
    assert result["score_s_median"] > 0 and result["html_s_median"] > 0 and "open_s" not in result
