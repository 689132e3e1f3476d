"""`tinyagent demo`: every stage that exists, end to end on the embedded defaults, through the same
subcommands a user would run; a stage whose outputs exist is skipped, so an interrupted demo resumes."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BUDGETS = {
    # records (train, val, test), retriever epochs
    "small": ((3000, 300, 500), 2),
    "tiny": ((300, 60, 60), 1),  # for CI: checks that every stage runs, not how well
}
NOT_YET = ("fine-tune the planner (tinyagent train)", "evaluate the planner (tinyagent eval)", "serve it (tinyagent serve)")


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on generated data and the packaged models",
        description="Generate data, train the retriever, score a nearest-example baseline planner, and print a "
        "summary. Finished stages are skipped, so re-running resumes.",
    )
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory (default runs/demo)")
    demo.add_argument("--budget", choices=sorted(BUDGETS), default="small", help="how much data and training (default small)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(handler=run_demo)


@dataclass
class Stage:
    name: str
    done_when: Path
    argv: list[str]


def stages(out: Path, budget: str, seed: int) -> list[Stage]:
    (n_train, n_val, n_test), epochs = BUDGETS[budget]
    data, retr, evals = out / "data", out / "retriever", out / "eval"
    return [
        Stage(
            "generate data",
            data / "testing_data.json",
            ["data", "generate", "--out", str(data), "--train", str(n_train), "--val", str(n_val), "--test", str(n_test), "--seed", str(seed)],
        ),
        Stage(
            "export test queries and gold plans",
            evals / "gold.jsonl",
            ["data", "export", "--data", str(data), "--split", "test", "--queries", str(evals / "queries.jsonl"), "--plans", str(evals / "gold.jsonl")],
        ),
        Stage(
            "train the retriever",
            retr / "retriever.json",
            ["retriever", "train", "--data", str(data), "--out", str(retr), "--epochs", str(epochs), "--seed", str(seed)],
        ),
        Stage(
            "evaluate tool retrieval on the test split",
            evals / "retriever.json",
            ["retriever", "eval", "--index", str(retr), "--queries", str(evals / "queries.jsonl"), "--out", str(evals / "retriever.json")],
        ),
        Stage(
            "score the nearest-example baseline planner",
            evals / "baseline" / "report.json",
            ["baseline", "--retriever", str(retr), "--data", str(data), "--split", "test", "--out", str(evals / "baseline")],
        ),
    ]


def run_demo(args: argparse.Namespace) -> int:
    from tinyagent_ft.cli import main as tinyagent

    timings = _load_timings(args.out)
    for number, stage in enumerate(stages(args.out, args.budget, args.seed), start=1):
        if stage.done_when.exists():
            print(f"[{number}] {stage.name}: done already ({stage.done_when})")
            continue
        print(f"[{number}] {stage.name}: tinyagent {' '.join(stage.argv)}", flush=True)
        started = time.perf_counter()
        status = tinyagent(stage.argv)
        if status:
            print(f"tinyagent demo: stage '{stage.name}' failed (exit {status}); re-run to resume from it", file=sys.stderr)
            return status
        timings[stage.name] = round(time.perf_counter() - started, 1)
        _save_timings(args.out, timings)
    for step in NOT_YET:
        print(f"[-] {step}: not yet (a later issue builds it)")
    print(summary_table(args.out, timings))
    return 0


def _load_timings(out: Path) -> dict[str, float]:
    path = out / "timings.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_timings(out: Path, timings: dict[str, float]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "timings.json").write_text(json.dumps(timings, indent=2))


def summary_table(out: Path, timings: dict[str, float]) -> str:
    retrieval = json.loads((out / "eval" / "retriever.json").read_text())
    baseline = json.loads((out / "eval" / "baseline" / "report.json").read_text())["summary"]
    rows = [
        ("retriever backbone", str(retrieval.get("backbone"))),
        ("tool recall (test)", f"{retrieval['tool_recall']:.3f}"),
        ("tool precision (test)", f"{retrieval['tool_precision']:.3f}"),
        ("baseline plan success (test)", f"{baseline['success_rate']:.3f}"),
        ("baseline tool-set accuracy (test)", f"{baseline['tool_set_accuracy']:.3f}"),
        ("total stage time (s)", f"{sum(timings.values()):.0f}"),
        ("reports", str(out / "eval")),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
