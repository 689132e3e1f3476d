"""Split a model into projected and plain parameter groups, and build a Trainer-ready pair.

Usage with Hugging Face's Trainer::

    opt, sched = make_optimizer_and_scheduler(model, lr=1e-3, num_training_steps=N, rank=64)
    Trainer(model=model, args=args, train_dataset=ds, optimizers=(opt, sched))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .natural_galore import NaturalGaLoreAdamW

LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _module_name(param_name: str) -> str:
    return param_name.rsplit(".", 1)[0].rsplit(".", 1)[-1] if "." in param_name else ""


def galore_param_groups(
    model: nn.Module,
    rank: int = 128,
    target_modules: tuple[str, ...] = LLAMA_TARGETS,
    update_proj_gap: int = 200,
    scale: float = 0.25,
    natural_history: int | None = None,
    damping: float | None = None,
    weight_decay: float = 0.0,
    **projected_options: Any,
) -> list[dict[str, Any]]:
    """Param groups: 2-D weights of ``target_modules`` projected, the rest plain AdamW.

    Plain parameters are split again: other matrices (embeddings, lm_head)
    get ``weight_decay``, vectors (norms, biases) get none, as Trainer does.
    Frozen parameters are left out. Extra keyword arguments (``proj_type``,
    ``svd_method``, ``damping_mode``, ``history_on_refresh``, ...) go to the
    projected group; ``natural_history=None`` and ``damping=None`` keep the
    optimizer's defaults (``DEFAULT_HISTORY``, ``DEFAULT_DAMPING``).
    """
    projected, decayed, undecayed = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.dim() == 2 and _module_name(name) in target_modules:
            projected.append(p)
        elif p.dim() >= 2:
            decayed.append(p)
        else:
            undecayed.append(p)
    proj_group: dict[str, Any] = dict(
        params=projected, rank=rank, update_proj_gap=update_proj_gap, scale=scale,
        weight_decay=weight_decay, **projected_options,
    )
    for key, value in (("natural_history", natural_history), ("damping", damping)):
        if value is not None:
            proj_group[key] = value
    groups = [proj_group,
              {"params": decayed, "weight_decay": weight_decay},
              {"params": undecayed, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def make_optimizer_and_scheduler(
    model: nn.Module,
    lr: float,
    num_training_steps: int,
    warmup_steps: int = 0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    **group_options: Any,
) -> tuple[NaturalGaLoreAdamW, torch.optim.lr_scheduler.LambdaLR]:
    """Natural GaLore optimizer plus a linear warmup/decay schedule, for ``Trainer(optimizers=...)``."""
    optimizer = NaturalGaLoreAdamW(galore_param_groups(model, **group_options), lr=lr, betas=betas, eps=eps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        remaining = max(1, num_training_steps - warmup_steps)
        return max(0.0, (num_training_steps - step) / remaining)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
