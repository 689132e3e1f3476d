"""benchmarks/eval_breakdown.py: a finished evaluation split by the generator's intents and phrasings."""

import json
import subprocess
import sys
from pathlib import Path

from tinyagent_ft.data import load_split
from train_fixtures import write_data

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "eval_breakdown.py"
WRONG_PLAN = '1. get_phone_number("Nobody")\n2. join()'


def write_eval(directory: Path, rows, wrong: set[int]) -> Path:
    directory.mkdir()
    gold = [{"id": i, "query": q, "plan": p} for i, q, p in zip(rows["id"], rows["query"], rows["plan"])]
    predicted = [{"id": g["id"], "plan": WRONG_PLAN if n in wrong else g["plan"]} for n, g in enumerate(gold)]
    for name, lines in (("gold.jsonl", gold), ("predictions.jsonl", predicted)):
        (directory / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return directory


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_failures_are_counted_once_per_intent_and_phrasing(tmp_path):
    data = write_data(tmp_path / "data", train=40, val=6, test=20, seed=5)
    rows = load_split(data, "test")
    evaluated = write_eval(tmp_path / "eval", rows, wrong={0, 7, 13})
    done = run("--eval", str(evaluated), "--data", str(data), "--sizes", "40", "6", "20", "--seed", "5")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] == 20 and result["success_rate"] == 17 / 20
    assert sum(v["n"] for v in result["success_per_intent"].values()) == 20
    assert sum(v["n"] for v in result["success_per_phrasing"].values()) == 20
    failed = sum(round(v["n"] * (1 - v["success"])) for v in result["success_per_intent"].values())
    assert failed == 3 and sum(result["failures"].values()) == 3


def test_data_drawn_with_other_sizes_is_refused(tmp_path):
    data = write_data(tmp_path / "data", train=40, val=6, test=20, seed=5)
    evaluated = write_eval(tmp_path / "eval", load_split(data, "test"), wrong=set())
    done = run("--eval", str(evaluated), "--data", str(data), "--sizes", "40", "6", "20", "--seed", "6")
    assert done.returncode != 0 and "is not the generator's for --sizes 40 6 20 --seed 6" in done.stderr
