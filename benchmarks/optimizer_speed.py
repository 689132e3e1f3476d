"""Optimizer step cost on a TinyLlama-shaped model, side by side in one process. Prints JSON.

Two measures of a steady-state step (one that does not refresh the subspace:
the projection gap is set beyond the measured window):

* overhead, independent of the machine: aten operations dispatched and host
  synchronisations (``aten::_local_scalar_dense``: ``.item()``, ``float()``,
  ``bool()`` on a tensor) per step, counted with ``torch.profiler`` over every
  recorded ``aten::`` event, nested ones included. On a GPU each operation is
  roughly a kernel launch, so this measures the GPU problem on a CPU. On a CPU
  ``torch._foreach_*`` falls back to one operation per tensor (counted), so
  stacking same-shape tensors counts for more than foreach over lists does;
* step time, in interleaved rounds with medians, because the machine may be
  shared.

The model is a ``LlamaForCausalLM`` of TinyLlama's shape (width, layers and
vocabulary configurable) whose parameters get random gradients; the seven
projection matrices of each layer are projected, everything else (embeddings,
lm_head, norms) is plain AdamW, for ours and for galore-torch alike. The
subspace refresh is timed separately per matrix shape, galore-torch's full SVD
against our randomized range finder.

    python benchmarks/optimizer_speed.py --layers 2 --rank 128 --skip-timing     # counts, TinyLlama width
    python benchmarks/optimizer_speed.py --hidden 512 --layers 4 --rank 64 --threads 2 --skip-refresh
"""

from __future__ import annotations

import argparse
import collections
import importlib
import importlib.util
import json
import statistics
import sys
import time
import traceback
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups  # noqa: E402
from tinyagent_ft.optim.natural_galore import device_rules  # noqa: E402
from tinyagent_ft.optim.projector import projection_side, top_singular_basis  # noqa: E402

NO_REFRESH = 10**9  # only the first step refreshes; it is excluded from every measure
SYNC_OP = "aten::_local_scalar_dense"
# torch's fused AdamW kernel on a CPU reads its step-count tensor with item(): host memory, no device to
# wait for (the CUDA kernel reads it on the device), so those reads are reported apart from host_syncs.
FUSED_ADAMW = "aten::_fused_adamw_"
# Optimizer settings compared (the projected group's options; ours use every other default).
OURS = {
    "ours_natural_default": {},
    "ours_natural_s20_fp32": {"natural_history": 20, "history_dtype": "float32"},
    "ours_galore": {"natural_history": 0},
}
NAMES = ["torch_adamw", "galore_torch", *OURS]


def llama(hidden: int, layers: int, vocab: int, dtype: torch.dtype = torch.float32,
          device: str = "cpu") -> torch.nn.Module:
    """TinyLlama's architecture at any width (intermediate 2.75x, 8x fewer KV dims), random init."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=int(hidden * 2.75),
                         num_hidden_layers=layers, num_attention_heads=max(1, hidden // 64),
                         num_key_value_heads=max(1, hidden // 512), max_position_embeddings=2048,
                         tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device(device):
        return LlamaForCausalLM(config).to(dtype)


def with_random_grads(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.grad = (torch.randn(p.shape, generator=gen) * 1e-3).to(p.dtype)
    return model


def galore_adamw_class() -> type:
    """galore-torch's GaLoreAdamW. The package's __init__ also imports its 8-bit optimizer, which needs
    bitsandbytes (absent from some GPU machines, or installed but failing to load there); GaLoreAdamW
    itself does not, so where bitsandbytes fails its module is imported from the package's directory
    with the __init__ left out."""
    try:
        from galore_torch import GaLoreAdamW
    except Exception as error:
        if not _raised_by_bitsandbytes(error):
            raise
        spec = importlib.util.find_spec("galore_torch")
        package = types.ModuleType("galore_torch")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["galore_torch"] = package
        GaLoreAdamW = importlib.import_module("galore_torch.adamw").AdamW
    return GaLoreAdamW


def _raised_by_bitsandbytes(error: Exception) -> bool:
    """Whether importing galore-torch failed for bitsandbytes: not installed, or raising as it loads."""
    if isinstance(error, ImportError) and (error.name or "").split(".")[0] == "bitsandbytes":
        return True
    return any("bitsandbytes" in Path(frame.filename).parts for frame in traceback.extract_tb(error.__traceback__))


def galore_torch_adamw(model: torch.nn.Module, common: dict, lr: float) -> torch.optim.Optimizer:
    """galore-torch's GaLoreAdamW over the same parameter split as ours (its own group keys only)."""
    GaLoreAdamW = galore_adamw_class()
    groups = galore_param_groups(model, natural_history=0, **common)
    groups[0] = {k: groups[0][k] for k in ("params", "rank", "update_proj_gap", "scale")}
    groups[0]["proj_type"] = "std"
    return GaLoreAdamW(groups, lr=lr, no_deprecation_warning=True)


def build(name: str, model: torch.nn.Module, rank: int, svd_method: str = "randomized",
          fused: bool | None = None) -> torch.optim.Optimizer:
    common = {"rank": rank, "update_proj_gap": NO_REFRESH, "scale": 0.25}
    if name == "torch_adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-3)
    if name == "galore_torch":
        return galore_torch_adamw(model, common, lr=1e-3)
    groups = galore_param_groups(model, svd_method=svd_method, fused=fused, **common, **OURS[name])
    return NaturalGaLoreAdamW(groups, lr=1e-3)


def use_device_default_path(opt: torch.optim.Optimizer) -> None:
    """Switch ours from the batched path (counted) to the path this device takes by default (timed)."""
    if isinstance(opt, NaturalGaLoreAdamW):
        for group in opt.param_groups:
            group["fused"] = device_rules(group["params"])["fused"]


def warm_up(opt: torch.optim.Optimizer, steps: int = 6) -> None:
    for _ in range(steps):  # refresh + allocation, then the default history (4) fills up
        opt.step()


def count_ops(opt: torch.optim.Optimizer, steps: int = 2) -> dict[str, float]:
    """aten operations and host synchronisations per steady-state step (CPU profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            opt.step()
    events = [e for e in prof.events() if e.name.startswith("aten::")]
    names = collections.Counter(e.name for e in events)
    top = {k: round(v / steps, 1) for k, v in names.most_common(12)}
    in_fused = sum(e.name == SYNC_OP and _inside(e, FUSED_ADAMW) for e in events)
    return {"aten_ops": sum(names.values()) / steps, "host_syncs": (names[SYNC_OP] - in_fused) / steps,
            "fused_adamw_step_reads": in_fused / steps, "top_ops": top}


def _inside(event, name: str) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name == name:
            return True
        parent = parent.cpu_parent
    return False


def time_steps(optimizers: dict[str, torch.optim.Optimizer], rounds: int, steps: int,
               fresh: torch.Generator | None = None) -> dict[str, list[float]]:
    """Seconds per step, per optimizer and round, rounds alternating between the optimizers. With
    ``fresh``, new random gradients are drawn before every step, outside the timed region."""
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for _ in range(rounds):
        for name, opt in optimizers.items():
            seconds = 0.0
            for _ in range(steps):
                if fresh is not None:
                    for group in opt.param_groups:
                        for p in group["params"]:
                            p.grad = torch.randn(p.shape, generator=fresh) * 1e-3
                start = time.perf_counter()
                opt.step()
                seconds += time.perf_counter() - start
            times[name].append(seconds / steps)
    return times


def layer_shapes(model: torch.nn.Module) -> list[tuple[int, int]]:
    return sorted({tuple(p.shape) for g in galore_param_groups(model, natural_history=0)[:1] for p in g["params"]})


def time_refresh(shapes: list[tuple[int, int]], rank: int, reps: int) -> dict[str, dict[str, float]]:
    from galore_torch.galore_projector import GaLoreProjector

    out = {}
    gen = torch.Generator().manual_seed(1)
    for shape in shapes:
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
    ap.add_argument("--hidden", type=int, default=2048, help="model width (TinyLlama: 2048)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--rank", type=int, default=128)
    ap.add_argument("--svd-method", choices=["full", "randomized"], default="randomized",
                    help="our refresh (only the untimed first step refreshes)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=2, help="steps per timed round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", nargs="+", choices=NAMES, default=None, help="optimizers to measure")
    ap.add_argument("--skip-timing", action="store_true", help="operation counts only")
    ap.add_argument("--skip-refresh", action="store_true")
    ap.add_argument("--refresh-reps", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON path (default: print only)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    names = args.only or NAMES
    # Each optimizer gets its own model so their states and parameters never interact.
    optimizers = {}
    for name in names:
        model = with_random_grads(llama(args.hidden, args.layers, args.vocab))
        # Counted on the batched path a GPU runs (fused=False: no host reads), timed as this device runs it.
        optimizers[name] = build(name, model, args.rank, args.svd_method, fused=False)
        warm_up(optimizers[name])
    n_params = sum(p.numel() for p in model.parameters())
    result: dict = {
        "setting": {"hidden": args.hidden, "layers": args.layers, "vocab": args.vocab, "parameters": n_params,
                    "rank": args.rank, "threads": args.threads, "dtype": "float32",
                    "svd_method": args.svd_method, "refresh_steps_excluded": True},
        "per_step_overhead": {name: count_ops(opt) for name, opt in optimizers.items()},
    }
    if not args.skip_timing:
        for opt in optimizers.values():
            use_device_default_path(opt)
        result["setting"]["ours_timed_fused"] = next((opt.param_groups[0]["fused"] for opt in optimizers.values()
                                                      if isinstance(opt, NaturalGaLoreAdamW)), None)
        times = time_steps(optimizers, args.rounds, args.steps)
        med = {name: statistics.median(t) for name, t in times.items()}
        result["timing"] = {"rounds": args.rounds, "steps_per_round": args.steps}
        result["step_seconds_median"] = {k: round(v, 4) for k, v in med.items()}
        result["step_seconds_all"] = {k: [round(x, 4) for x in v] for k, v in times.items()}
        if "galore_torch" in med:
            result["ratio_vs_galore_torch"] = {k: round(v / med["galore_torch"], 3) for k, v in med.items()}
            # Each round's ratio to galore-torch in that same round, then the median: this machine's
            # speed drifts by a third over a run, which a ratio of overall medians carries.
            result["ratio_vs_galore_torch_paired"] = {
                k: round(statistics.median(a / b for a, b in zip(t, times["galore_torch"])), 3)
                for k, t in times.items()}
        if "torch_adamw" in med:
            result["ratio_vs_torch_adamw"] = {k: round(v / med["torch_adamw"], 3) for k, v in med.items()}
    if not args.skip_refresh:
        result["refresh_seconds_median"] = time_refresh(layer_shapes(model), args.rank, args.refresh_reps)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
