"""Optimizer-state size for TinyLlama-1.1B's real shapes. Prints JSON.

The model is built on the meta device (no weights). Sizes come from
``plan_state``, the function the optimizer itself allocates state from, applied
to the param groups of a real ``NaturalGaLoreAdamW`` built over the meta
parameters, so they cannot drift from what training holds. GaLore's row is
our optimizer with ``natural_history=0``, whose state layout (low-rank moments
plus one basis per matrix) is galore-torch's; state is float32 except where a
row says bf16 (the default history is bfloat16).

It also measures (Linux, CPU) the peak memory a steady step adds above what it
starts with for one bf16 embedding of TinyLlama's shape, a plain tensor whose
float32 moments rule out the fused AdamW kernel: that step's temporaries are
the largest of the whole optimizer step.

    python benchmarks/optimizer_memory.py
"""

from __future__ import annotations

import ctypes
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups, planned_bytes  # noqa: E402
from tinyagent_ft.optim.natural_galore import DEFAULT_HISTORY, DEFAULT_HISTORY_DTYPE  # noqa: E402

GIB = 1024**3
M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h


def tinyllama_on_meta() -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
        num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
        rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
    )
    with torch.device("meta"):
        return LlamaForCausalLM(config)


def state_size(model: torch.nn.Module, **group_options) -> dict[str, float]:
    if group_options:
        groups = galore_param_groups(model, **group_options)
    else:
        groups = [{"params": list(model.parameters())}]
    optimizer = NaturalGaLoreAdamW(groups, lr=1e-3)
    pairs = [(tuple(p.shape), g) for g in optimizer.param_groups for p in g["params"]]
    sizes = planned_bytes(pairs)
    return {kind: round(b / GIB, 4) for kind, b in sizes.items()}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def embedding_step_transient_mib(steps: int = 3) -> float:
    """Peak resident memory above the pre-step level during a steady step (the last of ``steps``),
    for one bf16 32000 x 2048 embedding. The peak is reset through /proc/self/clear_refs; glibc is
    told to map every block from 1 MiB on its own, so that a freed temporary leaves the resident set
    instead of staying as heap that the next step reuses unseen."""
    ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 1 << 20)
    weight = torch.nn.Parameter(torch.randn(32000, 2048).to(torch.bfloat16))
    grad = torch.randn_like(weight)
    optimizer = NaturalGaLoreAdamW([weight], lr=1e-3)
    for _ in range(steps):  # the first step also allocates the moments
        weight.grad = grad
        before = _status_kib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        optimizer.step()
        transient = (_status_kib("VmHWM") - before) / 1024
    return round(transient, 1)


def main() -> None:
    model = tinyllama_on_meta()
    n_params = sum(p.numel() for p in model.parameters())
    table = {"adamw": state_size(model)}
    for rank in (8, 128, 512):
        table[f"galore_r{rank}"] = state_size(model, rank=rank, natural_history=0)
        table[f"natural_r{rank}_default"] = state_size(model, rank=rank)
        table[f"natural_r{rank}_default_bf16_moments"] = state_size(model, rank=rank, state_dtype="bfloat16")
        for s in (4, 20):
            table[f"natural_r{rank}_s{s}_fp32_history"] = state_size(
                model, rank=rank, natural_history=s, history_dtype="float32")
            table[f"natural_r{rank}_s{s}_bf16_history"] = state_size(
                model, rank=rank, natural_history=s, history_dtype="bfloat16")
    ratio = {f"r{rank}": round(table[f"natural_r{rank}_default"]["total"] / table[f"galore_r{rank}"]["total"], 2)
             for rank in (8, 128, 512)}
    result = {
        "model": "TinyLlama-1.1B shapes (meta device)",
        "parameters": n_params,
        "parameter_gib_fp32": round(n_params * 4 / GIB, 4),
        "unit": "GiB of optimizer state (float32 unless noted)",
        "default": {"natural_history": DEFAULT_HISTORY, "history_dtype": DEFAULT_HISTORY_DTYPE},
        "default_vs_galore": ratio,
        "state_gib": table,
        "bf16_embedding_step_transient_mib": embedding_step_transient_mib(),
    }
    out = ROOT / "benchmarks" / "results" / "optimizer_memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
