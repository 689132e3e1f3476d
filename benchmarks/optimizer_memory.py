"""Optimizer-state size for TinyLlama-1.1B's real shapes. Prints JSON.

The model is built on the meta device (no weights). Sizes come from
``plan_state``, the function the optimizer itself allocates state from, applied
to the param groups of a real ``NaturalGaLoreAdamW`` built over the meta
parameters, so they cannot drift from what training holds. GaLore's row is
our optimizer with ``natural_history=0``, whose state layout (low-rank moments
plus one basis per matrix) is galore-torch's; state is float32 except where a
row says bf16 (the default history is bfloat16).

    python benchmarks/optimizer_memory.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups, planned_bytes  # noqa: E402
from tinyagent_ft.optim.natural_galore import DEFAULT_HISTORY, DEFAULT_HISTORY_DTYPE  # noqa: E402

GIB = 1024**3


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
    }
    out = ROOT / "benchmarks" / "results" / "optimizer_memory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
