"""`tinyagent compare`: the paper's optimizer comparison at our scale. Every optimizer trains on the same
data with the same step budget and seeds; each run is evaluated on the test split; the report is read
from the runs' own files. Finished runs are skipped, so an interrupted comparison resumes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tinyagent_ft.commands.catalog_option import add_tools_option, command_catalog
from tinyagent_ft.commands.demo import BUDGETS, Layout, stages

OPTIMIZERS = ("natural_galore", "galore", "adamw", "lora")


def register(subparsers: argparse._SubParsersAction) -> None:
    compare = subparsers.add_parser(
        "compare",
        help="train and evaluate the planner with several optimizers and seeds; write a report with plots",
        description="Writes OUT/report.md (mean and spread over seeds of final train loss, validation and test "
        "success, tool-set accuracy, optimizer state, peak memory, seconds per step), OUT/loss.png, "
        "OUT/success.png and OUT/report.html (table, plots and links to each run's evaluation). Data and "
        "retriever are made as `tinyagent demo` makes them unless --data and "
        "--retriever are given.",
    )
    compare.add_argument("--optimizers", type=_optimizer_list, nargs="+", default=None,
                         help=f"from {', '.join(OPTIMIZERS)}; space- or comma-separated (default: all four)")
    compare.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds, space-separated")
    compare.add_argument("--budget", choices=sorted(BUDGETS), default="small",
                         help="data size and training budget, as in `tinyagent demo`")
    compare.add_argument("--model", default="tiny", help="the planner's base model, as `tinyagent train --model` takes it")
    compare.add_argument("--data", type=Path, help="existing data directory (default: generate under OUT)")
    compare.add_argument("--retriever", type=Path, help="existing retriever directory (default: train under OUT)")
    compare.add_argument("--out", type=Path, required=True, help="output directory")
    add_tools_option(compare, default="the retriever's stored catalog")
    compare.set_defaults(handler=run_compare)


def _optimizer_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in OPTIMIZERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown optimizer {unknown[0] if unknown else text!r}; choose from {','.join(OPTIMIZERS)}")
    return list(dict.fromkeys(names))


def run_dir(out: Path, optimizer: str, seed: int) -> Path:
    return out / "runs" / f"{optimizer}-seed{seed}"


def run_compare(args: argparse.Namespace) -> int:
    from tinyagent_ft.cli import main as tinyagent
    from tinyagent_ft.compare_report import write_report

    if args.tools is not None:
        if args.data is None or args.retriever is None:
            raise ValueError("--tools needs --data and --retriever over those tools: the generated data holds "
                             "TinyAgent's 16 tools only")
        command_catalog(args.tools, [args.retriever], decodable=True)
    catalog = [] if args.tools is None else ["--tools", str(args.tools)]
    data, retriever = _shared_inputs(args, tinyagent)
    if data is None:
        return 2
    train_args = BUDGETS[args.budget].train_args
    optimizers = list(dict.fromkeys(name for group in args.optimizers or [OPTIMIZERS] for name in group))
    for optimizer in optimizers:
        for seed in args.seeds:
            run = run_dir(args.out, optimizer, seed)
            steps = [
                (run / "planner.json", ["train", "--data", str(data), "--retriever", str(retriever), "--model", args.model,
                                        "--optimizer", optimizer, "--seed", str(seed), "--out", str(run), *train_args,
                                        *catalog]),
                (run / "test" / "report.json", ["eval", "--model", str(run), "--retriever", str(retriever),
                                                "--data", str(data), "--split", "test", "--out", str(run / "test")]),
            ]
            for done_when, argv in steps:
                if done_when.exists():
                    continue
                print(f"[{optimizer} seed {seed}] tinyagent {' '.join(argv)}", flush=True)
                if tinyagent(argv):
                    print(f"tinyagent compare: {optimizer} seed {seed} failed; re-run to resume", file=sys.stderr)
                    return 1
    report = write_report(args.out, {opt: [run_dir(args.out, opt, s) for s in args.seeds] for opt in optimizers})
    print(report.read_text())
    return 0


def _shared_inputs(args: argparse.Namespace, tinyagent) -> tuple[Path | None, Path | None]:
    """The data and retriever every run shares: given, or made by the demo's first stages."""
    if args.data is not None and args.retriever is not None:
        return args.data, args.retriever
    if (args.data is None) != (args.retriever is None):
        print("tinyagent compare: error: give both --data and --retriever, or neither", file=sys.stderr)
        return None, None
    layout = Layout(args.out)
    # The demo's first three stages: generate data, export the test split, train the retriever.
    for stage in stages(layout, args.budget, seed=0)[:3]:
        if stage.done_when.exists():
            continue
        print(f"[shared] {stage.name}: tinyagent {' '.join(stage.argv)}", flush=True)
        if tinyagent(stage.argv):
            return None, None
    return layout.data, layout.retriever
