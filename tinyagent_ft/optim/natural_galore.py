"""Natural GaLore: GaLore projection + empirical-Fisher natural gradient + AdamW.

Per projected matrix and step:
  1. every ``update_proj_gap`` steps, refresh the rank-r basis P from the
     gradient (full SVD, or a randomized range finder);
  2. project the gradient: g = P^T G (or G P), flattened to length k;
  3. natural-gradient transform with the last s projected gradients (current
     one included) as empirical Fisher: r = damping * (damping I + H H^T)^-1 g,
     using a ring buffer H (s, k) and its incrementally maintained Gram matrix
     so the step costs O(k s) plus an s x s Cholesky solve;
  4. Adam (torch.optim.AdamW's arithmetic) on r in the subspace;
  5. project the normalised update back, times ``scale``.
Parameters that are not matrices, or live in groups without ``rank``, get
exactly torch.optim.AdamW's update.

The transformed gradient is fed to Adam multiplied by ``damping``; Adam is
invariant to that constant factor (up to eps), and it keeps the input on the
raw gradient's scale, so large damping smoothly recovers plain GaLore.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .memory import HISTORY_DTYPES, is_projected, plan_state, tensor_state_bytes
from .natural_gradient import solve_damped_gram
from .projector import (
    PROJ_TYPES,
    SVD_METHODS,
    add_projected_back,
    low_rank_shape,
    project,
    projection_side,
    rotate_low_rank,
    rotation,
    top_singular_basis,
)

# Chosen from the damping sweep in benchmarks/convergence.py --full (see
# tinyagent_ft/optim/README.md): damping relative to the history's mean squared
# gradient norm, 1.0, had the best mean eval loss of all natural settings with
# the transform clearly active (cosine ~0.94); every absolute damping was worse,
# and the best absolute one (1.0) leaves the gradient unchanged (cosine 0.9998).
DEFAULT_DAMPING = 1.0
DEFAULT_DAMPING_MODE = "relative"
DAMPING_MODES = ("absolute", "relative")
HISTORY_ON_REFRESH = ("reset", "rotate")


class NaturalGaLoreAdamW(Optimizer):
    """Drop-in for ``torch.optim.AdamW`` with (Natural) GaLore on groups that set ``rank``.

    Group keys for projected groups (defaults in brackets): ``rank``,
    ``update_proj_gap`` [200], ``scale`` [0.25], ``natural_history`` s [20;
    0 turns the transform off, giving plain GaLore], ``damping``
    [DEFAULT_DAMPING], ``damping_mode`` [DEFAULT_DAMPING_MODE; "relative":
    lambda = damping times the history's mean squared norm, "absolute":
    lambda = damping], ``proj_type`` ["std" projects the
    smaller side; "left"; "right"], ``svd_method`` ["full" or "randomized"],
    ``history_on_refresh`` ["reset", or "rotate" the old history into the new
    basis], ``history_dtype`` ["float32" or "bfloat16"].

    All state is float32 (history optionally bfloat16) whatever the parameter
    dtype. A parameter whose gradient is not finite (or whose projected
    gradient's Gram entries overflow) is left unchanged with its state for
    that step, and ``state["skipped"]`` counts it.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        *,
        update_proj_gap: int = 200,
        scale: float = 0.25,
        natural_history: int = 20,
        damping: float = DEFAULT_DAMPING,
        damping_mode: str = DEFAULT_DAMPING_MODE,
        proj_type: str = "std",
        svd_method: str = "full",
        history_on_refresh: str = "reset",
        history_dtype: str = "float32",
        seed: int = 0,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError("lr, eps and weight_decay must be >= 0")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
            update_proj_gap=update_proj_gap, scale=scale, natural_history=natural_history,
            damping=damping, damping_mode=damping_mode, proj_type=proj_type,
            svd_method=svd_method, history_on_refresh=history_on_refresh,
            history_dtype=history_dtype, seed=seed,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            _check_group(group)

    # ----------------------------------------------------------------- step

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        position = 0
        for group in self.param_groups:
            for p in group["params"]:
                index = position
                position += 1
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("NaturalGaLoreAdamW does not support sparse gradients")
                state = self.state[p]
                if not state:
                    _init_state(state, p, group)
                if is_projected(tuple(p.shape), group):
                    self._projected_step(p, state, group, index)
                else:
                    _adamw_step(p, state, group)
        return loss

    def _projected_step(self, p: Tensor, state: dict[str, Any], group: dict[str, Any], index: int) -> None:
        side = projection_side(tuple(p.shape), group["proj_type"])
        grad = p.grad.float()
        if state["step"] % group["update_proj_gap"] == 0:
            if not bool(torch.isfinite(grad).all()):
                state["skipped"] += 1
                return
            self._refresh(p, state, group, index, side, grad)
        low = project(grad, state["proj"], side)
        if group["natural_history"] > 0:
            direction = _natural_direction(state, low, group)
        else:
            direction = low if bool(torch.isfinite(low).all()) else None
        if direction is None:
            state["skipped"] += 1
            return
        exp_avg, denom, step_size = _adam_moments(state, direction, group)
        add_projected_back(p, exp_avg / denom, state["proj"], side,
                           alpha=-step_size * group["scale"],
                           beta=1.0 - group["lr"] * group["weight_decay"])

    def _refresh(self, p: Tensor, state: dict[str, Any], group: dict[str, Any],
                 index: int, side: str, grad: Tensor) -> None:
        generator = None
        if group["svd_method"] == "randomized":
            # Seeded by (seed, parameter, step) so a resumed run draws the same sketch.
            generator = torch.Generator(device=p.device)
            generator.manual_seed((group["seed"] * 1_000_003 + index) * 1_000_033 + state["step"])
        new_basis = top_singular_basis(grad, group["rank"], side, group["svd_method"], generator)
        if group["natural_history"] > 0 and state["hist_count"] > 0:
            if group["history_on_refresh"] == "rotate":
                _rotate_history(state, new_basis, low_rank_shape(tuple(p.shape), group["rank"], side), side)
            else:
                _reset_history(state)
        state["proj"] = new_basis

    # ------------------------------------------------------------ utilities

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # torch casts floating state to each parameter's dtype on load; ours is
        # float32 by design (bf16 params keep fp32 moments), so put the saved
        # tensors back with their own dtype for a bit-exact resume.
        super().load_state_dict(state_dict)
        saved_groups = state_dict["param_groups"]
        for saved, group in zip(saved_groups, self.param_groups):
            for saved_id, p in zip(saved["params"], group["params"]):
                for key, value in state_dict["state"].get(saved_id, {}).items():
                    if torch.is_tensor(value):
                        self.state[p][key] = value.to(device=p.device, copy=True)

    def state_bytes(self) -> dict[str, int]:
        """Bytes of optimizer state per kind (moments, projections, history, gram, ...) and total."""
        return tensor_state_bytes(list(self.state.values()))

    def natural_cosine(self) -> float | None:
        """Mean cosine between transformed and plain projected gradients at the last step.

        Near 1 means the transform barely changes the gradient (e.g. damping
        too large to matter); None when no projected parameter has history.
        """
        values = [s["natural_cos"] for s in self.state.values() if s.get("hist_count", 0) > 0]
        if not values:
            return None
        return float(torch.stack(values).mean())


def _check_group(group: dict[str, Any]) -> None:
    if group.get("rank") is None:
        return
    if int(group["rank"]) < 1 or int(group["update_proj_gap"]) < 1:
        raise ValueError("rank and update_proj_gap must be >= 1")
    if group["natural_history"] < 0 or group["damping"] <= 0:
        raise ValueError("natural_history must be >= 0 and damping > 0")
    for key, allowed in (("proj_type", PROJ_TYPES), ("svd_method", SVD_METHODS),
                         ("damping_mode", DAMPING_MODES), ("history_on_refresh", HISTORY_ON_REFRESH),
                         ("history_dtype", tuple(HISTORY_DTYPES))):
        if group[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {group[key]!r}")


def _init_state(state: dict[str, Any], p: Tensor, group: dict[str, Any]) -> None:
    state["step"] = 0
    state["skipped"] = 0
    for key, spec in plan_state(tuple(p.shape), group).items():
        state[key] = torch.zeros(spec.shape, dtype=spec.dtype, device=p.device)
    if "history" in state:
        state["hist_pos"] = 0
        state["hist_count"] = 0


def _adamw_step(p: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
    # Same operations, in the same order, as torch.optim.AdamW's single-tensor
    # path, so float32 results match it exactly.
    grad = p.grad
    if not bool(torch.isfinite(grad).all()):
        state["skipped"] += 1
        return
    target = p if p.dtype == torch.float32 else p.float()
    if grad.dtype != torch.float32:
        grad = grad.float()
    lr, wd = group["lr"], group["weight_decay"]
    if wd != 0:
        target.mul_(1 - lr * wd)
    exp_avg, denom, step_size = _adam_moments(state, grad, group)
    target.addcdiv_(exp_avg, denom, value=-step_size)
    if target is not p:
        p.copy_(target)


def _adam_moments(state: dict[str, Any], grad: Tensor, group: dict[str, Any]) -> tuple[Tensor, Tensor, float]:
    """Advance Adam's moments; return (exp_avg, denom, lr / bias_correction1)."""
    beta1, beta2 = group["betas"]
    state["step"] += 1
    step = state["step"]
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(group["eps"])
    return exp_avg, denom, group["lr"] / bias_correction1


def _natural_direction(state: dict[str, Any], low: Tensor, group: dict[str, Any]) -> Tensor | None:
    """Push ``low`` into the history and return damping * (damping I + H H^T)^-1 low.

    Returns None (state untouched) when the gradient or its dot products are
    not finite.
    """
    history, gram = state["history"], state["gram"]
    s = history.shape[0]
    pos = state["hist_pos"]
    count = min(state["hist_count"] + 1, s)
    g = low.reshape(-1)
    if history.dtype != g.dtype:
        # Keep the Gram consistent with what is stored: use the rounded vector.
        g = g.to(history.dtype).float()
    rows = history[:count] if history.dtype == torch.float32 else history[:count].float()
    # Row `pos` still holds the gradient being evicted; its dot is replaced by g.g.
    dots = torch.mv(rows, g)
    dots[pos] = torch.dot(g, g)
    if not bool(torch.isfinite(dots).all()):
        return None
    history[pos].copy_(g)
    if rows.data_ptr() != history.data_ptr():
        rows[pos].copy_(g)
    gram[pos, :count] = dots
    gram[:count, pos] = dots
    state["hist_pos"] = (pos + 1) % s
    state["hist_count"] = count

    sub_gram = gram[:count, :count]
    lam = float(group["damping"])
    if group["damping_mode"] == "relative":
        lam = max(lam * float(sub_gram.diagonal().mean()), 1e-30)
    x = solve_damped_gram(sub_gram, dots, lam)
    residual = torch.addmv(g, rows.T, x.to(g.dtype), alpha=-1.0)
    state["natural_cos"].copy_(_cosine_from_gram(sub_gram, dots, x, pos))
    return residual.view_as(low)


def _cosine_from_gram(gram: Tensor, dots: Tensor, x: Tensor, pos: int) -> Tensor:
    # cos(g, g - Hx) from s-sized quantities only: g.r = g.g - x.(H g),
    # |r|^2 = g.g - 2 x.(H g) + x^T (H H^T) x; no extra pass over the k-vector.
    gram64, dots64 = gram.double(), dots.double()
    gg = dots64[pos]
    xd = x @ dots64
    rr = (gg - 2 * xd + x @ (gram64 @ x)).clamp_min(0)
    cos = (gg - xd) / (gg * rr).sqrt().clamp_min(1e-300)
    return cos.clamp(-1.0, 1.0)


def _reset_history(state: dict[str, Any]) -> None:
    state["history"].zero_()
    state["gram"].zero_()
    state["hist_pos"] = 0
    state["hist_count"] = 0


def _rotate_history(state: dict[str, Any], new_basis: Tensor, low_shape: tuple[int, int], side: str) -> None:
    count = state["hist_count"]
    history, gram = state["history"], state["gram"]
    rotated = rotate_low_rank(history[:count], rotation(new_basis, state["proj"]), low_shape, side)
    history[:count].copy_(rotated)
    stored = history[:count].float()
    gram[:count, :count].copy_(stored @ stored.T)
