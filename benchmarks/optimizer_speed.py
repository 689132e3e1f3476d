"""Optimizer step time on TinyLlama-shaped layers, side by side in one process. Prints JSON.

Step time excludes subspace-refresh steps (the projection gap is set beyond
the timed window); refresh cost is timed separately, per matrix shape, for
galore-torch's full SVD and for our randomized range finder (our "full" refresh
is the same torch.linalg.svd call, so it is not timed twice).
Optimizers are timed in interleaved rounds and medians reported, because the
machine may be shared.

    python benchmarks/optimizer_speed.py [--layers 1] [--rank 128] [--rounds 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyagent_ft.optim import NaturalGaLoreAdamW  # noqa: E402
from tinyagent_ft.optim.projector import projection_side, top_singular_basis  # noqa: E402

# One TinyLlama-1.1B decoder layer: (out_features, in_features) of each projection.
LAYER_SHAPES = {
    "q_proj": (2048, 2048), "k_proj": (256, 2048), "v_proj": (256, 2048), "o_proj": (2048, 2048),
    "gate_proj": (5632, 2048), "up_proj": (5632, 2048), "down_proj": (2048, 5632),
}
NO_REFRESH = 10**9  # only the first step refreshes; it is excluded from timing


def make_params(layers: int) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    params = []
    for _ in range(layers):
        for shape in LAYER_SHAPES.values():
            p = torch.nn.Parameter(torch.randn(*shape, generator=gen) * 0.02)
            p.grad = torch.randn(*shape, generator=gen) * 1e-3
            params.append(p)
    return params


def build(name: str, params: list[torch.nn.Parameter], rank: int) -> torch.optim.Optimizer:
    galore = {"rank": rank, "update_proj_gap": NO_REFRESH, "scale": 0.25}
    if name == "torch_adamw":
        return torch.optim.AdamW(params, lr=1e-3)
    if name == "galore_torch":
        from galore_torch import GaLoreAdamW

        return GaLoreAdamW([{"params": params, **galore, "proj_type": "std"}], lr=1e-3,
                           no_deprecation_warning=True)
    options = {
        "ours_galore": {"natural_history": 0},
        "ours_natural_s20": {"natural_history": 20},
        "ours_natural_s4": {"natural_history": 4},
        "ours_natural_s20_bf16": {"natural_history": 20, "history_dtype": "bfloat16"},
    }[name]
    return NaturalGaLoreAdamW([{"params": params, **galore, **options}], lr=1e-3)


def time_steps(optimizers: dict[str, torch.optim.Optimizer], rounds: int, steps: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for opt in optimizers.values():
        opt.step()  # refresh + state allocation, not timed
        opt.step()  # history fills in; the steady state starts here
    for _ in range(rounds):
        for name, opt in optimizers.items():
            start = time.perf_counter()
            for _ in range(steps):
                opt.step()
            times[name].append((time.perf_counter() - start) / steps)
    return times


def time_refresh(rank: int, reps: int) -> dict[str, dict[str, float]]:
    from galore_torch.galore_projector import GaLoreProjector

    out = {}
    gen = torch.Generator().manual_seed(1)
    for shape in sorted(set(LAYER_SHAPES.values())):
        grad = torch.randn(*shape, generator=gen)
        side = projection_side(shape, "std")
        projector = GaLoreProjector(rank, update_proj_gap=1, proj_type="std")
        runs = {
            "galore_torch_full_svd": lambda: projector.project(grad, 0),
            "ours_randomized": lambda: top_singular_basis(grad, rank, side, "randomized",
                                                          torch.Generator().manual_seed(0)),
        }
        row = {}
        for name, fn in runs.items():
            samples = []
            for _ in range(reps):
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
            row[name] = round(statistics.median(samples), 4)
        row["speedup_randomized_vs_galore_torch"] = round(row["galore_torch_full_svd"] / row["ours_randomized"], 2)
        out[f"{shape[0]}x{shape[1]}"] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--rank", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=2, help="steps per timed round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--refresh-reps", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "optimizer_speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    names = ["torch_adamw", "galore_torch", "ours_galore", "ours_natural_s20", "ours_natural_s4",
             "ours_natural_s20_bf16"]
    # Each optimizer gets its own copy of the parameters so their states never interact.
    optimizers = {name: build(name, make_params(args.layers), args.rank) for name in names}
    times = time_steps(optimizers, args.rounds, args.steps)
    med = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "setting": {"layers": args.layers, "shapes": LAYER_SHAPES, "rank": args.rank, "threads": args.threads,
                    "rounds": args.rounds, "steps_per_round": args.steps, "refresh_steps_excluded": True},
        "step_seconds_median": {k: round(v, 4) for k, v in med.items()},
        "step_seconds_all": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "ratio_vs_galore_torch": {k: round(v / med["galore_torch"], 3) for k, v in med.items()},
        "ratio_vs_torch_adamw": {k: round(v / med["torch_adamw"], 3) for k, v in med.items()},
        "refresh_seconds_median": time_refresh(args.rank, args.refresh_reps),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
