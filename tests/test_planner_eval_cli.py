"""The evaluator CLI contract, run as a user would: a subprocess on JSONL files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

GOLD = """1. get_email_address("Sid")
2. get_email_address("Nick")
3. compose_new_email(["$1"], ["$2"], "Budget", "Send the Q3 budget", [])
4. join()<END_OF_PLAN>"""
RENUMBERED = """1. get_email_address("Nick")
2. get_email_address("sid")
3. compose_new_email(["$2"], ["$1"], "budget", "Send the  Q3 budget", [])
4. join()"""
SWAPPED = GOLD.replace('["$1"], ["$2"]', '["$2"], ["$1"]')
SMS = '1. get_phone_number("Ann")\n2. send_sms(["$1"], "late")\n3. join()'


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "planner_eval", *args], capture_output=True, text=True, timeout=60
    )


def write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def score(tmp_path: Path, gold: list, pred: list, *extra: str) -> tuple[dict, str]:
    gold_path = write_jsonl(tmp_path / "gold.jsonl", gold)
    pred_path = write_jsonl(tmp_path / "pred.jsonl", pred)
    done = run_cli("score", "--gold", str(gold_path), "--pred", str(pred_path), *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_report_follows_the_contract(tmp_path):
    gold = [
        {"id": "ok", "plan": GOLD},
        {"id": "swap", "plan": GOLD},
        {"id": "badref", "plan": GOLD},
        {"id": "prose", "plan": SMS},
        {"id": "nopred", "plan": SMS},
        {"id": "badgold", "plan": '1. get_phone_number("a")\n1. join()'},
    ]
    pred = [
        {"id": "ok", "plan": RENUMBERED},
        {"id": "swap", "plan": SWAPPED},
        {"id": "badref", "plan": GOLD.replace('["$2"]', '["$5"]')},
        {"id": "prose", "plan": "Sorry, I can't."},
        {"id": "badgold", "plan": SMS},
        {"id": "stranger", "plan": SMS},
    ]
    report, _ = score(tmp_path, gold, pred)
    results = {r["id"]: r for r in report["results"]}
    assert [r["id"] for r in report["results"]] == [g["id"] for g in gold]
    assert {k: (r["success"], r["tool_set_match"], r["error"]) for k, r in results.items()} == {
        "ok": (True, True, None),
        "swap": (False, True, None),
        "badref": (False, True, "bad_reference"),
        "prose": (False, False, "parse"),
        "nopred": (False, False, "missing"),
        "badgold": (False, False, "gold_invalid"),
    }
    summary = report["summary"]
    assert summary["n"] == 6 and summary["extra"] == 1
    assert summary["success_rate"] == pytest.approx(1 / 6)
    assert summary["tool_set_accuracy"] == pytest.approx(3 / 6)
    assert summary["errors"]["missing"] == 1 and summary["errors"]["gold_invalid"] == 1
    assert summary["errors"]["parse"] == 1 and summary["errors"]["bad_reference"] == 1
    for name in ("tool_precision", "tool_recall", "tool_f1", "edge_f1"):
        assert 0.0 <= summary[name] <= 1.0


def test_args_modes_through_the_cli(tmp_path):
    gold, pred = [{"id": "1", "plan": GOLD}], [{"id": "1", "plan": RENUMBERED}]
    assert score(tmp_path, gold, pred)[0]["results"][0]["success"]
    assert not score(tmp_path, gold, pred, "--args", "strict")[0]["results"][0]["success"]
    swapped = [{"id": "1", "plan": SWAPPED}]
    assert score(tmp_path, gold, swapped, "--args", "ignore")[0]["summary"]["success_rate"] == 1.0


def test_bad_lines_are_reported_with_line_numbers_and_skipped(tmp_path):
    gold = [{"id": "a", "plan": SMS}, {"id": "b", "plan": SMS}, {"id": "c", "plan": SMS}, {"id": 7, "plan": SMS}]
    pred = [
        {"id": "a", "plan": SMS},
        "{not json",
        "",
        '["a", "list"]',
        {"id": "b"},
        {"id": None, "plan": SMS},
        {"id": "c", "plan": 5},
        {"id": "a", "plan": "duplicate"},
        {"id": "7", "plan": SMS},
        "\u00ff\u0000garbage",
    ]
    report, stderr = score(tmp_path, gold, pred)
    errors = {r["id"]: r["error"] for r in report["results"]}
    assert errors == {"a": None, "b": "missing", "c": "missing", "7": None}
    for number in (2, 4, 5, 6, 7, 8, 10):
        assert f"pred.jsonl:{number}:" in stderr
    assert "pred.jsonl:3:" not in stderr and "pred.jsonl:9:" not in stderr  # blank line and a good one
    assert report["summary"]["skipped_lines"] == {"gold": 0, "pred": 7}


def test_duplicate_gold_ids_keep_the_first(tmp_path):
    gold = [{"id": "a", "plan": GOLD}, {"id": "a", "plan": SMS}]
    report, stderr = score(tmp_path, gold, [{"id": "a", "plan": GOLD}])
    assert report["summary"]["n"] == 1 and report["results"][0]["success"]
    assert "gold.jsonl:2: duplicate id 'a' (first on line 1)" in stderr


def test_empty_gold_file_gives_zero_rates(tmp_path):
    report, _ = score(tmp_path, [], [{"id": "a", "plan": SMS}])
    assert report["summary"]["n"] == 0 and report["summary"]["success_rate"] == 0.0
    assert report["results"] == [] and report["summary"]["extra"] == 1


def test_out_file_and_help(tmp_path):
    gold = write_jsonl(tmp_path / "g.jsonl", [{"id": "a", "plan": SMS}])
    out = tmp_path / "report.json"
    done = run_cli("score", "--gold", str(gold), "--pred", str(gold), "--out", str(out))
    assert done.returncode == 0 and done.stdout == ""
    assert json.loads(out.read_text())["summary"]["success_rate"] == 1.0
    for args, expected in ((["--help"], "score"), (["score", "--help"], "--args")):
        helped = run_cli(*args)
        assert helped.returncode == 0 and expected in helped.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["score", "--gold", "/nonexistent/gold.jsonl", "--pred", "/nonexistent/pred.jsonl"],
        ["score", "--gold", "{tmp}", "--pred", "{tmp}"],  # a directory
        ["score", "--gold", "{gold}", "--pred", "{gold}", "--out", "/nonexistent/dir/r.json"],
        ["score", "--gold", "{gold}", "--pred", "{gold}", "--args", "fuzzy"],
        ["score", "--gold", "{gold}"],
        [],
    ],
)
def test_bad_invocations_exit_non_zero_with_one_line(tmp_path, args):
    gold = write_jsonl(tmp_path / "g.jsonl", [{"id": "a", "plan": SMS}])
    done = run_cli(*(a.format(tmp=tmp_path, gold=gold) for a in args))
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error:")


def test_importing_the_package_does_not_import_torch():
    code = (
        "import sys, pkgutil, importlib, planner_eval\n"
        "names = [m.name for m in pkgutil.iter_modules(planner_eval.__path__) if m.name != '__main__']\n"
        "assert {'parse', 'validate', 'graph', 'match', 'metrics', 'score', 'report', 'cli'} <= set(names), names\n"
        "assert {'catalog_io', 'tool_calls', 'tinyagent_format', 'argtypes'} <= set(names), names\n"
        "for name in names: importlib.import_module('planner_eval.' + name)\n"
        "planner_eval.score_plan\n"
        "heavy = {'torch', 'transformers', 'numpy', 'networkx', 'datasets', 'tinyagent_ft'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_odd_predictions_leave_stderr_quiet(tmp_path):
    odd = ["1. get_email_address(1abc)", "1. get_email_address('\\d')", "1. f(0x)", '1. send_sms(["$1"], "x")']
    gold = [{"id": str(i), "plan": SMS} for i in range(len(odd))]
    pred = [{"id": str(i), "plan": text} for i, text in enumerate(odd)]
    report, stderr = score(tmp_path, gold, pred)
    assert stderr == ""
    # '\d' is a valid (if warned-about) string literal; the others do not parse.
    assert [r["error"] for r in report["results"]] == ["parse", None, "parse", "bad_reference"]


def test_tools_export_both_formats_and_score_with_them(tmp_path):
    gold = [{"id": "ok", "plan": GOLD}, {"id": "extra", "plan": SMS}]
    pred = [{"id": "ok", "plan": RENUMBERED}, {"id": "extra", "plan": SMS.replace('"late")', '"late", 3)')}]
    plain, _ = score(tmp_path, gold, pred)
    checked, _ = score(tmp_path, gold, pred, "--check-args")
    assert [r["error"] for r in plain["results"]] == [None, None]
    for fmt in ("openai", "native"):
        path = tmp_path / f"{fmt}.json"
        done = run_cli("tools", "--export", "--format", fmt, "--out", str(path))
        assert done.returncode == 0 and done.stdout == ""
        with_tools, _ = score(tmp_path, gold, pred, "--tools", str(path))
        assert with_tools["results"] == checked["results"]
        assert [r["error"] for r in with_tools["results"]] == [None, "bad_arguments"]
        assert with_tools["summary"]["catalog"] == str(path) and with_tools["summary"]["check_args"]
        ignored, _ = score(tmp_path, gold, pred, "--tools", str(path), "--args", "ignore")
        assert ignored["results"] == score(tmp_path, gold, pred, "--args", "ignore")[0]["results"]
    exported = json.loads(run_cli("tools", "--export").stdout)
    assert exported[0]["type"] == "function" and len(exported) == 16
    listing = run_cli("tools", "--tools", str(tmp_path / "native.json"))
    assert listing.returncode == 0 and "calendar: str | None" in listing.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not JSON"),
        ('[{"type": "function", "function": {"parameters": {}}}]', "missing or empty name"),
        ('[{"name": "a"}, {"name": "a"}]', "duplicate name 'a'"),
        ('[{"name": "a", "parameters": {"type": "object", "properties": {"x": {"type": "text"}}}}]', "unknown JSON Schema type"),
        ('{"tools": 3}', "expected a list of tools"),
    ],
)
@pytest.mark.parametrize("command", ["score", "tools"])
def test_malformed_catalogs_exit_2_with_one_line(tmp_path, content, message, command):
    catalog = tmp_path / "tools.json"
    catalog.write_text(content)
    gold = write_jsonl(tmp_path / "g.jsonl", [{"id": "a", "plan": SMS}])
    args = ["score", "--gold", str(gold), "--pred", str(gold)] if command == "score" else ["tools"]
    done = run_cli(*args, "--tools", str(catalog))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"error: {catalog}: ") and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_tools_help_and_a_missing_catalog():
    helped = run_cli("tools", "--help")
    assert helped.returncode == 0 and "--export" in helped.stdout and "--format" in helped.stdout
    assert "--tools" in run_cli("score", "--help").stdout
    done = run_cli("tools", "--tools", "/nonexistent/tools.json")
    assert done.returncode == 2 and done.stderr.startswith("error: cannot read /nonexistent/tools.json")
