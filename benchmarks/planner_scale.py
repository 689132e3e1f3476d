"""What limits the tiny planner's plan success: training steps, model size or pretraining. Prints JSON.

The two-hour recipe (`tinyagent demo --budget long`: 40,000 generated records, Natural GaLore, batch
16, names prompts, 5,400 steps) is trained as is and with one thing changed: twice the steps, twice
the layers, twice the width (at half the learning rate, the usual step for a wider model), or the
pretrained SmolLM2-135M-Instruct in place of the tiny model (400 steps in bf16: 12 times the
parameters, so a twelfth of the steps fill the same time on 2 cores). Each
variant is then planned on the 500 test records as benchmarks/finetune.py does (constrained and free
decoding, success per intent, the hand-written queries). On 2 CPU cores the recipe alone takes 95
minutes; this is for a GPU, where one variant takes minutes, and `--variants` picks a subset:

    python benchmarks/planner_scale.py --retriever runs/demo/retriever --variants base deep --json OUT.json
    python benchmarks/planner_scale.py --retriever R --variants base --steps 20 --records 400 --test 20   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))

from finetune import add_run_arguments, device_name, evaluate, generate_with_origins, load_handwritten  # noqa: E402
from tinyagent_ft.data import load_split  # noqa: E402
from tinyagent_ft.models import SMOLLM2, TINY, TinyShape  # noqa: E402

RECIPE = {"model": TINY, "steps": 5400, "batch": 16, "lr": 3e-3, "shape": TinyShape(), "bf16": False}
VARIANTS = {
    "base": {},
    "steps2x": {"steps": 10800},
    "deep": {"shape": TinyShape.scaled(384, 12)},
    "wide": {"shape": TinyShape.scaled(768, 8), "lr": 1.5e-3},  # `tinyagent train --tiny-width 768 --tiny-layers 8 --lr 1.5e-3`
    "smollm2": {"model": SMOLLM2, "steps": 400, "lr": 5e-4, "bf16": True},  # `tinyagent train --model smollm2 --bf16`
}


def train_variant(name: str, data: Path, retriever: Path, out: Path, steps: int | None) -> dict:
    from tinyagent_ft.train import TrainConfig, train

    setting = {**RECIPE, **VARIANTS[name]}
    steps = steps or setting["steps"]
    facts = train(TrainConfig(data=data, retriever=retriever, out=out, model=setting["model"], optimizer="natural_galore", seed=0, bf16=setting["bf16"],
                              max_steps=steps, batch_size=setting["batch"], lr=setting["lr"], prompt_style="names",
                              eval_steps=max(1, steps // 4), eval_samples=60, logging_steps=min(10, steps), tiny_shape=setting["shape"],
                              extra={"disable_tqdm": True}, resume="auto"))
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {
        "steps": steps, "lr": setting["lr"], "shape": vars(setting["shape"]),
        "parameters": sum(p.numel() for p in _load_model(out).parameters()),
        "train_seconds": facts["train_seconds"],
        "tokens_per_s": statistics.mean(line["tokens_per_s"] for line in lines if "loss" in line),
        "validation": [{"step": line["step"], "success": line["eval_success_rate"]}
                       for line in lines if "eval_success_rate" in line],
    }


def _load_model(checkpoint: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(checkpoint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retriever", type=Path, required=True, help="a trained retriever (tinyagent retriever train)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "planner_scale")
    parser.add_argument("--records", type=int, default=40000, help="training records (the recipe's 40,000)")
    parser.add_argument("--steps", type=int, default=None, help="override every variant's steps (smoke runs)")
    parser.add_argument("--test", type=int, default=500, help="test records (the recipe's 500)")
    add_run_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = args.work / f"data-{args.records}-{args.test}"
    origin_of = generate_with_origins(data, args.records, 300, args.test, seed=0)  # `demo --budget long`'s splits
    test = load_split(data, "test")
    handwritten = load_handwritten()
    report = {"recipe": {**RECIPE, "shape": vars(RECIPE["shape"])}, "records": args.records, "test_records": len(test),
              "device": device_name(), "variants": {}}
    for name in args.variants:
        started = time.perf_counter()
        out = args.work / (f"{name}-{args.records}-{args.test}" + (f"-{args.steps}steps" if args.steps else ""))
        result = train_variant(name, data, args.retriever, out, args.steps)
        result.update(evaluate(out, args.retriever, test, origin_of, handwritten, args.device, args.eval_batch))
        result["wall_seconds"] = round(time.perf_counter() - started, 1)
        report["variants"][name] = result
        print(json.dumps({"variant": name, **result}), file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
