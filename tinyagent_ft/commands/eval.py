"""`tinyagent eval`: plan a split with a trained planner and score it with planner_eval."""

from __future__ import annotations

import argparse
from pathlib import Path

from tinyagent_ft.cli_options import deprecated_alias
from tinyagent_ft.commands.baseline import ARGS_HELP, SPLIT_HELP, load_rows, write_scored
from tinyagent_ft.commands.catalog_option import add_tools_option, command_catalog
from tinyagent_ft.endpoint_eval import add_endpoint_options, run_endpoint_eval


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "eval",
        help="plan a data split with a trained planner (grammar-constrained by default) and score the plans",
        description="Write OUT/predictions.jsonl, OUT/gold.jsonl and OUT/report.json: the planner_eval report, "
        "its summary extended with a 'generation' entry (tokens, seconds, tokens/s, constrained or not), or with "
        "--endpoint an 'endpoint' entry (latency p50/p95, failures; a failed query's prediction holds its 'error').",
    )
    command.add_argument("--model", help="planner checkpoint directory (tinyagent train); with --endpoint, "
                         "the served model's name, as --endpoint-model")
    command.add_argument("--retriever", type=Path, help="retriever directory (tinyagent retriever train); "
                         "not needed with --endpoint")
    command.add_argument("--data", required=True, type=Path, help="directory with the TinyAgent files")
    command.add_argument("--split", default="test", choices=("train", "validation", "test"), help=SPLIT_HELP)
    command.add_argument("--limit", type=int, default=None, help="plan only the first N records")
    command.add_argument("--no-constrain", dest="constrain", action="store_false",
                         help="decode freely instead of inside each prompt's plan grammar")
    command.add_argument("--no-copy", dest="copy", action="store_false",
                         help="let the checkpoint's copied and derived arguments take any value of their type, not only "
                              "spans of the question and the dates, times and durations it says")
    batch = command.add_argument("--generation-batch-size", type=int, default=16, help="prompts per generate() call")
    deprecated_alias(command, "--batch-size", batch)
    command.add_argument("--max-new-tokens", type=int, default=None,
                         help="token budget per plan (default: the planner's, set at training; 256 for planners saved before it was)")
    command.add_argument("--args", dest="args_mode", default="normalized", choices=("normalized", "strict", "ignore"),
                         help=ARGS_HELP)
    command.add_argument("--device", default="auto", help="torch device for the planner (auto: cuda, then mps, then cpu)")
    command.add_argument("--out", required=True, type=Path, help="output directory")
    command.add_argument("--html", type=Path, metavar="REPORT.html", default=None,
                         help="also write the evaluation as one self-contained HTML page (plan graphs, failed cases)")
    add_tools_option(command, default="the checkpoint's; with --endpoint, the built-in TinyAgent tools")
    add_endpoint_options(command)
    command.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    if args.endpoint is not None:
        return run_endpoint_eval(args)
    if args.model is None or args.retriever is None:
        raise ValueError("eval needs --model and --retriever, or --endpoint")
    from tinyagent_ft.planner import Planner

    args.model = Path(args.model)
    catalog = command_catalog(args.tools, [args.model, args.retriever], decodable=True)
    rows = load_rows(args.data, args.split, args.limit, catalog)
    planner = Planner.load(args.model, args.retriever, device=args.device, tools=args.tools)
    results, stats = planner.plan_with_stats(
        rows["query"], constrain=args.constrain, copy=args.copy, max_new_tokens=args.max_new_tokens,
        batch_size=args.generation_batch_size, progress=True,
    )
    generation = stats.as_dict()
    write_scored(args.out, rows["id"], rows["plan"], [r.plan for r in results], args.args_mode,
                 {"generation": generation}, planner.catalog, queries=rows["query"], html=args.html)
    print(f"generated {generation['new_tokens']} tokens in {generation['seconds']} s "
          f"({generation['tokens_per_second']} tokens/s, {'constrained' if stats.constrained else 'unconstrained'})")
    return 0
