"""Break a finished `tinyagent eval` down by the data generator's intents and phrasings, without
planning again: success per intent, per phrasing (templates seen in training or held out of it) and
the failures by kind.

    python benchmarks/eval_breakdown.py --eval OUT_eval --data D --sizes 40000 300 500 --seed 0

The data must be the generator's (`tinyagent data generate` or `tinyagent demo`): its splits are drawn
again from `--sizes` and `--seed` to know each query's intent and phrasing, and the drawn split must
equal the evaluated one. Prints one JSON object; `--json` also writes it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finetune import add_drawn_data_arguments, drawn_origins, print_report  # noqa: E402
from planner_eval.score import score_plan  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", type=Path, required=True, help="a `tinyagent eval --out` directory")
    add_drawn_data_arguments(parser)
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def failure_kind(score) -> str:
    if not score.tool_set_match:
        return "wrong tool set"
    if score.length_error:
        return "right tools, a call too few or too many"
    return "right calls, a wrong argument or dependency"


def rates(outcomes: dict[str, list[bool]]) -> dict[str, dict]:
    return {name: {"success": round(statistics.mean(v), 3), "n": len(v)}
            for name, v in sorted(outcomes.items(), key=lambda item: statistics.mean(item[1]))}


def breakdown(eval_dir: Path, gold: list[dict], origins: dict) -> dict:
    predicted = {row["id"]: row.get("plan") for row in read_jsonl(eval_dir / "predictions.jsonl")}
    per_intent, per_phrasing, failures = defaultdict(list), defaultdict(list), Counter()
    successes = []
    for row in gold:
        score = score_plan(row["plan"], predicted.get(row["id"]))
        drawn = origins[row["query"]]
        per_intent[drawn.intent].append(score.success)
        per_phrasing["held_out" if drawn.held_out else "seen"].append(score.success)
        successes.append(score.success)
        if not score.success:
            failures[failure_kind(score)] += 1
    return {"n": len(gold), "success_rate": statistics.mean(successes), "success_per_phrasing": rates(per_phrasing),
            "success_per_intent": rates(per_intent), "failures": dict(failures.most_common())}


def main(argv=None) -> dict:
    args = parse_args(argv)
    gold = read_jsonl(args.eval / "gold.jsonl")
    result = breakdown(args.eval, gold, drawn_origins(args, [row["query"] for row in gold]))
    print_report(result, args.json, indent=1)
    return result


if __name__ == "__main__":
    main()
