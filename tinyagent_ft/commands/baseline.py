"""`tinyagent baseline`: score the nearest-example planner on a split, laid out like `tinyagent eval`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    baseline = subparsers.add_parser(
        "baseline",
        help="score the no-model baseline: each query gets the plan of its nearest training example",
        description="Write OUT/predictions.jsonl, OUT/gold.jsonl and OUT/report.json (the planner_eval report).",
    )
    baseline.add_argument("--retriever", required=True, type=Path, help="retriever directory (tinyagent retriever train)")
    baseline.add_argument("--data", required=True, type=Path, help="directory with the TinyAgent files")
    baseline.add_argument("--split", default="test", choices=("train", "validation", "test"))
    baseline.add_argument("--limit", type=int, default=None, help="score only the first N records")
    baseline.add_argument("--args", dest="args_mode", default="normalized", choices=("normalized", "strict", "ignore"))
    baseline.add_argument("--out", required=True, type=Path, help="output directory")
    baseline.set_defaults(handler=run_baseline)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def run_baseline(args: argparse.Namespace) -> int:
    from planner_eval.cli import format_report
    from planner_eval.report import score_files
    from retriever import Retriever
    from tinyagent_ft.baseline import nearest_example_plans
    from tinyagent_ft.data import load_split

    rows = load_split(args.data, args.split)
    if args.limit is not None:
        rows = rows.select(range(min(args.limit, len(rows))))
    plans = nearest_example_plans(Retriever.load(args.retriever), rows["query"])
    write_jsonl(args.out / "gold.jsonl", [{"id": i, "plan": p} for i, p in zip(rows["id"], rows["plan"])])
    write_jsonl(args.out / "predictions.jsonl", [{"id": i, "plan": p} for i, p in zip(rows["id"], plans)])
    report = score_files(args.out / "gold.jsonl", args.out / "predictions.jsonl", args.args_mode)
    (args.out / "report.json").write_text(format_report(report) + "\n")
    summary = report["summary"]
    print(f"n={summary['n']} success_rate={summary['success_rate']:.4f} tool_set_accuracy={summary['tool_set_accuracy']:.4f} -> {args.out / 'report.json'}")
    return 0
