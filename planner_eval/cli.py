"""`python -m planner_eval score --gold GOLD.jsonl --pred PRED.jsonl [--args MODE] [--out REPORT.json]`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from planner_eval.match import ARGS_MODES
from planner_eval.report import score_files


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other failure of this command, instead of usage plus message.
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m planner_eval",
        description="Score LLMCompiler plans: tool sets and dependency-graph (DAG) equality with gold plans.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    score = commands.add_parser(
        "score",
        help="compare predicted plans with gold plans",
        description=(
            'Each input line is {"id": ..., "plan": "<plan text>"}. Writes a JSON report with a '
            "summary (success_rate, tool_set_accuracy, error counts, partial credit) and one "
            "result per gold id."
        ),
    )
    score.add_argument("--gold", required=True, metavar="GOLD.jsonl", help="gold plans, one JSON object per line")
    score.add_argument("--pred", required=True, metavar="PRED.jsonl", help="predicted plans, one JSON object per line")
    score.add_argument(
        "--args",
        dest="args_mode",
        choices=ARGS_MODES,
        default="normalized",
        help="argument comparison: normalized (default; strings trimmed, white space collapsed, "
        "case-folded, lists as multisets), strict (exact literals) or ignore (tool names and edges only)",
    )
    score.add_argument("--out", metavar="REPORT.json", help="write the report here instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        report = score_files(args.gold, args.pred, args.args_mode)
    except OSError as exc:
        return _fail(f"cannot read {exc.filename or 'input'}: {exc.strerror or exc}")
    text = format_report(report)
    if args.out is None:
        try:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader (say `| head`) has what it wanted; not an error of ours.
            sys.stdout = None  # keep the interpreter from flushing into the closed pipe at exit
        return 0
    try:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as exc:
        return _fail(f"cannot write {args.out}: {exc.strerror or exc}")
    return 0


def format_report(report: dict) -> str:
    """JSON with an indented summary and one result per line: readable, and fast to encode."""
    results = ",\n  ".join(json.dumps(r) for r in report["results"])
    summary = json.dumps(report["summary"], indent=2).replace("\n", "\n  ")
    return f'{{\n  "summary": {summary},\n  "results": [\n  {results}\n  ]\n}}'


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
