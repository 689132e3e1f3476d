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
torch.optim.AdamW's arithmetic.

The transformed gradient is fed to Adam multiplied by ``damping``; Adam is
invariant to that constant factor (up to eps), and it keeps the input on the
raw gradient's scale, so large damping smoothly recovers plain GaLore.

How a step runs: matrices of one group with the same shape (hence the same
projection side and rank) form a *bucket* and are stepped together, as stacked
tensors: one batched product per stage, one batched float64 Cholesky, Adam on
the stacked moments. A bucket's state lives in stacked storage and each
parameter's ``self.state[p]`` entries are views into it, so ``state_dict()``
and per-parameter accounting see ordinary per-parameter state. Skipping a
matrix whose gradient is not finite is a device-side mask (``torch.where``,
coefficients multiplied by 0 or 1), never a read-back, so a step that does not
refresh the subspace does not synchronise with the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .memory import HISTORY_DTYPES, STATE_DTYPES, is_projected, plan_state, tensor_state_bytes
from .natural_gradient import solve_damped_gram
from .projector import (
    PROJ_TYPES,
    SVD_METHODS,
    low_rank_shape,
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
# History length and storage chosen by memory (README, "Default history"): s = 4,
# 20 and 40 trained alike, and s = 4 in bfloat16 keeps TinyLlama's optimizer
# state at 1.3x plain GaLore's where s = 20 in float32 needed 4.3x.
DEFAULT_HISTORY = 4
DEFAULT_HISTORY_DTYPE = "bfloat16"
DAMPING_MODES = ("absolute", "relative")
HISTORY_ON_REFRESH = ("reset", "rotate")
# Most elements of full-size gradient a bucket stacks at once: the stacked
# gradient and parameter copies are the step's transient memory (256 MiB each
# in float32), while TinyLlama-1.1B still needs only about 16 buckets.
BUCKET_ELEMENTS = 1 << 26
# Plain tensors smaller than this are packed into one flat bucket; larger ones
# are stepped alone, in place.
PACK_LIMIT = 1 << 20
_PER_MEMBER = ("step", "skipped")
# Host-side bookkeeping mirrored into each parameter's state for state_dict().
_HOST_KEYS = ("clock", "hist_pos", "hist_count", "refresh_pending")


@dataclass
class _Bucket:
    """Parameters of one group stepped together; ``side`` None means plain AdamW."""

    group: dict[str, Any]
    params: list[Tensor]
    indices: list[int]
    side: str | None
    stacked: dict[str, Tensor] = field(default_factory=dict)
    clock: int = 0  # step() calls that reached this bucket; drives the refresh schedule
    hist_pos: int = 0
    hist_count: int = 0
    pending: list[bool] = field(default_factory=list)  # basis still waits for a finite gradient
    states: list[dict[str, Any]] = field(default_factory=list)  # self.state[p] of each member
    owner: Tensor | None = None  # plain buckets of several tensors: member index of each element


class NaturalGaLoreAdamW(Optimizer):
    """Drop-in for ``torch.optim.AdamW`` with (Natural) GaLore on groups that set ``rank``.

    Group keys for projected groups (defaults in brackets): ``rank``,
    ``update_proj_gap`` [200], ``scale`` [0.25], ``natural_history`` s
    [DEFAULT_HISTORY; 0 turns the transform off, giving plain GaLore],
    ``damping`` [DEFAULT_DAMPING], ``damping_mode`` [DEFAULT_DAMPING_MODE;
    "relative": lambda = damping times the history's mean squared norm,
    "absolute": lambda = damping], ``proj_type`` ["std" projects the smaller
    side; "left"; "right"], ``svd_method`` ["full" or "randomized"],
    ``history_on_refresh`` ["reset", or "rotate" the old history into the new
    basis], ``history_dtype`` [DEFAULT_HISTORY_DTYPE or "float32"],
    ``state_dtype`` of the low-rank moments ["float32" or "bfloat16"].

    A parameter whose gradient is not finite (or whose projected gradient's
    Gram entries overflow) is left unchanged with its moments for that step,
    and ``state["skipped"]`` counts it.
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
        natural_history: int = DEFAULT_HISTORY,
        damping: float = DEFAULT_DAMPING,
        damping_mode: str = DEFAULT_DAMPING_MODE,
        proj_type: str = "std",
        svd_method: str = "full",
        history_on_refresh: str = "reset",
        history_dtype: str = DEFAULT_HISTORY_DTYPE,
        state_dtype: str = "float32",
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
            history_dtype=history_dtype, state_dtype=state_dtype, seed=seed,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            _check_group(group)
        self._buckets: list[_Bucket] = []
        self._bucketed: set[int] = set()

    # ----------------------------------------------------------------- step

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._bucket_new_params()
        for bucket in self._buckets:
            grads = [p.grad for p in bucket.params]
            if all(g is None for g in grads):
                continue
            present = None
            if any(g is None for g in grads):
                present = torch.tensor([g is not None for g in grads], device=bucket.params[0].device)
                grads = [torch.zeros_like(p) if g is None else g for p, g in zip(bucket.params, grads)]
            if bucket.side is None:
                _plain_step(bucket, grads, present)
            else:
                self._projected_step(bucket, grads, present)
            self._mirror_host_state(bucket)
        return loss

    def _bucket_new_params(self) -> None:
        position = 0
        for group in self.param_groups:
            fresh: dict[tuple, list[tuple[int, Tensor]]] = {}
            for p in group["params"]:
                index = position
                position += 1
                if p.grad is None or id(p) in self._bucketed:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("NaturalGaLoreAdamW does not support sparse gradients")
                fresh.setdefault(_bucket_key(p, group), []).append((index, p))
            for key, members in fresh.items():
                for chunk in _chunks(members, key):
                    self._buckets.append(self._make_bucket(group, chunk, key[0], restore=False))

    def _make_bucket(self, group: dict[str, Any], members: list[tuple[int, Tensor]], side: str | None,
                     restore: bool) -> _Bucket:
        """Allocate a bucket's storage and make each member's state tensors views into it.

        ``restore`` copies the members' existing per-parameter state (from
        ``load_state_dict``) into the new storage; otherwise it starts at zero.
        """
        params = [p for _, p in members]
        old = [dict(self.state[p]) for p in params]
        bucket = _Bucket(group, params, [i for i, _ in members], side,
                         pending=[bool(o.get("refresh_pending", True)) for o in old],
                         states=[self.state[p] for p in params])
        first, n = params[0], len(params)
        specs = plan_state(tuple(first.shape), group)
        if side is None:
            sizes = [p.numel() for p in params]
            for key in ("exp_avg", "exp_avg_sq"):
                bucket.stacked[key] = torch.zeros(sum(sizes), dtype=specs[key].dtype, device=first.device)
            for key in ("step", "skipped"):
                bucket.stacked[key] = torch.zeros(n, dtype=specs[key].dtype, device=first.device)
            if n > 1:
                bucket.owner = torch.repeat_interleave(
                    torch.arange(n, device=first.device), torch.tensor(sizes, device=first.device))
        else:
            for key, spec in specs.items():
                bucket.stacked[key] = torch.zeros((n, *spec.shape), dtype=spec.dtype, device=first.device)
        for state, view in zip(bucket.states, _member_views(bucket)):
            state.update(view)
        if restore:
            for state, saved in zip(bucket.states, old):
                for key, value in saved.items():
                    if torch.is_tensor(value):
                        state[key].copy_(value)
            if side is not None:
                bucket.clock, bucket.hist_pos, bucket.hist_count = (int(old[0][k]) for k in _HOST_KEYS[:3])
        self._mirror_host_state(bucket)
        self._bucketed.update(id(p) for p in params)
        return bucket

    @staticmethod
    def _mirror_host_state(bucket: _Bucket) -> None:
        if bucket.side is None:
            return
        for state, pending in zip(bucket.states, bucket.pending):
            state["clock"], state["hist_pos"], state["hist_count"] = bucket.clock, bucket.hist_pos, bucket.hist_count
            state["refresh_pending"] = pending

    def _projected_step(self, bucket: _Bucket, grads: list[Tensor], present: Tensor | None) -> None:
        group = bucket.group
        stacked_grad = torch.stack(grads)
        if bucket.clock % group["update_proj_gap"] == 0 or any(bucket.pending):
            self._refresh(bucket, stacked_grad)
        low = _project(stacked_grad, bucket.stacked["proj"], bucket.side)
        del stacked_grad
        if group["natural_history"] > 0:
            direction, finite = _natural_direction(bucket, low, present)
        else:
            direction, finite = low, torch.isfinite(low).flatten(1).all(1)
        ok = _skip_counts(bucket, finite, present)
        update = _adam_low_rank(bucket, direction, ok)
        _add_back(bucket, update, ok)
        bucket.clock += 1

    def _refresh(self, bucket: _Bucket, stacked_grad: Tensor) -> None:
        # Refresh steps may synchronise: which gradients are finite decides
        # which bases can be recomputed, and the SVDs run per matrix anyway.
        group = bucket.group
        scheduled = bucket.clock % group["update_proj_gap"] == 0
        finite = torch.isfinite(stacked_grad).flatten(1).all(1).tolist()
        new_bases: dict[int, Tensor] = {}
        for i, index in enumerate(bucket.indices):
            if not (scheduled or bucket.pending[i]) or not finite[i]:
                continue
            generator = None
            if group["svd_method"] == "randomized":
                # Seeded by (seed, parameter, step) so a resumed run draws the same sketch.
                generator = torch.Generator(device=stacked_grad.device)
                generator.manual_seed((group["seed"] * 1_000_003 + index) * 1_000_033 + bucket.clock)
            new_bases[i] = top_singular_basis(stacked_grad[i], group["rank"], bucket.side,
                                              group["svd_method"], generator)
            bucket.pending[i] = False
        if scheduled and group["natural_history"] > 0 and bucket.hist_count > 0:
            if group["history_on_refresh"] == "rotate":
                _rotate_history(bucket, new_bases)
            else:
                bucket.stacked["history"].zero_()
                bucket.stacked["gram"].zero_()
                bucket.hist_pos = bucket.hist_count = 0
        for i, basis in new_bases.items():
            bucket.stacked["proj"][i].copy_(basis)

    # ------------------------------------------------------------ utilities

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # torch casts floating state to each parameter's dtype on load; ours
        # keeps its own dtypes (bf16 params keep fp32 moments), so put the saved
        # tensors back as they were, then restack them into buckets.
        super().load_state_dict(state_dict)
        for saved, group in zip(state_dict["param_groups"], self.param_groups):
            for saved_id, p in zip(saved["params"], group["params"]):
                for key, value in state_dict["state"].get(saved_id, {}).items():
                    if torch.is_tensor(value):
                        self.state[p][key] = value.to(device=p.device, copy=True)
        self._rebuild_buckets()

    def _rebuild_buckets(self) -> None:
        self._buckets, self._bucketed = [], set()
        position = 0
        for group in self.param_groups:
            members: dict[tuple, list[tuple[int, Tensor]]] = {}
            for p in group["params"]:
                index = position
                position += 1
                state = self.state.get(p)
                if state:
                    host = tuple(state.get(k) for k in _HOST_KEYS[:3])
                    members.setdefault(_bucket_key(p, group) + host, []).append((index, p))
            for key, chunk_members in members.items():
                for chunk in _chunks(chunk_members, key):
                    self._buckets.append(self._make_bucket(group, chunk, key[0], restore=True))

    def state_bytes(self) -> dict[str, int]:
        """Bytes of optimizer state per kind (moments, projections, history, gram, ...) and total."""
        return tensor_state_bytes(list(self.state.values()))

    def natural_cosine(self) -> float | None:
        """Mean cosine between transformed and plain projected gradients at the last step.

        Near 1 means the transform barely changes the gradient (e.g. damping
        too large to matter); None when no projected parameter has history.
        A diagnostic for logging: it reads one number back from the device.
        """
        values = [b.stacked["natural_cos"] for b in self._buckets if b.side is not None and b.hist_count > 0]
        if not values:
            return None
        return float(torch.cat(values).mean())


def _check_group(group: dict[str, Any]) -> None:
    if group.get("rank") is None:
        return
    if int(group["rank"]) < 1 or int(group["update_proj_gap"]) < 1:
        raise ValueError("rank and update_proj_gap must be >= 1")
    if group["natural_history"] < 0 or group["damping"] <= 0:
        raise ValueError("natural_history must be >= 0 and damping > 0")
    for key, allowed in (("proj_type", PROJ_TYPES), ("svd_method", SVD_METHODS),
                         ("damping_mode", DAMPING_MODES), ("history_on_refresh", HISTORY_ON_REFRESH),
                         ("history_dtype", tuple(HISTORY_DTYPES)), ("state_dtype", tuple(STATE_DTYPES))):
        if group[key] not in allowed:
            raise ValueError(f"{key} must be one of {allowed}, got {group[key]!r}")


def _bucket_key(p: Tensor, group: dict[str, Any]) -> tuple:
    shape = tuple(p.shape)
    if is_projected(shape, group):
        return (projection_side(shape, group["proj_type"]), shape, p.dtype, p.device)
    return (None, None, p.dtype, p.device)


def _chunks(members: list[tuple[int, Tensor]], key: tuple) -> list[list[tuple[int, Tensor]]]:
    if key[0] is not None:
        size = max(1, BUCKET_ELEMENTS // members[0][1].numel())
        return [members[i:i + size] for i in range(0, len(members), size)]
    # Plain tensors: large ones alone (stepped in place, no copies), small ones packed together.
    large = [[m] for m in members if m[1].numel() >= PACK_LIMIT]
    small = [m for m in members if m[1].numel() < PACK_LIMIT]
    packs: list[list[tuple[int, Tensor]]] = []
    total = BUCKET_ELEMENTS
    for m in small:
        if total + m[1].numel() > BUCKET_ELEMENTS:
            packs.append([])
            total = 0
        packs[-1].append(m)
        total += m[1].numel()
    return large + packs


def _member_views(bucket: _Bucket) -> list[dict[str, Tensor]]:
    """Per member, its state tensors as views into the bucket's storage."""
    stacked, n = bucket.stacked, len(bucket.params)
    if bucket.side is not None:
        return [{key: tensor[i] for key, tensor in stacked.items()} for i in range(n)]
    views = [{key: stacked[key][i] for key in _PER_MEMBER} for i in range(n)]
    offset = 0
    for view, p in zip(views, bucket.params):
        for key in ("exp_avg", "exp_avg_sq"):
            view[key] = stacked[key][offset:offset + p.numel()].view(p.shape)
        offset += p.numel()
    return views


def _adam_coefficients(group: dict[str, Any], steps: Tensor, ok: Tensor) -> Tensor:
    """Advance ``steps`` where ``ok``; return float32 (5, n) per-member Adam coefficients.

    Rows: first-moment weight, second-moment keep factor, second-moment weight,
    -lr / bias_correction1, sqrt(bias_correction2). A member that is not ok
    gets weight 0, keep 1 and step size 0, so its moments and parameter stay
    bit-for-bit as they were, without a branch on the host. Computed in
    float64 and rounded once, as torch rounds its Python-float coefficients.
    """
    beta1, beta2 = group["betas"]
    steps.add_(ok.to(steps.dtype))
    on = ok.double()
    t = steps.double().clamp_min(1)
    rows = torch.stack([(1 - beta1) * on, 1 - (1 - beta2) * on, (1 - beta2) * on,
                        on * -group["lr"] / (1 - beta1**t), (1 - beta2**t).sqrt()])
    return rows.float()


def _skip_counts(bucket: _Bucket, finite: Tensor, present: Tensor | None) -> Tensor:
    """Count non-finite gradients in ``skipped``; return which members step (finite and present)."""
    bad = ~finite if present is None else ~finite & present
    bucket.stacked["skipped"].add_(bad.to(torch.int32))
    return finite if present is None else finite & present


# --------------------------------------------------------------- plain AdamW


def _plain_step(bucket: _Bucket, grads: list[Tensor], present: Tensor | None) -> None:
    """torch.optim.AdamW's arithmetic on a flat bucket, a member skipped where its gradient is not finite.

    A large tensor is its own bucket and is updated in place; small ones are
    concatenated, stepped as one vector and copied back. Per-member
    coefficients are expanded to elements through ``owner``.
    """
    group, stacked = bucket.group, bucket.stacked
    single = bucket.owner is None
    flat_grad = grads[0].reshape(-1) if single else torch.cat([g.reshape(-1) for g in grads])
    bad_entries = ~torch.isfinite(flat_grad)
    if single:
        finite = ~bad_entries.any().reshape(1)
    else:
        finite = torch.zeros(len(grads), device=flat_grad.device).index_add_(0, bucket.owner, bad_entries.float()) == 0
    ok = _skip_counts(bucket, finite, present)
    coefficients = _adam_coefficients(group, stacked["step"], ok)
    if not single:
        coefficients, ok = coefficients[:, bucket.owner], ok[bucket.owner]
    w1, keep2, w2, step_size, bias2_sqrt = coefficients
    grad = torch.where(ok, flat_grad, 0.0)
    if grad.dtype != torch.float32:
        grad = grad.float()
    exp_avg, exp_avg_sq = stacked["exp_avg"], stacked["exp_avg_sq"]
    exp_avg.lerp_(grad, w1)
    exp_avg_sq.mul_(keep2).addcmul_(grad * w2, grad)
    denom = (exp_avg_sq.sqrt() / bias2_sqrt).add_(group["eps"])
    params = bucket.params
    flat = params[0].reshape(-1) if single else torch.cat([p.reshape(-1) for p in params])
    target = flat if flat.dtype == torch.float32 else flat.float()
    if group["weight_decay"] != 0:
        target.mul_(torch.where(ok, 1 - group["lr"] * group["weight_decay"], 1.0))
    target.add_(exp_avg / denom * step_size)
    if single:
        if target is not flat:
            flat.copy_(target)
        return
    pieces = target.split([p.numel() for p in params])
    torch._foreach_copy_(params, [piece.view(p.shape) for piece, p in zip(pieces, params)])


# ------------------------------------------------------- projected matrices


def _project(stacked_grad: Tensor, proj: Tensor, side: str) -> Tensor:
    """(n, m, c) gradients onto (n, d, r) bases: float32 low-rank gradients."""
    basis = proj if proj.dtype == stacked_grad.dtype else proj.to(stacked_grad.dtype)
    low = torch.bmm(basis.mT, stacked_grad) if side == "left" else torch.bmm(stacked_grad, basis)
    return low if low.dtype == torch.float32 else low.float()


_OUT_DTYPE_BMM = {"available": True}


def _bmm_f32(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with a float32 result, whatever the (matching) input dtype.

    On CUDA a bf16 product can write float32 directly (``out_dtype``), which
    spares a float32 copy of the history; elsewhere, or on a torch without it,
    the inputs are upcast.
    """
    if a.dtype == torch.float32:
        return torch.bmm(a, b)
    if a.is_cuda and _OUT_DTYPE_BMM["available"]:
        try:
            return torch.bmm(a, b, out_dtype=torch.float32)
        except (RuntimeError, TypeError):
            _OUT_DTYPE_BMM["available"] = False
    return torch.bmm(a.float(), b.float())


def _natural_direction(bucket: _Bucket, low: Tensor, present: Tensor | None) -> tuple[Tensor, Tensor]:
    """Push ``low`` into each matrix's history; return (damping * (damping I + H H^T)^-1 low, finite).

    ``finite`` (n,) is False where the projected gradient or its dot products
    are not finite; those matrices keep their history row and Gram entries
    (the ring position still advances for the whole bucket).
    """
    group, stacked = bucket.group, bucket.stacked
    history, gram = stacked["history"], stacked["gram"]
    n, s, k = history.shape
    pos, count = bucket.hist_pos, min(bucket.hist_count + 1, s)
    g = low.reshape(n, k)
    stored = g
    if history.dtype != torch.float32:
        # The Gram must describe what is stored, so a bf16 history uses the rounded vector.
        stored = g.to(history.dtype)
        g = stored.float()
    rows = history[:, :count]
    # Row `pos` still holds the gradient being evicted; its dot is replaced by g.g.
    dots = _bmm_f32(rows, stored.unsqueeze(-1)).squeeze(-1)
    dots[:, pos] = (g * g).sum(-1)
    finite = torch.isfinite(dots).all(-1)
    keep = (finite if present is None else finite & present).unsqueeze(-1)
    history[:, pos] = torch.where(keep, stored, history[:, pos])
    rhs = torch.where(keep, dots, gram[:, pos, :count])
    gram[:, pos, :count] = rhs
    gram[:, :count, pos] = rhs
    bucket.hist_pos, bucket.hist_count = (pos + 1) % s, count

    sub_gram = gram[:, :count, :count]
    lam: float | Tensor = float(group["damping"])
    if group["damping_mode"] == "relative":
        lam = (sub_gram.diagonal(dim1=1, dim2=2).mean(-1) * lam).clamp_min(1e-30)
    # A skipped matrix solves with its old Gram row: finite, and its result is masked later.
    x = solve_damped_gram(sub_gram, rhs, lam)
    residual = g - _combine_rows(x, rows)
    stacked["natural_cos"].copy_(torch.where(keep.squeeze(-1), _cosine(g, residual), stacked["natural_cos"]))
    return residual.view_as(low), finite


def _combine_rows(x: Tensor, rows: Tensor) -> Tensor:
    """sum_j x[:, j] * rows[:, j] as float32 (n, k), for float64 weights x (n, c)."""
    if rows.dtype == torch.float32:
        return torch.bmm(x.float().unsqueeze(1), rows).squeeze(1)
    # A bf16 x would lose 8 bits; as a sum of two bf16 parts it keeps about 16
    # for the price of one extra row in a product that is bound by reading `rows`.
    high = x.to(rows.dtype)
    low = (x - high.double()).to(rows.dtype)
    return _bmm_f32(torch.stack([high, low], 1), rows).sum(1)


def _cosine(g: Tensor, residual: Tensor) -> Tensor:
    # From the k-vectors themselves: the s-sized shortcut (g.g - x.Hg over
    # |g||r|) cancels catastrophically when the transform removes most of g.
    dot = (g * residual).sum(-1)
    norms = (g.square().sum(-1) * residual.square().sum(-1)).sqrt().clamp_min(1e-30)
    return (dot / norms).clamp(-1.0, 1.0)


def _adam_low_rank(bucket: _Bucket, direction: Tensor, ok: Tensor) -> Tensor:
    """Advance the stacked moments where ``ok``; return the low-rank update (lr and scale applied)."""
    group, stacked = bucket.group, bucket.stacked
    exp_avg, exp_avg_sq = stacked["exp_avg"], stacked["exp_avg_sq"]
    coefficients = _adam_coefficients(group, stacked["step"], ok)
    coefficients[3] *= group["scale"]
    w1, keep2, w2, step_size, bias2_sqrt = coefficients.to(exp_avg.dtype).view(5, -1, 1, 1)
    d = torch.where(ok.view(-1, 1, 1), direction, 0.0)
    if d.dtype != exp_avg.dtype:
        d = d.to(exp_avg.dtype)
    exp_avg.lerp_(d, w1)
    exp_avg_sq.mul_(keep2).addcmul_(d * w2, d)
    denom = (exp_avg_sq.sqrt() / bias2_sqrt).add_(group["eps"])
    update = exp_avg / denom * step_size
    return update if update.dtype == torch.float32 else update.float()


def _add_back(bucket: _Bucket, update: Tensor, ok: Tensor) -> None:
    """param <- decay * param + back(update), decoupled weight decay only where ``ok``.

    The bucket's parameters are stacked once, updated by one batched product
    and copied back with one multi-tensor copy; bf16 parameters get the update
    in float32 and are rounded once.
    """
    group, proj = bucket.group, bucket.stacked["proj"]
    params = bucket.params
    first, second = (proj, update) if bucket.side == "left" else (update, proj.mT)
    weights = torch.stack(params)
    decay = None
    if group["weight_decay"] != 0:
        decay = torch.where(ok, 1 - group["lr"] * group["weight_decay"], 1.0).view(-1, 1, 1)
    if weights.dtype == torch.float32:
        if decay is not None:
            weights.mul_(decay)
        new = weights.baddbmm_(first, second)
    else:
        back = torch.bmm(first.to(weights.dtype), second.to(weights.dtype))
        new = weights.add_(back) if decay is None else torch.addcmul(back, weights, decay)
    torch._foreach_copy_(params, list(new.unbind(0)))


def _rotate_history(bucket: _Bucket, new_bases: dict[int, Tensor]) -> None:
    stacked, count = bucket.stacked, bucket.hist_count
    first = bucket.params[0]
    low_shape = low_rank_shape(tuple(first.shape), bucket.group["rank"], bucket.side)
    for i, basis in new_bases.items():
        history, gram = stacked["history"][i], stacked["gram"][i]
        rotated = rotate_low_rank(history[:count], rotation(basis, stacked["proj"][i]), low_shape, bucket.side)
        history[:count].copy_(rotated)
        rows = history[:count].float()
        gram[:count, :count].copy_(rows @ rows.T)
