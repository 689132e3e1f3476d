"""Short `tinyagent train` runs over a grid of optimizer settings, to choose the tiny model's defaults.

Every run trains the same data for the same steps and scores plan success on the same validation
sample at its last step; it prints one JSON object (and writes it to --json).

    python benchmarks/train_sweep.py --data DIR --retriever RDIR --steps 60 --json benchmarks/results/train_sweep.json
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
# width of 384, gaps that refresh the subspace 2-6 times in a short run.
GRID = [
    ("natural_galore", 3e-3, 128, 20),
    ("natural_galore", 1e-2, 128, 20),
    ("natural_galore", 1e-3, 128, 20),
    ("natural_galore", 3e-3, 64, 20),
    ("adamw", 1e-3, None, None),
    ("adamw", 3e-3, None, None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--retriever", required=True, type=Path)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-samples", type=int, default=100)
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
                eval_steps=args.steps, logging_steps=5, extra={"disable_tqdm": True},
            ))
            lines = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
        train_lines = [line for line in lines if "loss" in line]
        final = [line for line in lines if "eval_loss" in line][-1]
        runs.append({
            "optimizer": optimizer, "lr": lr, "rank": rank, "update_proj_gap": gap,
            "final_train_loss": sum(line["loss"] for line in train_lines[-3:]) / len(train_lines[-3:]),
            **{key: final[key] for key in ("eval_loss", "eval_success_rate", "eval_tool_set_accuracy", "eval_valid_rate")},
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
