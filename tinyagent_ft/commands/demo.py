"""`tinyagent demo`: the whole toolkit end to end on the embedded defaults, through the same subcommands a
user would run: generate data, train the retriever, fine-tune the tiny planner with Natural GaLore,
evaluate it next to the nearest-example baseline, then serve it and ask it three questions. A stage
whose outputs exist is skipped, so an interrupted demo resumes where it stopped."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tinyagent_ft.commands.catalog_option import add_tools_option, command_catalog


@dataclass(frozen=True)
class Budget:
    records: tuple[int, int, int]  # train, validation, test
    retriever_args: tuple[str, ...]  # extra `tinyagent retriever train` flags
    train_args: tuple[str, ...]  # extra `tinyagent train` flags
    # (flag, value) pairs of train_args that change where training is fast: on a GPU, or autocast to
    # bf16 on a CPU that computes it natively (`trains_fast`).
    fast_overrides: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # An override replaces a flag's value, so it must name a flag the budget sets; checked here so
        # that a wrong budget fails on import rather than in the middle of a demo.
        missing = [flag for flag, _ in self.fast_overrides if flag not in self.train_args]
        if missing:
            raise ValueError(f"fast overrides name flags the budget does not set: {', '.join(missing)}")

    def train_flags(self, fast: bool) -> list[str]:
        """The `tinyagent train` flags, with the fast overrides' values where ``fast``."""
        flags = list(self.train_args)
        for flag, value in self.fast_overrides if fast else ():
            flags[flags.index(flag) + 1] = value
        return flags


BUDGETS = {
    # For the test suite: checks that every stage runs and connects, not how well.
    "tiny": Budget((300, 60, 60), ("--epochs", "1"),
                   ("--max-steps", "4", "--batch-size", "8", "--eval-samples", "8", "--logging-steps", "2")),
    # The default: 2,000 steps, 30-37 minutes on 2 AVX2 cores; 5,000 where training is fast. The
    # retriever learns tool sets from a sample of 3,000 records; the planner needs more records and
    # steps, which is where the time goes: prompts that name the tools without signatures fit a
    # quarter more samples in the time, batch 16 makes twice the updates of batch 32, which early
    # training needs more, and a 256 x 4 model (4.4 M parameters, its rate scaled by 384 / 256) runs
    # 3.2 times the 384 x 6 default's tokens/s and plans better per minute with copied and derived
    # arguments. On a 2-core AVX2 CPU (benchmarks/RESULTS.md): 2,000 steps gave test success 0.552 in
    # 36.8 min (seed 0, a slow hour) and 0.614 in 32.7 min (seed 1), 2,300 steps 0.602 in 32.4 min;
    # 384 x 6 for 1,150 steps 0.490 in about 52. On a 2-core Xeon with AMX, which autocasts to bf16:
    # 0.646 in 8.6 min at 2,000 steps, 0.744 in 21 min at 5,000.
    "small": Budget((10000, 300, 500), ("--epochs", "2", "--max-train", "3000"),
                    ("--max-steps", "2000", "--batch-size", "16", "--prompt-style", "names",
                     "--tiny-width", "256", "--tiny-layers", "4", "--lr", "4.5e-3",
                     "--eval-steps", "1000", "--eval-samples", "60"),
                    (("--max-steps", "5000"), ("--eval-steps", "2500"))),
    # The best planner measured on 2 CPU cores within 2 hours (README): the 384 x 6 model on 40,000
    # records for 5,400 steps, 80 to 105 minutes of training (test success 0.704 with free strings).
    "long": Budget((40000, 300, 500), ("--epochs", "2", "--max-train", "3000"),
                   ("--max-steps", "5400", "--batch-size", "16", "--prompt-style", "names",
                    "--eval-steps", "1350", "--eval-samples", "60")),
    # TinyAgent's recipe (3 epochs, batch 32) at our data size: hours on a CPU.
    "full": Budget((10000, 500, 1000), ("--epochs", "3"), ("--epochs", "3", "--batch-size", "32")),
}
SERVED_QUERIES = (
    "Text Maya that I am running ten minutes late",
    "Find the budget_q3.pdf, summarize it and email the summary to Sid and Nick",
    "Create a zoom meeting about the roadmap tomorrow at 3pm for 30 minutes and send the link to Ana by sms",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    demo = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on generated data and the packaged models",
        description="Generate data, train the retriever, fine-tune and evaluate the tiny planner, score the "
        "nearest-example baseline, serve the planner and query it, then print a summary (also written to "
        "OUT/summary.json). Finished stages are skipped, so re-running resumes.",
    )
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory")
    demo.add_argument("--budget", choices=sorted(BUDGETS), default="small",
                      help="tiny: seconds per stage (tests); small: the default, 2,000 steps on CPUs without native bf16 "
                      "(30-37 min on 2 AVX2 cores), 5,000 where training is fast, on a GPU or a CPU with native bf16 "
                      "(21 min on 2 AMX cores); "
                      "long: the best planner in 2 hours on 2 cores (about 1 h 45 min in all); "
                      "full: TinyAgent's recipe (3 epochs of batch 32), hours")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data, the retriever and the planner")
    demo.add_argument("--model", default="tiny", help="the planner's base model, as `tinyagent train --model` takes it")
    demo.add_argument("--data", type=Path, default=None,
                      help="your data directory instead of generated TinyAgent data (needed with --tools)")
    add_tools_option(demo)
    demo.set_defaults(handler=run_demo)


@dataclass
class Stage:
    name: str
    done_when: Path
    argv: list[str]


@dataclass(frozen=True)
class Layout:
    out: Path
    given_data: Path | None = None  # the user's data directory; None: generated under OUT

    @property
    def data(self) -> Path:
        return self.given_data if self.given_data is not None else self.out / "data"

    @property
    def retriever(self) -> Path:
        return self.out / "retriever"

    @property
    def planner(self) -> Path:
        return self.out / "planner"

    @property
    def evals(self) -> Path:
        return self.out / "eval"


def trains_fast() -> bool:
    """Whether `tinyagent train --device auto` will train on an accelerator (CUDA, MPS), or autocast the
    tiny model to bf16 by default on this CPU: a fixed rule by device, never a timing, so a resumed demo
    trains the same steps. It asks training's own precision rule, so the two cannot disagree."""
    from tinyagent_ft.devices import resolve_device
    from tinyagent_ft.models import TINY
    from tinyagent_ft.train.device_defaults import precision

    device = resolve_device("auto")
    return device != "cpu" or precision(TINY, device, None)[1]


def stages(layout: Layout, budget: str, seed: int, model: str = "tiny", tools: Path | None = None,
           fast: bool = False) -> list[Stage]:
    """The demo's stages; over ``layout.given_data`` (no generation) and ``tools`` when given, with
    the budget's fast-training flags where ``fast`` (`trains_fast`)."""
    plan = BUDGETS[budget]
    n_train, n_val, n_test = plan.records
    data, retr, evals, planner = str(layout.data), str(layout.retriever), layout.evals, str(layout.planner)
    catalog = [] if tools is None else ["--tools", str(tools)]
    generate = [] if layout.given_data is not None else [
        Stage("generate data", layout.data / "testing_data.json",
              ["data", "generate", "--out", data, "--train", str(n_train), "--val", str(n_val), "--test", str(n_test), "--seed", str(seed)]),
    ]
    return generate + [
        Stage("export test queries and gold plans", evals / "gold.jsonl",
              ["data", "export", "--data", data, "--split", "test", "--queries", str(evals / "queries.jsonl"), "--plans", str(evals / "gold.jsonl"), *catalog]),
        Stage("train the retriever", layout.retriever / "retriever.json",
              ["retriever", "train", "--data", data, "--out", retr, "--seed", str(seed), *plan.retriever_args, *catalog]),
        Stage("evaluate tool retrieval on the test split", evals / "retriever.json",
              ["retriever", "eval", "--retriever", retr, "--queries", str(evals / "queries.jsonl"), "--out", str(evals / "retriever.json")]),
        Stage("score the nearest-example baseline planner", evals / "baseline" / "report.json",
              ["baseline", "--retriever", retr, "--data", data, "--split", "test", "--out", str(evals / "baseline")]),
        Stage("fine-tune the tiny planner with Natural GaLore", layout.planner / "planner.json",
              ["train", "--data", data, "--retriever", retr, "--model", model, "--optimizer", "natural_galore",
               "--out", planner, "--seed", str(seed), *plan.train_flags(fast)]),
        Stage("evaluate the planner on the test split (constrained decoding)", evals / "planner" / "report.json",
              ["eval", "--model", planner, "--retriever", retr, "--data", data, "--split", "test", "--out", str(evals / "planner")]),
    ]


def run_demo(args: argparse.Namespace) -> int:
    from tinyagent_ft.cli import main as tinyagent

    if args.tools is not None and args.data is None:
        raise ValueError("--tools needs --data DIR with records over those tools: the demo's generator writes "
                         "TinyAgent's 16 tools only")
    if args.tools is not None:
        command_catalog(args.tools)  # a bad catalog is one line before any stage runs
    layout = Layout(args.out, args.data)
    timings = _load_timings(layout.out)
    all_stages = stages(layout, args.budget, args.seed, args.model, args.tools, trains_fast())
    for number, stage in enumerate(all_stages, start=1):
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
        _save_timings(layout.out, timings)
    served_path = layout.evals / "served.json"
    number = len(all_stages) + 1
    if served_path.exists():
        print(f"[{number}] serve the planner and query it: done already ({served_path})")
    else:
        print(f"[{number}] serve the planner and query it: tinyagent serve --model {layout.planner} --retriever {layout.retriever}", flush=True)
        started = time.perf_counter()
        served = query_served_planner(layout.planner, layout.retriever, served_queries(layout))
        timings["serve the planner and query it"] = round(time.perf_counter() - started, 1)
        _save_timings(layout.out, timings)
        served_path.write_text(json.dumps(served, indent=2))
    served = json.loads(served_path.read_text())
    first = served["responses"][0]
    print(f"\nServed plan for {first['query']!r}:\n{first['plan']}\n")
    summary = collect_summary(layout, timings, served)
    (layout.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(summary_table(summary))
    return 0


def served_queries(layout: Layout) -> tuple[str, ...]:
    """Questions for the served planner: the fixed TinyAgent ones, or the first test queries of the user's data."""
    if layout.given_data is None:
        return SERVED_QUERIES
    with open(layout.evals / "queries.jsonl", encoding="utf-8") as lines:
        return tuple(json.loads(line)["query"] for line, _ in zip(lines, range(len(SERVED_QUERIES))))


def query_served_planner(checkpoint: Path, retriever: Path, queries: tuple[str, ...]) -> dict:
    """Start `tinyagent serve` on a free loopback port, POST each query to /v1/plan, stop the server."""
    import httpx

    from serve.process import served

    responses = []
    with served(checkpoint, retriever, "--threads", "1") as url, httpx.Client(base_url=url, timeout=300.0) as client:
        for query in queries:
            reply = client.post("/v1/plan", json={"query": query})
            reply.raise_for_status()
            body = reply.json()
            responses.append({"query": query, "plan": body["plan"], "valid": body["valid"], "tools": body["tools"],
                              "latency_ms": body["latency_ms"]})
    return {"url": url, "responses": responses}


def _load_timings(out: Path) -> dict[str, float]:
    path = out / "timings.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_timings(out: Path, timings: dict[str, float]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "timings.json").write_text(json.dumps(timings, indent=2))


def _read_summary(path: Path) -> dict:
    return json.loads(path.read_text())["summary"]


def collect_summary(layout: Layout, timings: dict[str, float], served: dict) -> dict:
    """The demo's figures, read from the stages' own reports (rates are fractions)."""
    from tinyagent_ft.runs import run_figures

    retrieval = json.loads((layout.evals / "retriever.json").read_text())
    planner = _read_summary(layout.evals / "planner" / "report.json")
    baseline = _read_summary(layout.evals / "baseline" / "report.json")
    figures = run_figures(layout.planner)
    return {
        "retriever_backbone": retrieval.get("backbone"),
        "retriever_tool_recall": retrieval["tool_recall"],
        "retriever_tool_precision": retrieval["tool_precision"],
        "planner_test_success_rate": planner["success_rate"],
        "planner_tool_set_accuracy": planner["tool_set_accuracy"],
        "planner_valid_rate": planner.get("valid_rate"),
        "baseline_test_success_rate": baseline["success_rate"],
        "baseline_tool_set_accuracy": baseline["tool_set_accuracy"],
        "train_seconds": figures["train_seconds"],
        "train_steps": figures["steps"],
        "peak_rss_bytes": figures["peak_rss_bytes"],
        "served_plan_valid": all(r["valid"] for r in served["responses"]),
        "served_latency_ms": [r["latency_ms"] for r in served["responses"]],
        "stage_seconds": timings,
        "reports": str(layout.evals),
    }


def summary_table(summary: dict) -> str:
    rows = [
        ("retriever backbone", str(summary["retriever_backbone"])),
        ("retriever tool recall / precision (test)", f"{summary['retriever_tool_recall']:.3f} / {summary['retriever_tool_precision']:.3f}"),
        ("planner plan success (test)", f"{summary['planner_test_success_rate']:.3f}"),
        ("planner tool-set accuracy (test)", f"{summary['planner_tool_set_accuracy']:.3f}"),
        ("baseline plan success (test)", f"{summary['baseline_test_success_rate']:.3f}"),
        ("baseline tool-set accuracy (test)", f"{summary['baseline_tool_set_accuracy']:.3f}"),
        ("planner training (s, steps)", f"{summary['train_seconds']:.0f}, {summary['train_steps']}"),
        ("peak memory while training (MiB)", f"{summary['peak_rss_bytes'] / 2**20:.0f}"),
        ("served plans valid", "yes" if summary["served_plan_valid"] else "NO"),
        ("total stage time (s)", f"{sum(summary['stage_seconds'].values()):.0f}"),
        ("reports", summary["reports"]),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
