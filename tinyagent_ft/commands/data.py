"""`tinyagent data ...`: make and inspect TinyAgent-format data files."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tinyagent_ft.commands.catalog_option import add_tools_option, command_catalog


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="generate or inspect TinyAgent-format data")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    generate = commands.add_parser(
        "generate",
        help="write synthetic training/validation/testing files in the TinyAgent format (TinyAgent's 16 tools)",
        description="TinyAgent's generator: write DIR/training_data.json, validation_data.json and testing_data.json "
        "with plans over the 16 built-in TinyAgent tools only. For your own tools, write the same files (or "
        '.jsonl files of {"id"?, "query", "plan"} lines) yourself and pass --tools to the other commands.',
    )
    generate.add_argument("--out", required=True, type=Path, help="output directory")
    generate.add_argument("--train", type=_count, default=4000, help="training records")
    generate.add_argument("--validation", "--val", dest="val", metavar="N", type=_count, default=500, help="validation records")
    generate.add_argument("--test", type=_count, default=1000, help="test records")
    generate.add_argument("--seed", type=int, default=0, help="random seed")
    generate.set_defaults(handler=run_generate)

    export = commands.add_parser(
        "export",
        help="write a split as JSONL: queries with their tools, and/or gold plans for planner_eval",
        description='Write {"query", "tools"} lines (for `tinyagent retriever eval`) and/or {"id", "plan"} '
        "lines (gold for `python -m planner_eval score`).",
    )
    export.add_argument("--data", required=True, type=Path, help="directory with the TinyAgent files")
    export.add_argument("--split", default="test", choices=("train", "validation", "test"), help="which split to write")
    export.add_argument("--queries", type=Path, help='write {"id", "query", "tools"} lines here')
    export.add_argument("--plans", type=Path, help='write {"id", "plan"} lines here')
    add_tools_option(export)
    export.set_defaults(handler=run_export)

    stats = commands.add_parser("stats", help="count records, tools and plan sizes of a data directory")
    stats.add_argument("--data", required=True, type=Path, help="directory with the TinyAgent files")
    add_tools_option(stats)
    stats.set_defaults(handler=run_stats)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def run_generate(args: argparse.Namespace) -> int:
    from tinyagent_ft.data import SPLIT_FILES, generate_splits, write_tinyagent_file

    started = time.perf_counter()
    splits = generate_splits(args.train, args.val, args.test, args.seed, progress=True)
    for split, records in splits.items():
        write_tinyagent_file(records, args.out / SPLIT_FILES[split])
    counts = {split: len(records) for split, records in splits.items()}
    print(json.dumps({"out": str(args.out), "records": counts, "seconds": round(time.perf_counter() - started, 2)}))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from tinyagent_ft.data import load_split

    if args.queries is None and args.plans is None:
        raise ValueError("nothing to write: give --queries and/or --plans")
    catalog = command_catalog(args.tools)
    rows = list(load_split(args.data, args.split, catalog))
    outputs = {args.queries: ("id", "query", "tools"), args.plans: ("id", "plan")}
    for path, fields in outputs.items():
        if path is None:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps({f: row[f] for f in fields}, ensure_ascii=False) + "\n" for row in rows)
    print(json.dumps({"split": args.split, "rows": len(rows), "queries": str(args.queries), "plans": str(args.plans)}))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from collections import Counter

    from tinyagent_ft.data import SPLIT_FILES, LoadStats, iter_rows
    from tinyagent_ft.data.io import split_path

    catalog = command_catalog(args.tools)
    report = {}
    for split in SPLIT_FILES:
        try:
            path = split_path(args.data, split)
        except FileNotFoundError:
            continue
        stats, tools, lengths = LoadStats(), Counter(), Counter()
        for row in iter_rows(path, stats, catalog):
            tools.update(row["tools"])
            lengths[len(row["steps"])] += 1
        report[split] = {
            "records": stats.read,
            "skipped": stats.skipped,
            "tools": dict(tools.most_common()),
            "actions_per_plan": dict(sorted(lengths.items())),
        }
    if not report:
        raise FileNotFoundError(f"no TinyAgent data files in {args.data}")
    print(json.dumps(report, indent=2))
    return 0
