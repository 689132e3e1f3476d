"""`tinyagent baseline`: score the nearest-example planner on a split, laid out like `tinyagent eval`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from planner_eval.catalog import Catalog
from tinyagent_ft.commands.catalog_option import add_tools_option, command_catalog

SPLIT_HELP = "which split of --data to plan"
ARGS_HELP = ("argument comparison (planner_eval --args): normalized strings and lists as multisets, "
             "exact literals, or tool names and edges only")


def register(subparsers: argparse._SubParsersAction) -> None:
    baseline = subparsers.add_parser(
        "baseline",
        help="score the no-model baseline: each query gets the plan of its nearest training example",
        description="Write OUT/predictions.jsonl, OUT/gold.jsonl and OUT/report.json (the planner_eval report).",
    )
    baseline.add_argument("--retriever", required=True, type=Path, help="retriever directory (tinyagent retriever train)")
    baseline.add_argument("--data", required=True, type=Path, help="directory with the TinyAgent files")
    baseline.add_argument("--split", default="test", choices=("train", "validation", "test"), help=SPLIT_HELP)
    baseline.add_argument("--limit", type=int, default=None, help="score only the first N records")
    baseline.add_argument("--args", dest="args_mode", default="normalized", choices=("normalized", "strict", "ignore"),
                          help=ARGS_HELP)
    baseline.add_argument("--out", required=True, type=Path, help="output directory")
    baseline.add_argument("--html", type=Path, metavar="REPORT.html", default=None,
                          help="also write the evaluation as one self-contained HTML page (plan graphs, failed cases)")
    add_tools_option(baseline, default="the retriever's")
    baseline.set_defaults(handler=run_baseline)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def load_rows(data: Path, split: str, limit: int | None, catalog: Catalog | None = None):
    """The split's records checked against ``catalog`` (the built-in one by default), the first ``limit``
    of them when given."""
    from tinyagent_ft.data import load_split

    if limit is not None and limit < 1:
        raise ValueError("--limit must be at least 1")
    rows = load_split(data, split, catalog)
    return rows if limit is None else rows.select(range(min(limit, len(rows))))


def write_scored(out: Path, ids: list[str], gold: list[str], predicted: list[str | dict], args_mode: str,
                 extra_summary: dict | None = None, catalog: Catalog | None = None,
                 queries: list[str] | None = None, html: Path | None = None) -> dict:
    """Write OUT/gold.jsonl, OUT/predictions.jsonl and OUT/report.json (with ``extra_summary`` merged
    into the report's summary), and the HTML report to ``html`` when given; returns the report. A
    prediction is plan text, or a whole prediction row but its id (e.g. OpenAI `tool_calls` instead of
    "plan"). Plans over another catalog than the built-in one are scored against it, argument types
    included. Gold lines carry their query when ``queries`` is given, so the HTML report can show it."""
    from planner_eval.catalog import default_catalog
    from planner_eval.cli import format_report
    from planner_eval.report import score_files

    context = [{} for _ in ids] if queries is None else [{"query": q} for q in queries]
    write_jsonl(out / "gold.jsonl", [{"id": i, **c, "plan": p} for i, c, p in zip(ids, context, gold)])
    write_jsonl(out / "predictions.jsonl",
                [{"id": i, **(p if isinstance(p, dict) else {"plan": p})} for i, p in zip(ids, predicted)])
    given = None if catalog is None or catalog is default_catalog() else catalog
    report = score_files(out / "gold.jsonl", out / "predictions.jsonl", args_mode, catalog=given)
    report["summary"].update(extra_summary or {})
    (out / "report.json").write_text(format_report(report) + "\n")
    if html is not None:
        from planner_eval.html_report import write_html_report_for_files

        write_html_report_for_files(report, out / "gold.jsonl", out / "predictions.jsonl", html, given)
    summary = report["summary"]
    print(f"n={summary['n']} success_rate={summary['success_rate']:.4f} "
          f"tool_set_accuracy={summary['tool_set_accuracy']:.4f} -> {out / 'report.json'}")
    return report


def run_baseline(args: argparse.Namespace) -> int:
    from retriever import Retriever
    from tinyagent_ft.baseline import nearest_example_plans

    catalog = command_catalog(args.tools, [args.retriever])
    rows = load_rows(args.data, args.split, args.limit, catalog)
    plans = nearest_example_plans(Retriever.load(args.retriever), rows["query"])
    write_scored(args.out, rows["id"], rows["plan"], plans, args.args_mode, catalog=catalog, queries=rows["query"],
                 html=args.html)
    return 0
