"""What copied and derived arguments give a trained planner: the same checkpoint plans a split three
times, its copied and derived slots free ("free"), its copied slots held to spans of the question
(`tinyagent_ft.copying`, "copied"), and its date and duration slots also held to what the question says
(`tinyagent_ft.moments`, "derived"); each is scored.

Prints one JSON object: per mode, test success, tool-set accuracy, success per intent of the data
generator and per phrasing (templates seen in training or held out of it), how many failed plans
hold a copied slot's value that is not a span of the question, and the planning time.

    python benchmarks/copied_arguments.py --planner runs/demo/planner --retriever runs/demo/retriever --data runs/demo/data

The data must be the generator's (`tinyagent demo`, `tinyagent data generate`): its splits are drawn
again from `--sizes` and `--seed` (the small demo's by default) to know each query's intent and
phrasing. A checkpoint saved before copied or derived arguments existed gets them learnt from the
data's training split, as `tinyagent train` would have.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from finetune import add_drawn_data_arguments, drawn_origins, print_report  # noqa: E402
from planner_eval.score import score_plan  # noqa: E402
from tinyagent_ft.copying import copied_arguments, is_span, question_text, string_values  # noqa: E402
from tinyagent_ft.data import load_split  # noqa: E402
from tinyagent_ft.moments import derived_arguments  # noqa: E402
from tinyagent_ft.planner import Planner  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--planner", type=Path, required=True, help="planner checkpoint directory")
    parser.add_argument("--retriever", type=Path, required=True, help="retriever directory")
    add_drawn_data_arguments(parser)
    parser.add_argument("--limit", type=int, default=None, help="plan only the first N records")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


def holds_a_value_not_in_question(plan: str, query: str, copied: dict, catalog) -> bool:
    """Whether a copied slot of ``plan`` holds a string that is not a span of ``query``."""
    question = question_text(query)
    return any(arg in copied.get(tool, ()) and not is_span(text, question)
               for (tool, arg), text in string_values(plan, catalog))


def scored(planner: Planner, rows, origins: dict, copy: bool) -> dict:
    start = time.perf_counter()
    results = planner.plan(rows["query"], copy=copy)
    seconds = time.perf_counter() - start
    scores = [score_plan(gold, r.plan) for gold, r in zip(rows["plan"], results)]
    per_intent, per_phrasing = defaultdict(list), defaultdict(list)
    for query, s in zip(rows["query"], scores):
        per_intent[origins[query].intent].append(s.success)
        per_phrasing["held_out" if origins[query].held_out else "seen"].append(s.success)
    copied = planner.copied_arguments
    return {
        "success_rate": statistics.mean(s.success for s in scores),
        "tool_set_accuracy": statistics.mean(s.tool_set_match for s in scores),
        "success_per_intent": {k: round(statistics.mean(v), 4) for k, v in sorted(per_intent.items())},
        "success_per_phrasing": {k: round(statistics.mean(v), 4) for k, v in sorted(per_phrasing.items())},
        "failed": sum(not s.success for s in scores),
        "failed_with_a_value_not_in_the_question": sum(
            not s.success and holds_a_value_not_in_question(r.plan, q, copied, planner.catalog)
            for s, r, q in zip(scores, results, rows["query"])),
        "seconds": round(seconds, 1),
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    planner = Planner.load(args.planner, args.retriever)
    learnt = [kind for kind in ("copied_arguments", "derived_arguments") if not getattr(planner, kind)]
    if learnt:
        train = load_split(args.data, "train")
        pairs = list(zip(train["query"], train["plan"]))
        if "copied_arguments" in learnt:
            planner.copied_arguments = copied_arguments(pairs, planner.catalog)
        if "derived_arguments" in learnt:
            planner.derived_arguments = derived_arguments(pairs, planner.catalog)
    rows = load_split(args.data, args.split)
    if args.limit is not None:
        rows = rows.select(range(min(args.limit, len(rows))))
    origins = drawn_origins(args, rows["query"])
    report = {
        "planner": str(args.planner), "split": args.split, "records": len(rows),
        "copied_arguments": planner.copied_arguments, "derived_arguments": planner.derived_arguments,
        "learnt_here": learnt,
        "free": scored(planner, rows, origins, copy=False),
        "derived": scored(planner, rows, origins, copy=True),
    }
    planner.derived_arguments = {}
    report["copied"] = scored(planner, rows, origins, copy=True)
    print_report(report, args.json)
    return report


if __name__ == "__main__":
    main()
