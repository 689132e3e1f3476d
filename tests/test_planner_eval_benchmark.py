"""The evaluator speed benchmark runs on synthetic and on TinyAgent-format gold plans."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "evaluator_speed.py"


def run_benchmark(*args: str) -> dict:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_synthetic_mix_scores_as_expected():
    result = run_benchmark("--n", "400", "--seed", "3")
    assert result["n"] == 400 and result["pairs_per_s"] > 0
    mix = result["mix"]
    assert set(mix) >= {"identical", "renumbered", "wrong_args", "swapped_refs", "prose", "truncated"}
    # Identical and renumbered predictions succeed; wrong arguments and invalid ones do not
    # (a truncation can still leave a complete plan, and some swaps are harmless).
    assert (mix["identical"] + mix["renumbered"]) / 400 <= result["success_rate"]
    assert result["success_rate"] <= (mix["identical"] + mix["renumbered"] + mix["truncated"] + mix["swapped_refs"]) / 400
    assert result["errors"]["parse"] >= mix["prose"]


def test_gold_from_a_tinyagent_file(tmp_path):
    plan = '1. get_phone_number("Ann")\n2. send_sms(["$1"], "late")\n3. join()<END_OF_PLAN>'
    records = {
        "q1": {"input": "text Ann", "output": [{"type": "plan", "raw_output": plan, "id": "u1", "index": 0}]},
        "q2": {"input": "hi", "output": [{"type": "join", "raw_output": "x"}]},
    }
    path = tmp_path / "testing_data.json"
    path.write_text(json.dumps(records))
    result = run_benchmark("--n", "50", "--gold", str(path))
    assert result["n"] == 50 and 0.0 < result["success_rate"] < 1.0


def test_with_an_exported_catalog_and_tool_calls(tmp_path):
    catalog = tmp_path / "tools.json"
    subprocess.run([sys.executable, "-m", "planner_eval", "tools", "--export", "--out", str(catalog)], check=True)
    plain = run_benchmark("--n", "300", "--seed", "4")
    checked = run_benchmark("--n", "300", "--seed", "4", "--tools", str(catalog), "--tool-calls")
    assert checked["tools"] == str(catalog) and checked["tool_calls"]
    # Same pairs, same successes; extra arguments now show up as bad_arguments.
    assert checked["success_rate"] == plain["success_rate"]
    assert checked["errors"].get("bad_arguments", 0) > 0 and "bad_arguments" not in plain["errors"]
