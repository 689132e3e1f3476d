"""The optimizer's share of a tiny-model training step on this machine, refreshes included.

Times `optimizer.step()` on the parameters of `--model tiny`'s Llama (one real gradient of 16 random
sequences, lightly perturbed each step) for Natural GaLore at the tiny model's defaults (on a CPU: the
fused low-rank Adam and the Gram refresh), the same on the batched path with the full SVD (the GPU's
path, and the CPU's before 2026-12-07), the same with a randomized subspace refresh, plain GaLore
(history 0) and torch's fused AdamW, the Trainer's choice.
A GaLore step that refreshes the subspace (every `update_proj_gap` steps) costs far more than one
that does not, so both are reported, with their average over a refresh period. Prints JSON.

    python benchmarks/tiny_optimizer_step.py [--steps 101] [--threads 2] [--profile] [--width 256 --layers 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from transformers import LlamaForCausalLM

from tinyagent_ft.models import TinyShape
from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups
from tinyagent_ft.train.recipe import TINY_DEFAULTS

GAP = TINY_DEFAULTS["update_proj_gap"]


def tiny_model(seed: int, width: int | None = None, layers: int | None = None) -> LlamaForCausalLM:
    """`--model tiny`'s default shape, or `--tiny-width` / `--tiny-layers`' (the demo trains 256 x 4)."""
    torch.manual_seed(seed)
    default = TinyShape()
    shape = default if width is None and layers is None else TinyShape.scaled(width or default.hidden_size,
                                                                      layers or default.num_hidden_layers)
    return LlamaForCausalLM(shape.llama_config())


def make_optimizer(kind: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    if kind == "adamw_fused":
        return torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    options = dict(rank=TINY_DEFAULTS["rank"], update_proj_gap=GAP, scale=TINY_DEFAULTS["scale"],
                   natural_history=0 if kind == "galore" else TINY_DEFAULTS["natural_history"])
    if kind == "natural_galore_randomized":
        options["svd_method"] = "randomized"
    if kind == "natural_galore_batched_full_svd":
        options.update(fused=False, svd_method="full")
    return NaturalGaLoreAdamW(galore_param_groups(model, **options), lr=1e-4)


def time_steps(kind: str, model: torch.nn.Module, grads: dict, steps: int) -> dict:
    optimizer, seconds = make_optimizer(kind, model), []
    for _ in range(steps):
        for p in model.parameters():
            p.grad = grads[p] + 1e-3 * torch.randn_like(grads[p])  # a new gradient each step, as in training
        start = time.perf_counter()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
    refreshing = [s for i, s in enumerate(seconds) if i % GAP == 0]
    plain = [s for i, s in enumerate(seconds) if i % GAP != 0]
    row = {"optimizer": kind, "steps": steps, "median_step_ms": round(1e3 * statistics.median(plain), 2)}
    if kind != "adamw_fused":
        row["refresh_step_ms"] = round(1e3 * statistics.median(refreshing), 1)
        period = statistics.median(plain) * (GAP - 1) + statistics.median(refreshing)
        row["per_step_over_a_period_ms"] = round(1e3 * period / GAP, 2)
    return row


def profile_natural_galore(model: torch.nn.Module, grads: dict) -> list[dict]:
    """The operators of 10 steps that do not refresh, by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    optimizer = make_optimizer("natural_galore", model)
    for p in model.parameters():
        p.grad = grads[p]
    optimizer.step()  # the refresh at step 0 stays out of the profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            optimizer.step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:8]
    return [{"op": e.key, "self_ms_per_step": round(e.self_cpu_time_total / 1e4, 2)} for e in events]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=2 * GAP + 1, help="optimizer steps per optimizer")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="also list Natural GaLore's costliest operators")
    parser.add_argument("--width", type=int, default=None, help="the tiny model's width, as `--tiny-width` (default: 384)")
    parser.add_argument("--layers", type=int, default=None, help="its layers, as `--tiny-layers` (default: 6)")
    args = parser.parse_args()
    if args.steps < GAP + 1:
        parser.error(f"--steps must be at least {GAP + 1} to see a refresh and the steps after it")
    torch.set_num_threads(args.threads)
    model = tiny_model(args.seed, args.width, args.layers)
    ids = torch.randint(0, model.config.vocab_size, (16, 118))
    model(input_ids=ids, labels=ids).loss.backward()
    grads = {p: p.grad.clone() for p in model.parameters()}
    rows = [time_steps(kind, model, grads, args.steps)
            for kind in ("natural_galore", "natural_galore_batched_full_svd", "natural_galore_randomized", "galore",
                         "adamw_fused")]
    shape = f"{model.config.hidden_size} x {model.config.num_hidden_layers}"
    result = {"threads": args.threads, "update_proj_gap": GAP, "model": shape, "rows": rows}
    if args.profile:
        result["natural_galore_profile"] = profile_natural_galore(model, grads)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
