"""Optimizer step time, memory and overhead on one GPU at TinyLlama-1.1B scale. Prints JSON.

A randomly initialised ``LlamaForCausalLM`` of TinyLlama-1.1B's shape, bf16,
gradient checkpointing, trains on random tokens with each optimizer in turn
(torch AdamW, galore-torch's GaLoreAdamW, our GaLore, our Natural GaLore at the
default and at the former default s = 20 float32). Per optimizer: the
refresh step's time (galore-torch: full SVD; ours: randomized), the median
optimizer-step and forward+backward times of the steady steps after it, the
peak memory over those steps, the optimizer state's size, the aten operations,
host synchronisations and CUDA kernel launches of one steady step
(``torch.profiler``), and whether one steady step runs under
``torch.cuda.set_sync_debug_mode("error")`` (which also catches syncs a CPU
count misses: ``nonzero``, boolean-mask indexing, checked ``linalg`` calls).
A row that cannot run (out of memory, galore-torch not installed) reports its
error and the others still run; galore-torch's row needs no bitsandbytes. Writes the JSON to ``$OUT/optimizer_gpu.json`` when OUT is set.

    python benchmarks/optimizer_gpu.py            # H100: about 2-3 minutes, most of it galore-torch's SVD
    python benchmarks/optimizer_gpu.py --smoke    # a tiny model on the CPU: checks the script runs
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer_speed import galore_torch_adamw  # noqa: E402  (same folder: the one galore-torch set-up)
from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups  # noqa: E402

ROWS = ["torch_adamw", "galore_torch", "ours_galore", "ours_natural_default", "ours_natural_bf16_moments",
        "ours_natural_s20_fp32"]
OURS = {
    "ours_galore": {"natural_history": 0},
    "ours_natural_default": {},
    # galore-torch keeps its moments in the parameters' dtype; this is our like-for-like option.
    "ours_natural_bf16_moments": {"state_dtype": "bfloat16"},
    "ours_natural_s20_fp32": {"natural_history": 20, "history_dtype": "float32"},
}
SMOKE = dict(device="cpu", hidden=256, layers=1, vocab=1000, batch=1, seq=64, rank=16, steps=2)
GIB = 1024**3


def build_model(args: argparse.Namespace) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=int(args.hidden * 2.75),
                         num_hidden_layers=args.layers, num_attention_heads=max(1, args.hidden // 64),
                         num_key_value_heads=max(1, args.hidden // 512), max_position_embeddings=max(2048, args.seq),
                         rms_norm_eps=1e-5, tie_word_embeddings=False, use_cache=False)
    torch.manual_seed(0)
    with torch.device(args.device):
        model = LlamaForCausalLM(config).to(getattr(torch, args.dtype))
    # transformers renamed it; either recomputes each layer's activations in the backward pass.
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()
    model.train()
    return model


def build_optimizer(name: str, model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    common = {"rank": args.rank, "update_proj_gap": args.gap, "scale": args.scale}
    if name == "torch_adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-4)
    if name == "galore_torch":
        return galore_torch_adamw(model, common, lr=1e-4)
    groups = galore_param_groups(model, svd_method="randomized", **common, **OURS[name])
    return NaturalGaLoreAdamW(groups, lr=1e-4)


class Clock:
    """Wall time of a callable; on CUDA measured with events, so queued work is included."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")

    def __call__(self, fn: Callable[[], object]) -> float:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000
        begin = time.perf_counter()
        fn()
        return time.perf_counter() - begin


def state_gib(opt: torch.optim.Optimizer) -> float:
    total = sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values() if torch.is_tensor(v))
    return round(total / GIB, 3)


def overhead(opt: torch.optim.Optimizer, cuda: bool) -> dict[str, float]:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        opt.step()
        if cuda:
            torch.cuda.synchronize()
    names = collections.Counter(e.name for e in prof.events())
    aten = sum(v for k, v in names.items() if k.startswith("aten::"))
    launches = sum(v for k, v in names.items() if "LaunchKernel" in k or k.startswith("cuLaunch"))
    return {"aten_ops": aten, "host_syncs": names["aten::_local_scalar_dense"],
            "kernel_launches": launches if cuda else None}


def sync_free(opt: torch.optim.Optimizer, cuda: bool) -> bool | str | None:
    if not cuda:
        opt.step()
        return None
    torch.cuda.set_sync_debug_mode("error")
    try:
        opt.step()
        return True
    except RuntimeError as error:
        return f"synchronised: {str(error).splitlines()[0][:200]}"
    finally:
        torch.cuda.set_sync_debug_mode(0)


def run_row(name: str, args: argparse.Namespace) -> dict:
    cuda = args.device.startswith("cuda")
    clock = Clock(args.device)
    model = build_model(args)
    opt = build_optimizer(name, model, args)
    gen = torch.Generator(device=args.device).manual_seed(0)
    ids = torch.randint(0, args.vocab, (args.batch, args.seq), generator=gen, device=args.device)

    def forward_backward() -> None:
        model(input_ids=ids, labels=ids).loss.backward()

    def step_with(fn: Callable[[], object]) -> float:
        seconds = clock(fn)
        opt.zero_grad(set_to_none=True)
        return seconds

    forward_backward()
    refresh = step_with(opt.step)
    for _ in range(2):  # the history starts filling; allocator settles
        forward_backward()
        step_with(opt.step)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    steps, passes = [], []
    for _ in range(args.steps):
        passes.append(clock(forward_backward))
        steps.append(step_with(opt.step))
    row = {
        "refresh_step_s": round(refresh, 3),
        "step_ms_median": round(statistics.median(steps) * 1000, 2),
        "step_ms_all": [round(t * 1000, 2) for t in steps],
        "forward_backward_ms_median": round(statistics.median(passes) * 1000, 1),
        "peak_gib": round(torch.cuda.max_memory_allocated() / GIB, 3) if cuda else None,
        "state_gib": state_gib(opt),
    }
    forward_backward()
    row["per_step_overhead"] = overhead(opt, cuda)
    opt.zero_grad(set_to_none=True)
    forward_backward()
    row["sync_free_under_debug_mode"] = sync_free(opt, cuda)
    del model, opt, ids
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--hidden", type=int, default=2048)
    ap.add_argument("--layers", type=int, default=22)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--rank", type=int, default=128)
    ap.add_argument("--gap", type=int, default=200, help="update_proj_gap (only the first step refreshes)")
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--steps", type=int, default=6, help="timed steady steps per optimizer")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--rows", nargs="+", choices=ROWS, default=ROWS)
    ap.add_argument("--smoke", action="store_true", help="tiny model on the CPU: " + str(SMOKE))
    ap.add_argument("--out", default=None, help="JSON path (default: $OUT/optimizer_gpu.json if OUT is set)")
    args = ap.parse_args()
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    cuda = args.device.startswith("cuda")

    result: dict = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "setting": {k: getattr(args, k) for k in ("hidden", "layers", "vocab", "batch", "seq", "rank", "gap",
                                                  "scale", "steps", "dtype")} | {"gradient_checkpointing": True},
        "rows": {},
    }
    for name in args.rows:
        started = time.perf_counter()
        try:
            result["rows"][name] = run_row(name, args)
        except Exception as error:  # noqa: BLE001 - a failing row (OOM, a missing package) must not stop the others
            result["rows"][name] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
        result["rows"][name]["row_seconds"] = round(time.perf_counter() - started, 1)
        print(f"{name}: {json.dumps(result['rows'][name])}", file=sys.stderr, flush=True)
    rows = result["rows"]
    for base in ("galore_torch", "torch_adamw"):
        if "step_ms_median" in rows.get(base, {}):
            result[f"step_ratio_vs_{base}"] = {k: round(v["step_ms_median"] / rows[base]["step_ms_median"], 2)
                                               for k, v in rows.items() if "step_ms_median" in v}
    if cuda and rows.get("torch_adamw", {}).get("peak_gib"):
        result["peak_vs_torch_adamw"] = {k: round(v["peak_gib"] / rows["torch_adamw"]["peak_gib"], 3)
                                         for k, v in rows.items() if v.get("peak_gib")}
    text = json.dumps(result, indent=1)
    out = args.out or (os.path.join(os.environ["OUT"], "optimizer_gpu.json") if os.environ.get("OUT") else None)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
