"""`python -m planner_eval score ...` (the evaluator) and `python -m planner_eval tools ...` (catalogs)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from planner_eval.catalog import FORMATS, TOOLS, Catalog, describe_tools
from planner_eval.match import ARGS_MODES
from planner_eval.parallel import WorkerDied, available_processes
from planner_eval.parse import LAYOUTS
from planner_eval.report import score_files_json


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
    add_score_parser(commands)
    _add_tools(commands)
    return parser


def add_score_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `score` subcommand, shared with `tinyagent score`; `run` executes its arguments."""
    score = commands.add_parser(
        "score",
        help="compare predicted plans with gold plans",
        description=(
            'Gold: JSON Lines of {"id": ..., "plan": "<plan text>"}, or a TinyAgent-format JSON file '
            '(testing_data.json). Predictions: JSON Lines of {"id", "plan"} or of {"id", "tool_calls"} '
            "(OpenAI style: call i is action i, \"$N\" names action N). Writes a JSON report with a "
            "summary (success_rate, tool_set_accuracy, error counts, partial credit) and one result per gold id."
        ),
    )
    score.add_argument("--gold", required=True, metavar="GOLD", help="gold plans: JSON Lines or a TinyAgent-format JSON file")
    score.add_argument("--pred", required=True, metavar="PRED.jsonl", help="predicted plans or tool calls, one JSON object per line")
    score.add_argument(
        "--args",
        dest="args_mode",
        choices=ARGS_MODES,
        default="normalized",
        help="argument comparison: normalized (default; strings trimmed, white space collapsed, "
        "case-folded, lists as multisets), strict (exact literals) or ignore (tool names and edges only)",
    )
    score.add_argument(
        "--tools",
        metavar="CATALOG.json",
        help="tool catalog to score against instead of the built-in TinyAgent tools: OpenAI function "
        "schemas or the native format (see `tools --export`); turns argument checks on",
    )
    score.add_argument(
        "--check-args",
        action="store_true",
        help="with the built-in catalog, make wrong argument types, missing required arguments and "
        "extra arguments a 'bad_arguments' error (never under --args ignore)",
    )
    score.add_argument(
        "--questions",
        metavar="BFCL_x.json",
        help="score a Berkeley Function Calling Leaderboard category: --gold is its possible_answer file, this "
        "its questions (each entry's functions are its catalog); predictions carry BFCL's ids",
    )
    score.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="lenient",
        help="how plan text must be laid out: lenient (default; `1.name(`, `1 . name (` and an unnumbered "
        "join() are read) or llmcompiler (LLMCompiler's executor: exactly `N. name(`, anything else is a "
        "'parse' failure)",
    )
    score.add_argument("--out", metavar="REPORT.json", help="write the report here instead of stdout")
    score.add_argument(
        "--html",
        metavar="REPORT.html",
        help="also write a self-contained HTML report: summary, charts, and every failed case with both "
        "plans drawn as graphs and the first difference marked",
    )
    return score


def _add_tools(commands: argparse._SubParsersAction) -> None:
    tools = commands.add_parser(
        "tools",
        help="list or export a tool catalog",
        description="Lists the tools of a catalog (the built-in TinyAgent one unless --tools), or with "
        "--export writes it as JSON: OpenAI function schemas or the native format, both of which "
        "`score --tools` reads. Reading a catalog and exporting it converts between the formats.",
    )
    tools.add_argument("--tools", metavar="CATALOG.json", help="catalog to read instead of the built-in one")
    tools.add_argument("--export", action="store_true", help="write the catalog as JSON instead of listing it")
    tools.add_argument("--format", choices=FORMATS, help="export format: openai (the default) or native; needs --export")
    tools.add_argument("--out", metavar="FILE", help="write here instead of stdout")


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Execute parsed `score` or `tools` arguments; returns the exit status."""
    if args.command != "score" or args.tools is not None or args.questions is not None:
        # Only catalogs and BFCL files need catalog_io (and warn); plain scoring starts sooner without it.
        from planner_eval.catalog_io import print_warnings_on_one_line

        print_warnings_on_one_line()
    try:
        catalog = None if args.tools is None else _read_catalog(args.tools)
    except OSError as exc:
        return _fail(f"cannot read {exc.filename or args.tools}: {exc.strerror or exc}")
    except _InputError as exc:
        return _fail(f"{args.tools}: {exc}")
    if args.command != "score":
        if args.format is not None and not args.export:
            return _fail("--format applies to --export only")
        return _emit(_catalog_text(catalog, args.export, args.format or "openai"), args.out)
    if args.questions is not None and (args.tools is not None or args.html is not None):
        return _fail("--questions brings each entry's catalog: it does not go with --tools or --html")
    try:
        if args.questions is not None:
            report = _bfcl_report(args)
            summary, results = report["summary"], _results_json(report["results"])
        else:
            # The results come back as JSON text, written in the worker processes that scored them.
            summary, results = score_files_json(args.gold, args.pred, args.args_mode, catalog=catalog,
                                                check_args=args.check_args or None, layout=args.layout,
                                                processes=available_processes())
    except OSError as exc:
        return _fail(f"cannot read {exc.filename or 'input'}: {exc.strerror or exc}")
    except (_InputError, WorkerDied) as exc:
        return _fail(str(exc))
    if args.tools is not None:
        summary["catalog"] = args.tools
    status = _emit(_report_text(summary, results), args.out)
    if status == 0 and args.html is not None:
        report = {"summary": summary, "results": json.loads(f"[{results}]")}
        from planner_eval.html_report import write_html_report_for_files

        try:
            write_html_report_for_files(report, args.gold, args.pred, args.html, catalog)
        except OSError as exc:
            return _fail(f"cannot write {args.html}: {exc.strerror or exc}")
    return status


class _InputError(ValueError):
    """Input that cannot be scored; the message is one line."""


def _read_catalog(path: str) -> Catalog:
    from planner_eval.catalog_io import CatalogError, read_catalog

    try:
        return read_catalog(path)
    except CatalogError as exc:
        raise _InputError(str(exc)) from None


def _bfcl_report(args: argparse.Namespace) -> dict:
    from planner_eval.bfcl import BFCLError, score_bfcl_files

    try:
        return score_bfcl_files(args.gold, args.questions, args.pred, args.args_mode, layout=args.layout)
    except BFCLError as exc:
        raise _InputError(str(exc)) from None


def _catalog_text(catalog: Catalog | None, export: bool, fmt: str) -> str:
    if export:
        from planner_eval.catalog_io import export_catalog

        return json.dumps(export_catalog(catalog, fmt), indent=2, ensure_ascii=False)
    tools = describe_tools(list(TOOLS if catalog is None else catalog), catalog)
    return "\n".join(tools[:-1])  # without the join() line: it is not a tool of the catalog


def _emit(text: str, out: str | None) -> int:
    if out is None:
        try:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader (say `| head`) has what it wanted; not an error of ours.
            sys.stdout = None  # keep the interpreter from flushing into the closed pipe at exit
        return 0
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as exc:
        return _fail(f"cannot write {out}: {exc.strerror or exc}")
    return 0


def format_report(report: dict) -> str:
    """JSON with an indented summary and one result per line: readable, and fast to encode."""
    return _report_text(report["summary"], _results_json(report["results"]))


def _results_json(results: list[dict]) -> str:
    return ",\n  ".join(json.dumps(r) for r in results)


def _report_text(summary: dict, results_json: str) -> str:
    summary_json = json.dumps(summary, indent=2).replace("\n", "\n  ")
    return f'{{\n  "summary": {summary_json},\n  "results": [\n  {results_json}\n  ]\n}}'


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2
