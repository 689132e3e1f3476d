"""Convergence benchmark: AdamW vs GaLore (galore-torch) vs GaLore (ours) vs Natural GaLore.

A small Llama (transformers LlamaForCausalLM) is trained from the same seed on
the same byte-level batches of real text: the top-level ``*.py`` files of the
running Python's standard library, sorted by name, every 10th file held out
for evaluation. Prints JSON (loss curves, final eval loss, cosine similarity
between transformed and plain low-rank gradients) and writes it plus a PNG
plot under benchmarks/results/.

    python benchmarks/convergence.py                  # 10 M-parameter Llama: < 15 min on 2 CPU cores
    python benchmarks/convergence.py --model 3m --full  # 3 M params: damping sweep, seeds, variants
    python benchmarks/convergence.py --model 3m --dtype bfloat16 --state-dtype bfloat16  # bf16 moments

Every run uses one CPU thread so several can share a machine without
disturbing each other's numbers much; ``--jobs`` runs that many at once
(default: one per core).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import sysconfig
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"

from tinyagent_ft.optim.natural_galore import DEFAULT_HISTORY, DEFAULT_HISTORY_DTYPE  # noqa: E402


@dataclass(frozen=True)
class Setting:
    steps: int = 200
    batch_size: int = 8
    seq_len: int = 128
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 688
    lr: float = 3e-3
    warmup: int = 20
    rank: int = 64
    update_proj_gap: int = 50
    scale: float = 1.0
    eval_every: int = 50
    eval_batches: int = 8
    # "bfloat16": weights and gradients in bf16 with no float32 master copy, as the GPU recipe trains.
    dtype: str = "float32"


# Model shapes by approximate parameter count. "10m" is the size the benchmark is specified at;
# "3m" is four times cheaper, which is what makes multi-seed sweeps fit on two cores.
MODEL_SIZES: dict[str, dict[str, int]] = {
    "3m": dict(hidden=256, layers=4, heads=4, kv_heads=2, intermediate=688),
    "10m": dict(hidden=384, layers=6, heads=6, kv_heads=2, intermediate=1024),
}


@dataclass(frozen=True)
class Run:
    name: str
    optimizer: str  # adamw | galore_torch | galore_ours | natural
    seed: int
    damping: float = 1.0
    damping_mode: str = "absolute"
    history: int = DEFAULT_HISTORY
    history_dtype: str = DEFAULT_HISTORY_DTYPE
    history_on_refresh: str = "reset"
    svd_method: str = "full"
    state_dtype: str = "float32"  # Natural GaLore's low-rank moments
    extra: dict = field(default_factory=dict)


def corpus() -> tuple[torch.Tensor, torch.Tensor]:
    """(train, eval) byte streams from the stdlib's top-level source files."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(stdlib.glob("*.py"))
    train, held = bytearray(), bytearray()
    for i, path in enumerate(files):
        (held if i % 10 == 9 else train).extend(path.read_bytes())
    return torch.tensor(list(train), dtype=torch.long), torch.tensor(list(held), dtype=torch.long)


def batches(stream: torch.Tensor, n: int, batch_size: int, seq_len: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(stream) - seq_len - 1, (n, batch_size), generator=gen)
    offsets = torch.arange(seq_len + 1)
    return [stream[s[:, None] + offsets] for s in starts]


def build_model(setting: Setting, seed: int) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=256, hidden_size=setting.hidden, intermediate_size=setting.intermediate,
        num_hidden_layers=setting.layers, num_attention_heads=setting.heads,
        num_key_value_heads=setting.kv_heads, max_position_embeddings=setting.seq_len,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).to(getattr(torch, setting.dtype))


def build_optimizer(model: torch.nn.Module, setting: Setting, run: Run) -> torch.optim.Optimizer:
    from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups

    common = dict(rank=setting.rank, update_proj_gap=setting.update_proj_gap, scale=setting.scale)
    if run.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=setting.lr, weight_decay=0.0)
    if run.optimizer == "galore_torch":
        from galore_torch import GaLoreAdamW

        groups = galore_param_groups(model, natural_history=0, **common)
        groups[0] = {k: groups[0][k] for k in ("params", "rank", "update_proj_gap", "scale")}
        groups[0]["proj_type"] = "std"
        return GaLoreAdamW(groups, lr=setting.lr, eps=1e-8, weight_decay=0.0, no_deprecation_warning=True)
    history = 0 if run.optimizer == "galore_ours" else run.history
    groups = galore_param_groups(
        model, natural_history=history, damping=run.damping, damping_mode=run.damping_mode,
        history_on_refresh=run.history_on_refresh, history_dtype=run.history_dtype, svd_method=run.svd_method,
        state_dtype=run.state_dtype, **common, **run.extra,
    )
    return NaturalGaLoreAdamW(groups, lr=setting.lr, weight_decay=0.0)


def lr_factor(step: int, setting: Setting) -> float:
    if step < setting.warmup:
        return (step + 1) / setting.warmup
    progress = (step - setting.warmup) / max(1, setting.steps - setting.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def lm_loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=batch[:, :-1]).logits
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


@torch.no_grad()
def evaluate(model: torch.nn.Module, eval_batches: list[torch.Tensor]) -> float:
    model.eval()
    losses = [float(lm_loss(model, b)) for b in eval_batches]
    model.train()
    return sum(losses) / len(losses)


def train(setting: Setting, run: Run) -> dict:
    torch.set_num_threads(1)
    train_stream, eval_stream = corpus()
    # Data order depends on the seed too, so seeds measure the full spread.
    train_batches = batches(train_stream, setting.steps, setting.batch_size, setting.seq_len, 1000 + run.seed)
    eval_batches = batches(eval_stream, setting.eval_batches, setting.batch_size, setting.seq_len, 7)
    model = build_model(setting, run.seed)
    optimizer = build_optimizer(model, setting, run)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, setting))
    curve, evals, cosines = [], [], []
    start = time.perf_counter()
    for step, batch in enumerate(train_batches):
        loss = lm_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        curve.append(round(loss.item(), 4))
        cos = getattr(optimizer, "natural_cosine", lambda: None)()
        if cos is not None and run.optimizer == "natural":
            cosines.append(cos)
        if (step + 1) % setting.eval_every == 0 or step + 1 == setting.steps:
            evals.append((step + 1, round(evaluate(model, eval_batches), 4)))
    result = {
        "run": asdict(run),
        "train_loss": curve,
        "eval_loss": evals,
        "final_eval_loss": evals[-1][1],
        "mean_natural_cosine": statistics.fmean(cosines) if cosines else None,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(f"{run.name} seed={run.seed} final_eval={result['final_eval_loss']} "
          f"cos={result['mean_natural_cosine']} {result['seconds']}s", file=sys.stderr, flush=True)
    return result


def default_runs(seed: int, damping: float, mode: str, history: int = Run.history,
                 history_dtype: str = Run.history_dtype, state_dtype: str = Run.state_dtype,
                 svd_method: str = Run.svd_method) -> list[Run]:
    prefix = "natural_rel" if mode == "relative" else "natural_d"
    refresh = "" if svd_method == Run.svd_method else f"_{svd_method}"
    suffix = "" if history == Run.history else f"_s{history}"
    suffix += "" if history_dtype == Run.history_dtype else f"_{history_dtype}"
    suffix += "" if state_dtype == Run.state_dtype else f"_moments_{state_dtype}"
    return [
        Run("adamw", "adamw", seed),
        Run("galore_torch", "galore_torch", seed),
        Run(f"galore_ours{refresh}", "galore_ours", seed, svd_method=svd_method),
        Run(f"{prefix}{damping:g}{suffix}{refresh}", "natural", seed, damping=damping, damping_mode=mode,
            history=history, history_dtype=history_dtype, state_dtype=state_dtype, svd_method=svd_method),
    ]


def full_runs(seeds: list[int], dampings: list[float], rel_dampings: list[float], variant_damping: float) -> list[Run]:
    runs = []
    for seed in seeds:
        runs += [Run("adamw", "adamw", seed), Run("galore_torch", "galore_torch", seed),
                 Run("galore_ours", "galore_ours", seed),
                 Run("galore_ours_randomized", "galore_ours", seed, svd_method="randomized")]
        runs += [Run(f"natural_d{d:g}", "natural", seed, damping=d) for d in dampings]
        runs += [Run(f"natural_rel{d:g}", "natural", seed, damping=d, damping_mode="relative") for d in rel_dampings]
        runs += [Run(f"natural_d{variant_damping:g}_rotate", "natural", seed, damping=variant_damping,
                     history_on_refresh="rotate"),
                 Run(f"natural_d{variant_damping:g}_randomized", "natural", seed, damping=variant_damping,
                     svd_method="randomized")]
    return runs


def summarize(results: list[dict]) -> dict:
    by_name: dict[str, list[dict]] = {}
    for r in results:
        by_name.setdefault(r["run"]["name"], []).append(r)
    summary = {}
    for name, rs in sorted(by_name.items()):
        finals = [r["final_eval_loss"] for r in rs]
        cos = [r["mean_natural_cosine"] for r in rs if r["mean_natural_cosine"] is not None]
        summary[name] = {
            "seeds": [r["run"]["seed"] for r in rs],
            "final_eval_loss": finals,
            "mean": round(statistics.fmean(finals), 4),
            "spread_std": round(statistics.stdev(finals), 4) if len(finals) > 1 else None,
            "mean_natural_cosine": round(statistics.fmean(cos), 4) if cos else None,
            "seconds": [r["seconds"] for r in rs],
        }
    return summary


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_train, ax_eval) = plt.subplots(1, 2, figsize=(12, 4.5))
    seed0 = min(r["run"]["seed"] for r in results)
    for r in results:
        if r["run"]["seed"] != seed0:
            continue
        curve = torch.tensor(r["train_loss"])
        smooth = torch.nn.functional.avg_pool1d(curve[None, None], 10, 1).flatten() if len(curve) >= 10 else curve
        ax_train.plot(range(len(smooth)), smooth.tolist(), label=r["run"]["name"], lw=1)
        steps, losses = zip(*r["eval_loss"])
        ax_eval.plot(steps, losses, marker="o", ms=3, label=r["run"]["name"], lw=1)
    ax_train.set(title=f"train loss (10-step mean, seed {seed0})", xlabel="step", ylabel="loss")
    ax_eval.set(title="eval loss", xlabel="step", ylabel="loss")
    ax_eval.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    from tinyagent_ft.optim import DEFAULT_DAMPING, DEFAULT_DAMPING_MODE

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=sorted(MODEL_SIZES), default="10m", help="model size preset")
    ap.add_argument("--full", action="store_true", help="damping sweep, several seeds, variants")
    ap.add_argument("--steps", type=int, default=Setting.steps)
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--dampings", type=float, nargs="+", default=[1e-3, 1e-2, 1e-1, 1.0])
    ap.add_argument("--relative-dampings", type=float, nargs="+", default=[0.3, 1.0, 3.0])
    ap.add_argument("--damping", type=float, default=DEFAULT_DAMPING, help="natural GaLore's damping")
    ap.add_argument("--damping-mode", choices=["absolute", "relative"], default=DEFAULT_DAMPING_MODE)
    ap.add_argument("--history", type=int, default=Run.history, help="natural GaLore's history length s")
    ap.add_argument("--history-dtype", choices=["float32", "bfloat16"], default=Run.history_dtype)
    ap.add_argument("--state-dtype", choices=["float32", "bfloat16"], default=Run.state_dtype,
                    help="natural GaLore's low-rank Adam moments")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default=Setting.dtype,
                    help="weights and gradients; bfloat16 keeps no float32 master copy")
    ap.add_argument("--variant-damping", type=float, default=1e-2,
                    help="damping for the --full variants (rotate, randomized): one where the transform is active")
    ap.add_argument("--only", nargs="+", default=None, help="run names to keep")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--svd-method", choices=["full", "gram", "randomized"], default=Run.svd_method,
                    help="our GaLore and Natural GaLore's subspace refresh (galore-torch's is the full SVD)")
    ap.add_argument("--tag", default=None, help="output file stem")
    args = ap.parse_args()

    setting = Setting(steps=args.steps, dtype=args.dtype, **MODEL_SIZES[args.model])
    if args.full:
        seeds = args.seeds or [0, 1, 2]
        runs = full_runs(seeds, args.dampings, args.relative_dampings, args.variant_damping)
    else:
        runs = [r for s in (args.seeds or [0]) for r in default_runs(s, args.damping, args.damping_mode, args.history,
                                                                      args.history_dtype, args.state_dtype,
                                                                      args.svd_method)]
    if args.only:
        runs = [r for r in runs if r.name in args.only]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(train, [setting] * len(runs), runs))
    n_params = sum(p.numel() for p in build_model(setting, 0).parameters())
    out = {"setting": asdict(setting), "model": args.model, "parameters": n_params, "data": "stdlib top-level *.py, every 10th file held out",
           "summary": summarize(results), "results": results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = args.tag or ("convergence_full" if args.full else "convergence")
    (RESULTS / f"{stem}.json").write_text(json.dumps(out, indent=1))
    plot(results, RESULTS / f"{stem}.png")
    print(json.dumps({"summary": out["summary"], "json": str(RESULTS / f"{stem}.json"),
                      "plot": str(RESULTS / f"{stem}.png")}, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
