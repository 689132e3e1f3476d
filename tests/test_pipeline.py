"""The stages wired together: `data export` feeding the evaluator and retriever, and `tinyagent demo`."""

import json

import pytest

from planner_eval import parse_plan
from planner_eval.report import score_files
from tinyagent_ft.cli import main as tinyagent
from tinyagent_ft.data import SPLIT_FILES, generate_splits, load_split, write_tinyagent_file


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    for split, records in generate_splits(60, 12, 12, seed=5).items():
        write_tinyagent_file(records, out / SPLIT_FILES[split])
    return out


def test_export_writes_the_split_as_evaluator_and_retriever_inputs(data_dir, tmp_path):
    queries, plans = tmp_path / "q.jsonl", tmp_path / "gold.jsonl"
    assert tinyagent(["data", "export", "--data", str(data_dir), "--split", "validation", "--queries", str(queries), "--plans", str(plans)]) == 0
    split = load_split(data_dir, "validation")
    exported = _read_jsonl(queries)
    assert [q["query"] for q in exported] == split["query"] and [q["tools"] for q in exported] == split["tools"]
    gold = _read_jsonl(plans)
    assert [g["id"] for g in gold] == split["id"] and [g["plan"] for g in gold] == split["plan"]
    # The gold file scored against itself is a perfect score: every exported plan parses and matches.
    summary = score_files(plans, plans, "strict")["summary"]
    assert summary["n"] == 12 and summary["success_rate"] == 1.0


def test_export_without_outputs_is_an_error(data_dir, capsys):
    assert tinyagent(["data", "export", "--data", str(data_dir)]) != 0
    assert "give --queries and/or --plans" in capsys.readouterr().err


SUMMARY_KEYS = (
    "retriever_tool_recall", "retriever_tool_precision", "planner_test_success_rate", "planner_tool_set_accuracy",
    "baseline_test_success_rate", "baseline_tool_set_accuracy", "train_seconds", "peak_rss_bytes", "served_plan_valid",
)


@pytest.mark.slow
def test_demo_runs_every_stage_then_resumes_without_redoing_them(tmp_path, capsys):
    out = tmp_path / "demo"
    assert tinyagent(["demo", "--budget", "tiny", "--out", str(out)]) == 0
    first = capsys.readouterr().out
    assert "planner plan success (test)" in first and "Served plan for" in first

    summary = json.loads((out / "summary.json").read_text())
    assert all(key in summary for key in SUMMARY_KEYS)
    for key in SUMMARY_KEYS[:6]:
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["train_seconds"] > 0 and summary["peak_rss_bytes"] > 2**20
    # Constrained decoding: every served plan parses and names only catalog tools, even from a barely
    # trained model.
    assert summary["served_plan_valid"] is True
    served = json.loads((out / "eval" / "served.json").read_text())["responses"]
    assert len(served) == 3 and all(parse_plan(r["plan"]).actions for r in served)

    baseline = json.loads((out / "eval" / "baseline" / "report.json").read_text())["summary"]
    assert baseline["n"] == 60 and 0.0 <= baseline["success_rate"] <= baseline["tool_set_accuracy"] <= 1.0
    # Every baseline prediction is the plan of some training record, copied verbatim.
    train_plans = set(load_split(out / "data", "train")["plan"])
    predictions = _read_jsonl(out / "eval" / "baseline" / "predictions.jsonl")
    assert len(predictions) == 60 and all(p["plan"] in train_plans for p in predictions)
    planner = json.loads((out / "eval" / "planner" / "report.json").read_text())["summary"]
    assert planner["n"] == 60 and planner["success_rate"] == summary["planner_test_success_rate"]
    retrieval = json.loads((out / "eval" / "retriever.json").read_text())
    assert retrieval["n"] == 60 and 0.0 < retrieval["tool_recall"] <= 1.0
    for artifact in ("config.json", "model.safetensors", "tokenizer.json", "planner.json", "metrics.jsonl"):
        assert (out / "planner" / artifact).is_file(), artifact

    timings = json.loads((out / "timings.json").read_text())
    assert tinyagent(["demo", "--budget", "tiny", "--out", str(out)]) == 0
    second = capsys.readouterr().out
    assert second.count("done already") == 8
    assert json.loads((out / "timings.json").read_text()) == timings


def _train_flags(all_stages):
    [train] = [stage.argv for stage in all_stages if stage.argv[0] == "train"]
    return dict(zip(train[1::2], train[2::2]))


def test_demo_trains_longer_only_where_training_is_fast(tmp_path, monkeypatch):
    from tinyagent_ft import devices
    from tinyagent_ft.commands import demo
    from tinyagent_ft.train import device_defaults

    layout = demo.Layout(tmp_path)
    slow, fast = (_train_flags(demo.stages(layout, "small", 0, fast=f)) for f in (False, True))
    assert (slow["--max-steps"], slow["--eval-steps"]) == ("2000", "1000")
    assert (fast["--max-steps"], fast["--eval-steps"]) == ("5000", "2500")
    assert {k: v for k, v in fast.items() if k not in ("--max-steps", "--eval-steps")} == \
        {k: v for k, v in slow.items() if k not in ("--max-steps", "--eval-steps")}
    # Budgets without fast flags train the same either way.
    assert _train_flags(demo.stages(layout, "tiny", 0, fast=True)) == _train_flags(demo.stages(layout, "tiny", 0))

    # An override of a flag the budget lacks is refused when the budget is made, not mid-demo.
    with pytest.raises(ValueError, match="--max-step"):
        demo.Budget((1, 1, 1), (), ("--max-steps", "2"), (("--max-step", "5"),))

    # The rule reads the device and the CPU's flags, nothing timed.
    monkeypatch.setattr(devices, "resolve_device", lambda device="auto": "cpu")
    for native, expected in ((False, False), (True, True)):
        monkeypatch.setattr(device_defaults, "cpu_has_native_bf16", lambda native=native: native)
        assert demo.trains_fast() is expected
    monkeypatch.setattr(devices, "resolve_device", lambda device="auto": "cuda")
    assert demo.trains_fast() is True
