"""Weight gradients of GaLore-projected linear layers, computed in their subspace during backward.

A linear layer y = x W^T with W of shape (m, n) gets the weight gradient G = dY^T X from T tokens:
T m n multiply-adds, a third of the layer's training arithmetic. A projected matrix's optimizer step
reads only G's projection, and that projection can be taken before the product instead of after it:
    right side (m >= n):  G P   = dY^T (X P)
    left side  (m <  n):  P^T G = (dY P)^T X
which costs T r (m + n). At the demo's shape (256 x 704, rank 64) that is a third of T m n, and at
TinyLlama's (2048 x 5632, rank 128) a twelfth. The step then skips its own projection of G, and no
full-size gradient is stored. Steps that refresh a basis need G itself (its singular vectors): for
those the optimizer gives no target and the layer computes G as torch does.

Only the norm changes meaning: on steps without a refresh, the gradient norm that the Trainer clips
and logs is that of the projected gradients, which are all the optimizer reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .natural_galore import NaturalGaLoreAdamW


class _ProjectedWeightGradient(torch.autograd.Function):
    """F.linear whose backward hands the weight's gradient to the optimizer in its subspace when the
    optimizer's next step can take it so (`NaturalGaLoreAdamW.low_rank_target`)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, optimizer: NaturalGaLoreAdamW) -> Tensor:
        device = x.device.type
        # Under autocast the product runs in the autocast dtype; keeping x in it is what torch's own
        # linear saves for backward too.
        dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else x.dtype
        x = x.to(dtype)
        ctx.save_for_backward(x, weight, bias)
        # The optimizer knows the parameter itself: a saved tensor may come back as another object
        # (gradient checkpointing's saved-tensor hooks unpack a new one).
        ctx.optimizer, ctx.parameter = optimizer, weight
        return F.linear(x, weight.to(dtype), None if bias is None else bias.to(dtype))

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, weight, bias = ctx.saved_tensors
        dy = grad_out.to(x.dtype)
        grad_x = dy @ weight.to(x.dtype) if ctx.needs_input_grad[0] else None
        rows, dy_rows = x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])
        grad_w = None
        if ctx.needs_input_grad[1]:
            target = ctx.optimizer.low_rank_target(ctx.parameter)
            if target is None:
                grad_w = dy_rows.T @ rows
            else:
                basis = target.basis.to(x.dtype)
                target.add(dy_rows.T @ (rows @ basis) if target.side == "right" else (dy_rows @ basis).T @ rows)
        grad_b = dy_rows.sum(0) if bias is not None and ctx.needs_input_grad[2] else None
        # autograd casts each gradient to its input's dtype (float32 weights under autocast).
        return grad_x, grad_w, grad_b, None


def _projected_forward(module: nn.Linear, optimizer: NaturalGaLoreAdamW, x: Tensor) -> Tensor:
    return _ProjectedWeightGradient.apply(x, module.weight, module.bias, optimizer)


def projected_linears(model: nn.Module, optimizer: NaturalGaLoreAdamW) -> list[nn.Linear]:
    """The model's linear layers whose weights the optimizer projects. Only exact ``nn.Linear``s: a
    subclass (quantized, adapter) computes its own forward."""
    projected = {id(p) for group in optimizer.param_groups if group.get("rank") is not None
                 for p in group["params"] if p.dim() == 2}
    return [m for m in model.modules() if type(m) is nn.Linear and id(m.weight) in projected]


@contextmanager
def low_rank_backward(model: nn.Module, optimizer: NaturalGaLoreAdamW) -> Iterator[int]:
    """Within the block, the projected linear layers of ``model`` compute their weight gradients in
    ``optimizer``'s subspaces; yields how many layers that is. One process only: the projected
    gradients bypass DDP's all-reduce of ``.grad``."""
    layers = projected_linears(model, optimizer)
    for layer in layers:
        layer.forward = partial(_projected_forward, layer, optimizer)
    try:
        yield len(layers)
    finally:
        for layer in layers:
            del layer.forward


def clip_grad_norm_with(parameters: Iterable[Tensor], extra: list[Tensor], max_norm: float) -> Tensor:
    """torch's ``clip_grad_norm_`` over the parameters' gradients and the ``extra`` gradient tensors
    together (the projected ones the optimizer holds); returns the norm before clipping."""
    grads = [p.grad for p in parameters if p.grad is not None] + list(extra)
    total = torch.nn.utils.get_total_norm(grads)
    if max_norm != float("inf"):
        torch._foreach_mul_(grads, (max_norm / (total + 1e-6)).clamp(max=1.0))
    return total
