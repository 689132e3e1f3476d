"""The smart-home example: its catalog covers every argument type a grammar must handle, and its
generator writes deterministic data whose every gold plan the evaluator accepts under that catalog."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from planner_eval.catalog_io import read_catalog
from planner_eval.cli import main as planner_eval_main
from planner_eval.parse import parse_plan
from planner_eval.plan import references
from smart_home_fixtures import CATALOG_FILE, EXAMPLE, generate

SPLIT_FILES = ("training_data", "validation_data", "testing_data")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """The default-sized data set (about 1,500 training records), written once for the module."""
    out = tmp_path_factory.mktemp("smart_home")
    assert generate.main(["--out", str(out), "--seed", "3"]) == 0
    return out


def _records(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _score(gold: Path, pred: Path, tmp_path: Path) -> dict:
    report = tmp_path / f"{gold.stem}-report.json"
    argv = ["score", "--tools", str(CATALOG_FILE), "--check-args", "--gold", str(gold), "--pred", str(pred), "--out", str(report)]
    assert planner_eval_main(argv) == 0
    return json.loads(report.read_text())["summary"]


# ---- the catalog --------------------------------------------------------------------------


def test_catalog_is_listed_by_the_evaluator():
    listing = subprocess.run([sys.executable, "-m", "planner_eval", "tools", "--tools", str(CATALOG_FILE)],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    catalog = read_catalog(CATALOG_FILE)
    assert all(f"{name}(" in listing.stdout for name in catalog)


def test_catalog_covers_every_argument_type_a_grammar_handles():
    catalog = read_catalog(CATALOG_FILE)
    assert 6 <= len(catalog) <= 10
    args = [arg for tool in catalog.values() for arg in tool.args]
    types = {arg.type for arg in args}
    assert {"str", "int", "float", "bool", "list[str]"} <= types
    assert any(arg.enum for arg in args if arg.type == "str")
    optional = [arg for arg in args if not arg.required]
    assert optional and all(arg.has_default for arg in optional)
    assert {arg.type for arg in optional} >= {"int", "bool", "str"}  # defaults of several types, enums among them
    assert any(arg.enum and arg.has_default for arg in optional)


# ---- the generator ------------------------------------------------------------------------


def test_help_runs_without_the_project_installed():
    # Standard library only: it must run from a bare interpreter, with no project package importable.
    result = subprocess.run([sys.executable, "-S", "-I", str(EXAMPLE / "generate.py"), "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--train" in result.stdout and "--seed" in result.stdout


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    runs = {}
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert generate.main(["--out", str(tmp_path / name), "--train", "200", "--val", "30", "--test", "40", "--seed", seed]) == 0
        runs[name] = [(tmp_path / name / f"{stem}.json").read_bytes() for stem in SPLIT_FILES]
    assert runs["a"] == runs["b"]
    assert all(x != y for x, y in zip(runs["a"], runs["c"]))


def test_writes_the_sizes_asked_for(data_dir):
    sizes = [len(_records(data_dir / f"{stem}.json")) for stem in SPLIT_FILES]
    assert sizes == [1500, 200, 300]


def test_every_gold_plan_is_valid_under_the_catalog(data_dir, tmp_path):
    for stem in SPLIT_FILES:
        gold = data_dir / f"{stem}.json"
        pred = tmp_path / f"{stem}.jsonl"
        pred.write_text("".join(json.dumps({"id": i, "plan": r["output"][0]["raw_output"]}) + "\n"
                                for i, r in _records(gold).items()))
        summary = _score(gold, pred, tmp_path)
        assert summary["n"] == len(_records(gold))
        assert summary["valid_rate"] == 1.0 and summary["success_rate"] == 1.0
        assert not any(summary["errors"].values()), summary["errors"]


def test_parsed_calls_say_what_the_plan_text_says(data_dir, tmp_path):
    # parsed_output (calls keyed by argument name) read as OpenAI tool calls must match raw_output.
    gold = data_dir / "testing_data.json"
    pred = tmp_path / "calls.jsonl"
    lines = []
    for record_id, record in _records(gold).items():
        calls = [c for c in record["output"][0]["parsed_output"] if c["tool_name"] != "join"]
        tool_calls = [{"type": "function", "function": {"name": c["tool_name"], "arguments": json.dumps(c["tool_args"])}}
                      for c in calls]
        lines.append(json.dumps({"id": record_id, "tool_calls": tool_calls}) + "\n")
    pred.write_text("".join(lines))
    assert _score(gold, pred, tmp_path)["success_rate"] == 1.0


def test_training_plans_use_the_whole_catalog(data_dir):
    catalog = read_catalog(CATALOG_FILE)
    used, written_counts, top_level_refs, listed_refs = set(), {}, 0, 0
    for record in _records(data_dir / "training_data.json").values():
        parsed = parse_plan(record["output"][0]["raw_output"])
        for action in parsed.actions:
            used.add(action.tool)
            written_counts.setdefault(action.tool, set()).add(len(action.args))
            top_level_refs += any(isinstance(a, str) and a.startswith("$") for a in action.args)
            listed_refs += any(isinstance(a, list) and references(a) for a in action.args)
    assert used == set(catalog)
    # Optional arguments appear both left out and written, so a planner learns either form.
    for name, tool in catalog.items():
        if not all(arg.required for arg in tool.args):
            assert len(written_counts[name]) > 1, name
    assert top_level_refs and listed_refs


def test_jsonl_format_holds_the_same_plans(tmp_path):
    for fmt in ("json", "jsonl"):
        assert generate.main(["--out", str(tmp_path / fmt), "--train", "50", "--val", "5", "--test", "5", "--format", fmt]) == 0
    for stem in SPLIT_FILES:
        records = _records(tmp_path / "json" / f"{stem}.json")
        lines = [json.loads(line) for line in (tmp_path / "jsonl" / f"{stem}.jsonl").read_text().splitlines()]
        assert [(r["id"], r["query"], r["plan"]) for r in lines] == [
            (i, r["input"], r["output"][0]["raw_output"]) for i, r in records.items()]


def test_evaluation_queries_are_new_and_half_use_unseen_phrasings():
    splits = generate.generate(600, 100, 300, seed=1)
    train = {" ".join(e.query.lower().split()) for e in splits["train"].values()}
    test = splits["test"].values()
    assert not any(" ".join(e.query.lower().split()) in train for e in test)
    assert not any(e.held_out for e in splits["train"].values())
    assert 0.3 < sum(e.held_out for e in test) / len(test) < 0.7


def test_bad_count_exits_2_and_writes_nothing(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLE / "generate.py"), "--out", str(tmp_path / "out"), "--train", "-1"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert not (tmp_path / "out").exists()
