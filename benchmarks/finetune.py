"""Fine-tuning benchmark: the tiny planner trained with each optimizer on the same data, steps and
seeds, then planned through `Planner` (as `tinyagent eval` does) with and without the plan grammar.

Reports per optimizer the mean and spread over seeds of test success and tool-set accuracy
(constrained and free decoding), success per intent of the data generator and per phrasing
(templates seen in training or held out of it), the hand-written queries (valid-plan rate and
tool-set accuracy: they have no gold plans), training tokens/s and peak memory. Prints one JSON
object and writes it to --json.

    python benchmarks/finetune.py                      # one seed per optimizer, reduced budget (< 30 min on 2 cores)
    python benchmarks/finetune.py --full --json benchmarks/results/finetune_full.json   # 3 seeds, 10,000 records

Each finished (optimizer, seed) run saves its result next to its checkpoint, and a later invocation
with the same budget reuses it instead of training again: --full (about 7 hours on 2 cores) can be
run in pieces, e.g. `--full --optimizers natural_galore --seeds 1` at a time; the whole command,
run last, reuses every finished run and reports them all. `--finished-only` reports the finished
runs without training the missing ones, and lists those.

`--model smollm2` (or a model's path) fine-tunes a pretrained model instead of training the tiny one
from scratch, each optimizer at `tinyagent train`'s defaults for that model (LoRA: rank 16, alpha 32,
every attention and MLP projection). A SmolLM2 step of batch 16 takes 5-9 s on a CPU with native bf16
and 50-70 s on one without (benchmarks/RESULTS.md), so the comparison below is hours to days there:

    python benchmarks/finetune.py --model smollm2 --steps 250 --seeds 0 1 --retriever R

On a GPU the planners also generate there
(`--device`), and `--eval-batch 64` suits it: on one H200 shared by four optimizers at once, two
seeds each were trained and scored in 9 minutes (benchmarks/results/finetune_full_h200.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

# The repository root first: benchmarks/retriever.py would otherwise shadow the retriever package.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from planner_eval.score import score_plan  # noqa: E402
from retriever.retriever import MANIFEST  # noqa: E402
from tinyagent_ft.data import SPLIT_FILES, generator, load_split, write_tinyagent_file  # noqa: E402
from tinyagent_ft.models import SMOLLM2, TINY  # noqa: E402
from tinyagent_ft.train.recipe import query_noise_rate  # noqa: E402

OPTIMIZERS = ("natural_galore", "galore", "adamw", "lora")
HANDWRITTEN = ROOT / "tests" / "data" / "handwritten_queries.jsonl"
# Prompts name the tools without signatures, as the demo's do: a quarter more samples per minute.
# The default fits 30 minutes on 2 cores: each optimizer gets about 4 minutes of training and 2 of
# evaluation (two decodings of the test sample and the hand-written queries). That is far too short
# for plan success (the demo's planner has none at step 575), so it compares losses, tool sets and
# cost; --full is the comparison of success rates.
BUDGETS = {
    "default": {"train": 3000, "val": 100, "test": 100, "steps": 200, "batch": 16, "seeds": [0]},
    "full": {"train": 10000, "val": 300, "test": 1000, "steps": 900, "batch": 32, "seeds": [0, 1, 2]},
}
PROMPT_STYLE = "names"
RUN_RESULT = "benchmark_run.json"


def generate_with_origins(out: Path, n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, generator.Drawn]:
    """Write the three splits and return {query: how the generator drew it} (intent, held-out
    phrasing), recorded on the way without changing a single record."""
    origin_of: dict[str, generator.Drawn] = {}
    draw = generator.sample_example

    def recording(split, rng):
        drawn = generator.draw_example(split, rng)
        origin_of[drawn.query] = drawn
        return drawn.query, drawn.actions

    generator.sample_example = recording
    try:
        splits = generator.generate_splits(n_train, n_val, n_test, seed=seed)
    finally:
        generator.sample_example = draw
    for split, records in splits.items():
        write_tinyagent_file(records, out / SPLIT_FILES[split])
    return origin_of


def add_drawn_data_arguments(parser: argparse.ArgumentParser) -> None:
    """--data, --split, --sizes and --seed: the generator's data a script reads, and how to draw it again."""
    parser.add_argument("--data", type=Path, required=True, help="the generator's data directory")
    parser.add_argument("--split", default="test", choices=("validation", "test"))
    parser.add_argument("--sizes", type=int, nargs=3, default=(10000, 300, 500), metavar=("TRAIN", "VAL", "TEST"),
                        help="the data's split sizes, to draw it again (default: the small demo's)")
    parser.add_argument("--seed", type=int, default=0, help="the data's generator seed")


def drawn_origins(args: argparse.Namespace, queries: list[str]) -> dict[str, generator.Drawn]:
    """How the generator drew each of ``queries``, drawing the data again from ``args.sizes`` and
    ``args.seed``; SystemExit where one of them is not among the drawn queries."""
    with tempfile.TemporaryDirectory() as scratch:
        origins = generate_with_origins(Path(scratch), *args.sizes, seed=args.seed)
    if any(query not in origins for query in queries):
        raise SystemExit(f"{args.data}: its {args.split} split is not the generator's for --sizes "
                         f"{' '.join(map(str, args.sizes))} --seed {args.seed}")
    return origins


def print_report(report: dict, path: Path | None, indent: int = 2) -> None:
    """``report`` as JSON on stdout, and in ``path`` too when one is given."""
    text = json.dumps(report, indent=indent)
    print(text)
    if path is not None:
        path.write_text(text + "\n")


def train_retriever(data: Path, out: Path) -> None:
    from tinyagent_ft.cli import main

    if main(["retriever", "train", "--data", str(data), "--out", str(out), "--epochs", "1", "--max-train", "3000"]):
        raise SystemExit("retriever training failed")


def score(gold: list[str], plans: list[str]) -> tuple[list[bool], list[bool]]:
    scores = [score_plan(g, p) for g, p in zip(gold, plans)]
    return [s.success for s in scores], [s.tool_set_match for s in scores]


def evaluate(checkpoint: Path, retriever: Path, test, origin_of: dict[str, generator.Drawn], handwritten: list[dict],
             device: str = "cpu", batch_size: int = 16) -> dict:
    from tinyagent_ft.planner import Planner

    planner = Planner.load(checkpoint, retriever, device=device)
    result = {}
    for mode, constrain in (("constrained", True), ("unconstrained", False)):
        plans = [r.plan for r in planner.plan(test["query"], constrain=constrain, batch_size=batch_size)]
        success, tool_set = score(test["plan"], plans)
        per_intent, per_phrasing = defaultdict(list), defaultdict(list)
        for query, ok in zip(test["query"], success):
            per_intent[origin_of[query].intent].append(ok)
            per_phrasing["held_out" if origin_of[query].held_out else "seen"].append(ok)
        result[mode] = {
            "success_rate": statistics.mean(success), "tool_set_accuracy": statistics.mean(tool_set),
            "success_per_intent": {name: statistics.mean(v) for name, v in sorted(per_intent.items())},
            # Test queries phrased by templates training never saw, against those it did.
            "success_per_phrasing": {name: statistics.mean(v) for name, v in sorted(per_phrasing.items())},
        }
        hand = planner.plan([h["query"] for h in handwritten], constrain=constrain, batch_size=batch_size)
        result[mode]["handwritten"] = {
            "valid_rate": statistics.mean(r.valid for r in hand),
            "tool_set_accuracy": statistics.mean(
                {a.tool for a in r.actions} == set(h["tools"]) for r, h in zip(hand, handwritten)),
        }
    return result


def train_config(optimizer: str, seed: int, budget: dict, data: Path, retriever: Path, out: Path):
    from tinyagent_ft.train import TrainConfig

    return TrainConfig(data=data, retriever=retriever, out=out, model=budget.get("model", TINY),
                       optimizer=optimizer, seed=seed, scale=budget.get("scale"),
                       query_noise=budget.get("query_noise", 0.0),
                       max_steps=budget["steps"], batch_size=budget["batch"], prompt_style=PROMPT_STYLE,
                       eval_samples=0, logging_steps=min(10, budget["steps"]), extra={"disable_tqdm": True},
                       resume="auto")  # an interrupted run goes on from its last checkpoint


def run_one(config) -> dict:
    from tinyagent_ft.train import train

    started = time.perf_counter()
    facts = train(config)
    lines = [json.loads(line) for line in (config.out / "metrics.jsonl").read_text().splitlines()]
    train_lines = [line for line in lines if "loss" in line]
    return {
        "train_seconds": facts["train_seconds"], "wall_seconds": round(time.perf_counter() - started, 1),
        "final_loss": train_lines[-1]["loss"],
        "tokens_per_s": statistics.mean(line["tokens_per_s"] for line in train_lines[1:] or train_lines),
        "peak_rss_bytes": max(line["peak_rss_bytes"] for line in train_lines),
        "optimizer_state_bytes": train_lines[-1].get("optimizer_state_bytes"),
        "peak_gpu_bytes": train_lines[-1].get("peak_gpu_bytes"),
    }


def comparable_budget(budget: dict) -> dict:
    return {key: value for key, value in budget.items() if key != "seeds"}


def finished_run(config, budget: dict) -> dict | None:
    """The result an earlier invocation saved for ``config.out`` under the same budget and GaLore
    settings, if any."""
    saved = config.out / RUN_RESULT
    if saved.exists():
        run = json.loads(saved.read_text())
        if run.get("budget") == comparable_budget(budget) and trained_as(config):
            return run
    return None


def trained_as(config) -> bool:
    """Whether the saved run trained with the query noise and GaLore settings ``config`` resolves to
    today: a budget leaves them to the model's defaults, which can change (SmolLM2's scale went from
    0.25 to 1.0)."""
    from tinyagent_ft.train.recipe import GALORE_OPTIMIZERS

    # Runs saved before query noise existed trained without it.
    trained = {"query_noise": 0.0, **json.loads((config.out / "planner.json").read_text())["info"]["hyperparameters"]}
    expected = {"query_noise": config.noise_rate()}
    if config.optimizer in GALORE_OPTIMIZERS:
        expected.update(config.galore_options())
    return all(trained.get(key) == value for key, value in expected.items())


def run_or_reuse(config, budget: dict, evaluate_run) -> dict:
    """Train and evaluate one (optimizer, seed), or load the result an earlier invocation saved for it."""
    run = finished_run(config, budget)
    if run is not None:
        return run
    training = run_one(config)
    run = {"seed": config.seed, "budget": comparable_budget(budget), "training": training, **evaluate_run(config.out)}
    (config.out / RUN_RESULT).write_text(json.dumps(run) + "\n")
    return run


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how a fine-tuning benchmark runs: the flags it shares with planner_scale.py."""
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="where the planners generate (training goes where the Trainer puts it)")
    parser.add_argument("--eval-batch", type=int, default=16, help="plans generated together (64 suits a GPU)")
    parser.add_argument("--json", type=Path, default=None)


def device_name() -> str:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def load_handwritten() -> list[dict]:
    return [json.loads(line) for line in HANDWRITTEN.read_text().splitlines() if line.strip()]


def spread(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def summarize(runs: list[dict]) -> dict:
    summary = {}
    for mode in ("constrained", "unconstrained"):
        summary[mode] = {key: spread([r[mode][key] for r in runs]) for key in ("success_rate", "tool_set_accuracy")}
        intents = sorted({name for r in runs for name in r[mode]["success_per_intent"]})
        summary[mode]["success_per_intent"] = {
            name: statistics.mean(r[mode]["success_per_intent"].get(name, 0.0) for r in runs) for name in intents}
        # Runs saved before the phrasing breakdown existed lack it.
        phrasings = [r[mode]["success_per_phrasing"] for r in runs if "success_per_phrasing" in r[mode]]
        if phrasings:
            summary[mode]["success_per_phrasing"] = {
                name: spread([p[name] for p in phrasings if name in p]) for name in sorted(set().union(*phrasings))}
        summary[mode]["handwritten"] = {key: spread([r[mode]["handwritten"][key] for r in runs])
                                        for key in ("valid_rate", "tool_set_accuracy")}
    for key in ("tokens_per_s", "peak_rss_bytes", "train_seconds"):
        summary[key] = spread([r["training"][key] for r in runs])
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "finetune",
                        help="data, retriever, checkpoints and finished runs' results, per budget")
    parser.add_argument("--full", action="store_true", help="3 seeds, 10,000 records, 900 steps of batch 32 each")
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=OPTIMIZERS)
    parser.add_argument("--steps", type=int, default=None, help="override the budget's steps")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="override the budget's seeds")
    parser.add_argument("--test", type=int, default=None, help="override the budget's test records")
    parser.add_argument("--scale", type=float, default=None,
                        help="override the GaLore optimizers' update scale (the model's default otherwise)")
    parser.add_argument("--query-noise", type=float, default=None, metavar="RATE",
                        help="rate of phrasing-word noise on training queries (tinyagent train --query-noise; "
                        "default: the model's, 0.15 for smollm2, else 0)")
    parser.add_argument("--model", default=TINY,
                        help=f"{TINY} (trained from scratch), {SMOLLM2} or a pretrained model's path (fine-tuned)")
    parser.add_argument("--retriever", type=Path, default=None, help="reuse a trained retriever (else one is trained)")
    parser.add_argument("--finished-only", action="store_true",
                        help="train nothing: report the (optimizer, seed) runs already finished and list the missing ones")
    add_run_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = "full" if args.full else "default"
    overrides = {key: value for key, value in (("steps", args.steps), ("seeds", args.seeds), ("test", args.test),
                                               ("scale", args.scale)) if value}
    budget = dict(BUDGETS[name], **overrides)
    noise = query_noise_rate(args.model, args.query_noise)
    if noise:  # only then, so runs saved before query noise existed are still reused
        budget["query_noise"] = noise
    if args.model != TINY:  # only then, so runs saved before --model existed are still reused
        budget["model"] = args.model

    # Another model, steps or test set gets its own directory, so its checkpoints never resume
    # another budget's run (seeds share one: each seed has its own checkpoint).
    tags = [name]
    if args.model != TINY:
        tags.append(Path(args.model).name)
    if args.steps:
        tags.append(f"{args.steps}steps")
    if args.test:
        tags.append(f"{args.test}test")
    if args.scale:
        tags.append(f"scale{args.scale:g}")
    if noise:  # SmolLM2's default noise trains apart from its noise-free runs of before 2026-12-07
        tags.append(f"noise{noise:g}")
    work = args.work / "-".join(tags)
    data = work / "data"
    origin_of = generate_with_origins(data, budget["train"], budget["val"], budget["test"], seed=0)
    retriever = args.retriever or work / "retriever"
    if args.retriever is None and not args.finished_only and not (retriever / MANIFEST).exists():
        train_retriever(data, retriever)
    test = load_split(data, "test")
    handwritten = load_handwritten()

    results, missing = {}, []
    for optimizer in args.optimizers:
        runs = []
        for seed in budget["seeds"]:
            config = train_config(optimizer, seed, budget, data, retriever, work / f"{optimizer}-seed{seed}")
            if args.finished_only:
                run = finished_run(config, budget)
                if run is None:
                    missing.append({"optimizer": optimizer, "seed": seed})
                    continue
            else:
                run = run_or_reuse(config, budget,
                                   lambda ckpt: evaluate(ckpt, retriever, test, origin_of, handwritten, args.device, args.eval_batch))
            runs.append(run)
            print(json.dumps({"optimizer": optimizer, **run}), file=sys.stderr, flush=True)
        if runs:
            results[optimizer] = {"summary": summarize(runs), "runs": runs}
    report = {"budget": budget, "prompt_style": PROMPT_STYLE, "threads": args.threads, "test_records": len(test),
              "device": device_name(),
              "optimizers": results,
              **({"missing_runs": missing} if missing else {}),
              "note": "timings depend on the machine's load; compare optimizers within one report"}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
