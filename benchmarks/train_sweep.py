"""Short `tinyagent train` runs over a grid of optimizer settings, to choose the tiny model's defaults.

Every run trains the same data for the same steps; the figure of merit is the mean training loss of
the last five steps (plan success stays near 0 this early), plus plan success on a validation sample
when --eval-samples is given. Prints one JSON object (and writes it to --json).

    python benchmarks/train_sweep.py --data DIR --retriever RDIR --json benchmarks/results/train_sweep.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

# The repository root first: benchmarks/retriever.py would otherwise shadow the retriever package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinyagent_ft.train import TrainConfig, train  # noqa: E402

# (optimizer, lr, rank, update_proj_gap): lr around GaLore's from-scratch value, rank below the
# width of 384, a gap that refreshes the subspace three times in a 30-step run.
GRID = [
    ("natural_galore", 3e-3, 128, 10),
    ("natural_galore", 1e-2, 128, 10),
    ("natural_galore", 1e-3, 128, 10),
    ("natural_galore", 3e-3, 64, 10),
    ("adamw", 1e-3, None, None),
    ("adamw", 3e-3, None, None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--retriever", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--eval-samples", type=int, default=0, help="validation plans scored at the end (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", type=int, nargs="*", help="indices into the grid")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for index, (optimizer, lr, rank, gap) in enumerate(GRID):
        if args.only and index not in args.only:
            continue
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            facts = train(TrainConfig(
                data=args.data, retriever=args.retriever, out=Path(out), optimizer=optimizer, lr=lr, rank=rank,
                update_proj_gap=gap, max_steps=args.steps, batch_size=args.batch_size, eval_samples=args.eval_samples,
                eval_steps=args.steps, logging_steps=1, extra={"disable_tqdm": True},
            ))
            lines = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
        train_lines = [line for line in lines if "loss" in line]
        evals = [line for line in lines if "eval_loss" in line]
        runs.append({
            "optimizer": optimizer, "lr": lr, "rank": rank, "update_proj_gap": gap,
            "final_train_loss": sum(line["loss"] for line in train_lines[-5:]) / len(train_lines[-5:]),  # last 5 steps
            **{key: evals[-1][key] for key in ("eval_loss", "eval_success_rate", "eval_tool_set_accuracy")
               if evals and key in evals[-1]},
            "optimizer_state_bytes": train_lines[-1].get("optimizer_state_bytes"),
            "tokens_per_s": sum(line["tokens_per_s"] for line in train_lines) / len(train_lines),
            "wall_s": round(time.perf_counter() - started, 1), "train_s": facts["train_seconds"],
        })
        print(json.dumps(runs[-1]), flush=True)
    result = {"steps": args.steps, "batch_size": args.batch_size, "threads": args.threads, "runs": runs,
              "note": "2-core machine shared with other jobs: times are upper bounds"}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
