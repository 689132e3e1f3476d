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

How a step runs: matrices of one group with the same shape (and so the same
projected side) form a *bucket* and are stepped together as stacked tensors:
one batched product per stage and Adam on the stacked moments; the s x s
systems of all buckets are solved in one batched float64 Cholesky. A bucket's
state lives in stacked storage and each parameter's ``self.state[p]`` entries
are views into it, so ``state_dict()`` and per-parameter accounting see
ordinary per-parameter state. A projected matrix's gradient may also arrive already projected
(``low_rank_target``, filled by `low_rank_backward` during the backward pass),
which spares the full-size gradient and the step's projection of it. Skipping a matrix
whose gradient is not finite is a device-side mask (``torch.where``,
``masked_fill_``), never a read-back, so a step that does not refresh the
subspace does not synchronise with the host. On a CPU, where reading a flag back costs
nothing, the ``fused`` path reads whether every matrix of a bucket is finite and then runs
Adam on the low-rank moments in torch's fused AdamW kernel and adds each update back with
one ``addmm_``; its history push reads g.g from the product with the history rather than
testing first, and a bf16 history's float32 copy changes by one row a step. The masked
arithmetic remains for a bucket with a skipped matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .memory import HISTORY_DTYPES, STATE_DTYPES, is_projected, plan_state, tensor_state_bytes
from .natural_gradient import damped_solve
from .projector import (
    PROJ_TYPES,
    SVD_METHODS,
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
# gradient and the projected-back update are the step's transient memory
# (256 MiB each in bf16), while TinyLlama-1.1B needs 9 buckets and two of its
# layers in float32 fit one bucket per shape.
BUCKET_ELEMENTS = 1 << 27
# Plain tensors smaller than this are packed into one flat bucket (norms, biases:
# one masked AdamW for all); larger ones are stepped alone, in place, by torch's
# fused kernel where dtypes allow, which on a CPU beats packing from about 64k
# elements (a 256-token vocabulary's embeddings: 3 ms of a 40 ms step).
PACK_LIMIT = 1 << 16
# Elements of a lone plain tensor the unfused AdamW path (bf16 parameters, float32 moments) updates
# at once. Its temporaries are about four float32 copies of what it updates (1 GiB for TinyLlama's
# 65.5 M-element bf16 embeddings in one piece). Slices of 16 M hold them to 256 MiB, what a bf16
# projected bucket's stacked gradient takes, with 4 slices per embedding rather than more launches.
PLAIN_SLICE = 1 << 24
# Host-side bookkeeping mirrored into each parameter's state for state_dict().
_HOST_KEYS = ("clock", "hist_pos", "hist_count", "refresh_pending")


@dataclass
class _Bucket:
    """Parameters of one group stepped together: same-shape projected matrices, or plain AdamW tensors.

    A projected bucket keeps its matrices in their own orientation, so every
    full-size pass (stacking gradients, adding updates) reads and writes
    memory in order: ``down_proj`` (2048x5632) is not stepped with
    ``gate_proj`` (5632x2048) as its transpose, whose strided copies cost
    more than the products.
    """

    group: dict[str, Any]
    params: list[Tensor]
    indices: list[int]
    projected: bool
    stacked: dict[str, Tensor] = field(default_factory=dict)
    clock: int = 0  # step() calls that reached this bucket; drives the refresh schedule
    hist_pos: int = 0
    hist_count: int = 0
    pending: list[bool] = field(default_factory=list)  # basis still waits for a finite gradient
    states: list[dict[str, Any]] = field(default_factory=list)  # self.state[p] of each member
    owner: Tensor | None = None  # plain buckets of several tensors: member index of each element
    adam_step: Tensor | None = None  # Adam's step count on the device, for the fused kernel
    side: str = "right"  # projected buckets: "right" (low = G P) or "left" (low = P^T G)
    low_grad: Tensor | None = None  # (n, *low shape) float32: gradients that arrived projected, summed
    arrived: list[bool] = field(default_factory=list)  # which members' low_grad rows hold a gradient
    last_cosine: tuple[Tensor, Tensor] | None = None  # (cosines, stepped) of the last step, a diagnostic
    # Fused path, bf16 history: a float32 copy for the products, kept in step one row at a time.
    history_f32: Tensor | None = None
    history_f32_current: bool = False  # False once the history changed outside a push (refresh, load)


def device_rules(params: Iterable[Tensor]) -> dict[str, Any]:
    """``fused`` and ``svd_method`` for a group of ``params`` that leaves them None: fixed rules by device,
    never a timing, stored in the group so that a saved and a resumed optimizer step alike. On a CPU a
    read-back is free and LAPACK's SVD is the refresh's cost, whose subspace the Gram's eigenvectors span."""
    on_cpu = all(p.device.type == "cpu" for p in params)
    return {"fused": on_cpu, "svd_method": "gram" if on_cpu else "full"}


class NaturalGaLoreAdamW(Optimizer):
    """Drop-in for ``torch.optim.AdamW`` with (Natural) GaLore on groups that set ``rank``.

    Group keys for projected groups (defaults in brackets): ``rank``,
    ``update_proj_gap`` [200], ``scale`` [0.25], ``natural_history`` s
    [DEFAULT_HISTORY; 0 turns the transform off, giving plain GaLore],
    ``damping`` [DEFAULT_DAMPING], ``damping_mode`` [DEFAULT_DAMPING_MODE;
    "relative": lambda = damping times the history's mean squared norm,
    "absolute": lambda = damping], ``proj_type`` ["std" projects the smaller
    side; "left"; "right"], ``svd_method`` [None: "gram" where the group's
    parameters are on a CPU, else "full"; or "randomized"],
    ``history_on_refresh`` ["reset", or "rotate" the old history into the new
    basis], ``history_dtype`` [DEFAULT_HISTORY_DTYPE or "float32"],
    ``state_dtype`` of the low-rank moments ["float32" or "bfloat16"],
    ``fused`` [None: True where the group's parameters are on a CPU, else
    False]: the fused low-rank Adam described in the module docstring, which
    reads one flag per bucket back from the device and keeps a float32 copy
    of a bf16 history. The choice is stored in
    the group, so ``state_dict`` carries it and a resumed optimizer steps the
    same way; state saved before the option existed resumes unfused.

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
        svd_method: str | None = None,
        history_on_refresh: str = "reset",
        history_dtype: str = DEFAULT_HISTORY_DTYPE,
        state_dtype: str = "float32",
        seed: int = 0,
        fused: bool | None = None,
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
            history_dtype=history_dtype, state_dtype=state_dtype, seed=seed, fused=fused,
        )
        super().__init__(params, defaults)
        self._buckets: list[_Bucket] = []
        self._scratch = _Scratch()
        self._bucketed: dict[int, tuple[_Bucket, int]] = {}  # id(p) -> its bucket and index in it

    # ----------------------------------------------------------------- step

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._bucket_new_params()
        projected: list[_Job] = []
        for bucket in self._buckets:
            grads = [p.grad for p in bucket.params]
            if any(bucket.arrived):
                projected.append(self._low_rank_job(bucket, grads))
                continue
            if all(g is None for g in grads):
                continue
            present = None
            if any(g is None for g in grads):
                present = torch.tensor([g is not None for g in grads], device=bucket.params[0].device)
                grads = [torch.zeros_like(p) if g is None else g for p, g in zip(bucket.params, grads)]
            if not bucket.projected:
                _plain_step(bucket, grads, present)
                bucket.clock += 1
            else:
                projected.append(self._project_bucket(bucket, grads, present))
        # Buckets whose histories have the same fill share one batched s x s solve.
        solve_sets: dict[tuple, list[_Job]] = {}
        for job in projected:
            b = job.bucket
            key = (id(b.group), b.hist_pos, b.hist_count) if b.group["natural_history"] > 0 else None
            solve_sets.setdefault(key, []).append(job)
        for key, jobs in solve_sets.items():
            if key is not None:
                _natural_directions(jobs)
            for job in jobs:
                _finish_projected(job, self._scratch)
        for bucket in self._buckets:
            self._mirror_host_state(bucket)
        self._clear_low_rank_gradients()
        return loss

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for key, value in device_rules(group["params"]).items():
            if group[key] is None:
                group[key] = value
        try:
            _check_group(group)  # every group, also one added after construction
        except ValueError:
            self.param_groups.pop()  # a refused group is not kept
            raise

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        self._clear_low_rank_gradients()

    # ------------------------------------------------- projected gradients

    def low_rank_target(self, p: Tensor) -> LowRankTarget | None:
        """Where ``p``'s gradient may arrive already projected for the next step, or None when that step
        needs it at full size: ``p`` is not a projected matrix of a bucket yet (its first step), or the
        step refreshes its bucket's basis, which is computed from the full gradients."""
        found = self._bucketed.get(id(p))
        if found is None or not found[0].projected or _refreshes(found[0]):
            return None
        bucket, index = found
        if bucket.low_grad is None:
            low_shape = tuple(bucket.stacked["exp_avg"].shape[1:])
            bucket.low_grad = torch.zeros((len(bucket.params), *low_shape), dtype=torch.float32, device=p.device)
        return LowRankTarget(bucket, index)

    def low_rank_gradients(self) -> list[Tensor]:
        """The projected gradients waiting for the next step (for the gradient norm and its clipping)."""
        return [b.low_grad for b in self._buckets if any(b.arrived)]

    def _clear_low_rank_gradients(self) -> None:
        for bucket in self._buckets:
            if any(bucket.arrived):
                bucket.low_grad.zero_()
                bucket.arrived = [False] * len(bucket.params)

    def _low_rank_job(self, bucket: _Bucket, grads: list[Tensor | None]) -> _Job:
        """A bucket whose gradients arrived projected. A member with a full-size gradient as well (a
        weight also used outside a patched layer) has it projected here and added."""
        low = bucket.low_grad
        basis = bucket.stacked["proj"]
        for i, grad in enumerate(grads):
            if grad is not None:
                g, b = grad.float(), basis[i]
                low[i].add_(g @ b if bucket.side == "right" else b.T @ g)
        given = [a or g is not None for a, g in zip(bucket.arrived, grads)]
        present = None if all(given) else torch.tensor(given, device=low.device)
        return self._job(bucket, low, present)

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
                    self._buckets.append(self._make_bucket(group, chunk, key[0] is not None, restore=False))

    def _make_bucket(self, group: dict[str, Any], members: list[tuple[int, Tensor]], projected: bool,
                     restore: bool) -> _Bucket:
        """Allocate a bucket's storage and make each member's state tensors views into it.

        ``restore`` copies the members' existing per-parameter state (from
        ``load_state_dict``) into the new storage; otherwise it starts at zero.
        """
        params = [p for _, p in members]
        old = [dict(self.state[p]) for p in params]
        bucket = _Bucket(group, params, [i for i, _ in members], projected,
                         pending=[bool(o.get("refresh_pending", True)) for o in old],
                         states=[self.state[p] for p in params])
        first, n = params[0], len(params)
        if projected:
            bucket.side = projection_side(tuple(first.shape), group["proj_type"])
        specs = plan_state(tuple(first.shape), group)
        if not projected:
            sizes = [p.numel() for p in params]
            for key in ("exp_avg", "exp_avg_sq"):
                bucket.stacked[key] = torch.zeros(sum(sizes), dtype=specs[key].dtype, device=first.device)
            bucket.stacked["skipped"] = torch.zeros(n, dtype=specs["skipped"].dtype, device=first.device)
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
            bucket.clock, bucket.hist_pos, bucket.hist_count = (int(old[0].get(k, 0)) for k in _HOST_KEYS[:3])
        self._mirror_host_state(bucket)
        self._bucketed.update((id(p), (bucket, i)) for i, p in enumerate(params))
        bucket.arrived = [False] * len(params)
        return bucket

    @staticmethod
    def _mirror_host_state(bucket: _Bucket) -> None:
        # "step" is torch's name for Adam's step count: it equals the bucket's clock.
        for state, pending in zip(bucket.states, bucket.pending):
            state["step"] = state["clock"] = bucket.clock
            if bucket.projected:
                state["hist_pos"], state["hist_count"] = bucket.hist_pos, bucket.hist_count
                state["refresh_pending"] = pending

    def _project_bucket(self, bucket: _Bucket, grads: list[Tensor], present: Tensor | None) -> _Job:
        if bucket.group["fused"] and all(g.dtype == torch.float32 and g.is_contiguous() for g in grads):
            return self._project_each(bucket, grads, present)
        stacked_grad = self._scratch.take((len(grads), *grads[0].shape), grads[0].dtype, grads[0].device)
        torch.cat(grads, out=stacked_grad.view(-1, stacked_grad.shape[-1]))  # a stack without a view per member
        if _refreshes(bucket):
            self._refresh(bucket, stacked_grad, torch.isfinite(stacked_grad).flatten(1).all(1).tolist())
        basis = _as(bucket.stacked["proj"], stacked_grad.dtype)
        low = torch.bmm(stacked_grad, basis) if bucket.side == "right" else torch.bmm(basis.mT, stacked_grad)
        return self._job(bucket, _as(low, torch.float32), present)

    def _project_each(self, bucket: _Bucket, grads: list[Tensor], present: Tensor | None) -> _Job:
        """The fused path's projection: one product per matrix straight from its gradient, where the
        batched one first copies every gradient into a stacked buffer (a full-size read and write)."""
        if _refreshes(bucket):
            self._refresh(bucket, grads, torch.stack([torch.isfinite(g).all() for g in grads]).tolist())
        basis = bucket.stacked["proj"]
        low = self._scratch.take((len(grads), *bucket.stacked["exp_avg"].shape[1:]), torch.float32,
                                 grads[0].device, slot=("low", id(bucket)))
        for grad, b, out in zip(grads, basis, low):
            torch.mm(*((grad, b) if bucket.side == "right" else (b.T, grad)), out=out)
        return self._job(bucket, low, present)

    def _job(self, bucket: _Bucket, low: Tensor, present: Tensor | None) -> _Job:
        job = _Job(bucket, low, present)
        if bucket.group["natural_history"] > 0:
            (_push_history_read_back if bucket.group["fused"] else _push_history)(job, self._scratch)
        else:
            job.bad = _any_nonfinite(low.flatten(1), dim=1)
            job.direction = low
        return job

    def _refresh(self, bucket: _Bucket, grads: Tensor | list[Tensor], finite: list[bool]) -> None:
        # Refresh steps may synchronise: which gradients are finite (``finite``, read back by the
        # caller) decides which bases can be recomputed, and the SVDs run per matrix anyway.
        group = bucket.group
        scheduled = bucket.clock % group["update_proj_gap"] == 0
        new_bases: dict[int, Tensor] = {}
        for i, index in enumerate(bucket.indices):
            if not (scheduled or bucket.pending[i]) or not finite[i]:
                continue
            generator = None
            if group["svd_method"] == "randomized":
                # Seeded by (seed, parameter, step) so a resumed run draws the same sketch.
                generator = torch.Generator(device=grads[0].device)
                generator.manual_seed((group["seed"] * 1_000_003 + index) * 1_000_033 + bucket.clock)
            new_bases[i] = top_singular_basis(grads[i], group["rank"], bucket.side, group["svd_method"],
                                              generator)
            bucket.pending[i] = False
        if scheduled and group["natural_history"] > 0 and bucket.hist_count > 0:
            bucket.history_f32_current = False
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
        for group in self.param_groups:
            group.setdefault("fused", False)  # saved before the option: it stepped unfused
        for saved, group in zip(state_dict["param_groups"], self.param_groups):
            for saved_id, p in zip(saved["params"], group["params"]):
                for key, value in state_dict["state"].get(saved_id, {}).items():
                    if torch.is_tensor(value):
                        self.state[p][key] = value.to(device=p.device, copy=True)
        self._rebuild_buckets()

    def _rebuild_buckets(self) -> None:
        self._buckets, self._bucketed, self._scratch = [], {}, _Scratch()
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
                    self._buckets.append(self._make_bucket(group, chunk, key[0] is not None, restore=True))

    def state_bytes(self) -> dict[str, int]:
        """Bytes of optimizer state per kind (moments, projections, history, gram, ...) and total."""
        return tensor_state_bytes(list(self.state.values()))

    def natural_cosine(self) -> float | None:
        """Mean cosine between transformed and plain projected gradients at the last step.

        Near 1 means the transform barely changes the gradient (e.g. damping
        too large to matter); None when no projected parameter has history.
        A diagnostic for logging: it reads one number back from the device.
        """
        pairs = [b.last_cosine for b in self._buckets if b.last_cosine is not None]
        if not pairs:
            return None
        cosines = torch.cat([c for c, _ in pairs])
        stepped = torch.cat([k.view(-1) for _, k in pairs]).to(cosines.dtype)
        return float((cosines * stepped).sum() / stepped.sum().clamp_min(1))


class _Scratch:
    """Room for a step's transient tensors, by slot: the "full" slot (gradients going in, updates
    going out) and the "row" slot (a history row about to be overwritten) are shared by every
    bucket, each of which is done with them before the next takes them; a bucket's projected
    gradient (fused path), float32 copy of a bf16 history (masked path) and decay factors, which
    live until the step's shared solve or its end, have slots of their own.

    On a CPU they are kept from step to step: a fresh allocation of tens of MB is fresh pages from
    the kernel, and those page faults cost more than the products written into them. On a GPU the
    caching allocator reuses such blocks by itself, and a kept buffer would only add to the memory
    held through forward and backward, so each step allocates anew there.
    """

    def __init__(self) -> None:
        self._kept: dict[tuple, Tensor] = {}
        # Views of the kept buffers, made once: (shaped view, its slices along dim 0).
        self._views: dict[tuple, tuple[Tensor, list[Tensor]]] = {}

    def take(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device,
             slot: object = "full") -> Tensor:
        if device.type != "cpu":
            return torch.empty(shape, dtype=dtype, device=device)
        return self.take_with_slices(shape, dtype, device, slot)[0]

    def take_with_slices(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device,
                         slot: object = "full") -> tuple[Tensor, list[Tensor]]:
        """A tensor of ``shape`` and the list of its slices along dim 0 (for multi-tensor ops)."""
        if device.type != "cpu":
            fresh = torch.empty(shape, dtype=dtype, device=device)
            return fresh, list(fresh.unbind(0))
        key, shape = (slot, dtype, device), tuple(shape)
        made = self._views.get((key, shape))
        if made is not None:
            return made
        size = math.prod(shape)
        kept = self._kept.get(key)
        if kept is None or kept.numel() < size:
            kept = self._kept[key] = torch.empty(size, dtype=dtype, device=device)
            self._views = {k: v for k, v in self._views.items() if k[0] != key}
        view = kept[:size].view(shape)
        made = self._views[(key, shape)] = (view, list(view.unbind(0)))
        return made


@dataclass
class _Job:
    """One projected bucket's work in flight within a step."""

    bucket: _Bucket
    low: Tensor
    present: Tensor | None
    bad: Tensor | None = None  # (n,) 1.0 where the gradient is not finite
    direction: Tensor | None = None
    keep: Tensor | None = None  # (n, 1): finite and present
    g: Tensor | None = None  # (n, k) float32, as stored in the history
    rows: Tensor | None = None  # (n, c, k) the history in a dtype bmm can use with g
    rhs: Tensor | None = None  # (n, c): dots with the history, current gradient included
    direction_in_place: bool = False  # the direction may overwrite g (g is not kept elsewhere)


class LowRankTarget:
    """One projected matrix's slot for a gradient computed in its subspace: its basis (d, r) as the
    optimizer holds it, the side it projects, and the sum that the next step takes as its gradient."""

    def __init__(self, bucket: _Bucket, index: int) -> None:
        self._bucket, self._index = bucket, index
        self.basis: Tensor = bucket.stacked["proj"][index]
        self.side: str = bucket.side

    def add(self, low: Tensor) -> None:
        """Add a projected gradient: (r, n) for the left side (P^T G), (m, r) for the right (G P)."""
        self._bucket.low_grad[self._index].add_(low)
        self._bucket.arrived[self._index] = True


def _refreshes(bucket: _Bucket) -> bool:
    """Whether the bucket's next step recomputes bases (its schedule, or a basis still pending)."""
    return bucket.clock % bucket.group["update_proj_gap"] == 0 or any(bucket.pending)


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
    if not isinstance(group["fused"], bool):
        raise ValueError(f"fused must be True, False or None, got {group['fused']!r}")


def _bucket_key(p: Tensor, group: dict[str, Any]) -> tuple:
    shape = tuple(p.shape)
    if is_projected(shape, group):
        return (True, shape, p.dtype, p.device)
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
    if bucket.projected:
        return [{key: tensor[i] for key, tensor in stacked.items()} for i in range(n)]
    views = [{"skipped": stacked["skipped"][i]} for i in range(n)]
    offset = 0
    for view, p in zip(views, bucket.params):
        for key in ("exp_avg", "exp_avg_sq"):
            view[key] = stacked[key][offset:offset + p.numel()].view(p.shape)
        offset += p.numel()
    return views


def _adam_scalars(group: dict[str, Any], step: int) -> tuple[float, float]:
    """(step size, eps) for Adam's update exp_avg / (sqrt(exp_avg_sq) + eps) * step size.

    torch divides sqrt(v) by sqrt(bias_correction2) before adding eps; folding
    that factor into the step size and eps gives the same update with one
    tensor operation less.
    """
    beta1, beta2 = group["betas"]
    bias2_sqrt = (1 - beta2**step) ** 0.5
    return group["lr"] / (1 - beta1**step) * bias2_sqrt, group["eps"] * bias2_sqrt


def _advance_moments(exp_avg: Tensor, exp_avg_sq: Tensor, grad: Tensor, ok: Tensor,
                     betas: tuple[float, float]) -> None:
    """Adam's moment updates (as lerps) where ``ok``; elsewhere the moments stay bit for bit.

    The old value is selected after the update rather than fed in as the
    input: lerp(v, v, w) is NaN when v is inf, which a finite 1e30 gradient
    makes of exp_avg_sq (as it does in torch's AdamW).
    """
    torch.where(ok, torch.lerp(exp_avg, grad, 1 - betas[0]), exp_avg, out=exp_avg)
    torch.where(ok, torch.lerp(exp_avg_sq, grad * grad, 1 - betas[1]), exp_avg_sq, out=exp_avg_sq)


def _nonfinite(values: Tensor) -> Tensor:
    """1.0 where a value (a norm, g.g, a sum of g - g) is inf or NaN, else 0.0: v - v is NaN exactly there."""
    return values.sub(values).nan_to_num_(1.0, 1.0, 1.0)


def _any_nonfinite(tensor: Tensor, dim: int | None = None) -> Tensor:
    """1.0 where ``tensor`` (or each slice along ``dim``) holds an inf or NaN, else 0.0.

    Minimum and maximum (on a CPU ten times faster than the infinity norm)
    catch -inf, inf and, propagated, NaN;
    each minus itself is 0 when finite and NaN otherwise, so a finite 1e38
    cannot overflow the test.
    """
    if dim is None:
        low, high = torch.aminmax(tensor)
    elif tensor.device.type == "cpu":
        low, high = tensor.amin(dim), tensor.amax(dim)  # torch's CPU aminmax along a dim is 20 times slower
    else:
        low, high = torch.aminmax(tensor, dim=dim)
    return low.sub(low).add_(high.sub(high)).nan_to_num_(1.0, 1.0, 1.0)


def _count_skips(bucket: _Bucket, bad: Tensor, present: Tensor | None) -> Tensor:
    """Add ``bad`` (1.0 for a non-finite gradient) to ``skipped``; return which members step."""
    if present is not None:
        bad = bad * present
        ok = bad.logical_not() & present
    else:
        ok = bad.logical_not()
    bucket.stacked["skipped"].add_(bad)
    return ok


# --------------------------------------------------------------- plain AdamW


def _plain_step(bucket: _Bucket, grads: list[Tensor], present: Tensor | None) -> None:
    """AdamW on a flat bucket, a member skipped where its gradient is not finite.

    A large tensor is its own bucket and is updated in place; small ones are
    concatenated, stepped as one vector and copied back. Per-member flags are
    expanded to elements through ``owner``.
    """
    if bucket.owner is None:
        _lone_plain_step(bucket, grads[0], present)
        return
    params = bucket.params
    flat_grad = _as(torch.cat([_flat(g) for g in grads]), torch.float32)
    # g - g is NaN exactly at non-finite entries; summed per member, NaN marks the member.
    bad = _nonfinite(bucket.stacked["skipped"].new_zeros(len(grads)).index_add_(
        0, bucket.owner, flat_grad.sub(flat_grad)))
    ok = _count_skips(bucket, bad, present)[bucket.owner]
    target = _as(torch.cat([_flat(p) for p in params]), torch.float32)
    _masked_adamw(bucket, target, flat_grad, bucket.stacked["exp_avg"], bucket.stacked["exp_avg_sq"], ok)
    pieces = target.split([p.numel() for p in params])
    torch._foreach_copy_(params, [piece if p.dim() == 1 else piece.view(p.shape) for piece, p in zip(pieces, params)])


def _lone_plain_step(bucket: _Bucket, grad: Tensor, present: Tensor | None) -> None:
    """AdamW on one large tensor: the fused kernel where dtypes allow, else in ``PLAIN_SLICE`` pieces."""
    if _fuses(bucket.params[0], grad, bucket.stacked["exp_avg"]):
        _fused_plain_step(bucket, grad)
        return
    ok = _count_skips(bucket, _any_nonfinite(grad), present)
    flat, flat_grad = _flat(bucket.params[0]), _flat(grad)
    exp_avg, exp_avg_sq = bucket.stacked["exp_avg"], bucket.stacked["exp_avg_sq"]
    for start in range(0, flat.numel(), PLAIN_SLICE):
        part = slice(start, start + PLAIN_SLICE)
        target = _as(flat[part], torch.float32)
        _masked_adamw(bucket, target, _as(flat_grad[part], torch.float32), exp_avg[part], exp_avg_sq[part], ok)
        if target.dtype != flat.dtype:
            flat[part].copy_(target)


def _masked_adamw(bucket: _Bucket, target: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor,
                  ok: Tensor) -> None:
    """AdamW in place on float32 ``target`` and its moments, where ``ok``."""
    group = bucket.group
    _advance_moments(exp_avg, exp_avg_sq, grad, ok, group["betas"])
    step_size, eps = _adam_scalars(group, bucket.clock + 1)
    if group["weight_decay"] != 0:
        target.addcmul_(target, ok, value=-group["lr"] * group["weight_decay"])
    update = (exp_avg / exp_avg_sq.sqrt().add_(eps)).masked_fill_(~ok, 0)
    target.add_(update, alpha=-step_size)


def _fuses(param: Tensor, grad: Tensor, moment: Tensor) -> bool:
    """Whether torch's fused AdamW kernel can step ``param``: it needs one dtype for the parameter,
    its gradient and its moments (float32 parameters; bf16 ones keep float32 moments)."""
    return (param.dtype == grad.dtype == moment.dtype and param.device.type in ("cpu", "cuda")
            and param.is_contiguous() and grad.is_contiguous())


def _fused_plain_step(bucket: _Bucket, grad: Tensor) -> None:
    """AdamW on a lone tensor with torch's fused kernel: one pass over parameter, gradient and moments
    where the generic path makes a dozen. A non-finite gradient reaches the kernel as ``found_inf``,
    which leaves parameter and moments untouched on the device, as GradScaler's skipped steps do."""
    bad = _any_nonfinite(grad)
    bucket.stacked["skipped"].add_(bad)
    _fused_adamw(bucket, _flat(bucket.params[0]), _flat(grad), bucket.group["lr"], bucket.group["weight_decay"], bad)


def _fused_adamw(bucket: _Bucket, flat_param: Tensor, flat_grad: Tensor, lr: float, weight_decay: float,
                 found_inf: Tensor | None) -> None:
    """torch's fused AdamW kernel on a flat parameter and the bucket's flat moments, at Adam step clock + 1."""
    group = bucket.group
    if bucket.adam_step is None:
        bucket.adam_step = torch.zeros((), dtype=torch.float32, device=flat_param.device)
    bucket.adam_step.fill_(bucket.clock + 1)
    beta1, beta2 = group["betas"]
    torch._fused_adamw_(
        [flat_param], [flat_grad], [_flat(bucket.stacked["exp_avg"])], [_flat(bucket.stacked["exp_avg_sq"])], [],
        [bucket.adam_step], lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=group["eps"],
        amsgrad=False, maximize=False, grad_scale=None, found_inf=found_inf,
    )


# ------------------------------------------------------- projected matrices


def _flat(tensor: Tensor) -> Tensor:
    if tensor.dim() == 1:
        return tensor
    return tensor.view(-1) if tensor.is_contiguous() else tensor.reshape(-1)


def _as(tensor: Tensor, dtype: torch.dtype) -> Tensor:
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


_OUT_DTYPE_BMM = {"available": True}


def _bmm_f32(a: Tensor, b: Tensor) -> Tensor:
    """a @ b with a float32 result for bf16 ``a`` and ``b``.

    On CUDA the product can write float32 directly (``out_dtype``), which
    spares a float32 copy of the history; elsewhere, or on a torch without it,
    the inputs are upcast.
    """
    if a.is_cuda and _OUT_DTYPE_BMM["available"]:
        try:
            return torch.bmm(a, b, out_dtype=torch.float32)
        except (RuntimeError, TypeError):
            _OUT_DTYPE_BMM["available"] = False
    return torch.bmm(a.float(), b.float())


def _push_history(job: _Job, scratch: _Scratch) -> None:
    """Write each matrix's projected gradient into its ring buffer and Gram row.

    A matrix whose gradient is not finite (g.g overflows or is NaN; when it is
    finite, Cauchy-Schwarz keeps every other dot finite too) keeps its
    history row and Gram entries; the ring position moves on for the whole
    bucket.
    """
    bucket = job.bucket
    bucket.history_f32_current = False  # the fused path's float32 copy does not follow this push
    history, gram = bucket.stacked["history"], bucket.stacked["gram"]
    n, s, k = history.shape
    pos, count = bucket.hist_pos, min(bucket.hist_count + 1, s)
    g = job.low.reshape(n, k)
    stored = g
    if history.dtype != torch.float32:
        # The Gram must describe what is stored, so a bf16 history uses the rounded vector.
        stored = g.to(history.dtype)
        g = stored.float()
    job.bad = _nonfinite((g * g).sum(-1, keepdim=True))
    job.keep = job.bad.logical_not()
    if job.present is not None:
        job.keep &= job.present.unsqueeze(-1)
    row = history[:, pos]
    torch.where(job.keep, stored, row, out=row)
    rows = history if count == s else history[:, :count]
    job.rows = rows
    if rows.dtype != torch.float32 and not rows.is_cuda:
        # A CPU has no bf16 product with a float32 result: a float32 copy (in a slot of its own, as it
        # lives until the solve) serves both products with the history.
        job.rows = scratch.take(rows.shape, torch.float32, rows.device, slot=("history", id(bucket)))
        job.rows.copy_(rows)
    # g as a row times H^T: as a column, H g runs as a matrix-vector product, 40 times slower on a CPU.
    dots = (torch.bmm(g.unsqueeze(1), job.rows.mT) if job.rows.dtype == torch.float32
            else _bmm_f32(stored.unsqueeze(1), rows.mT))
    gram_row = gram[:, pos] if count == s else gram[:, pos, :count]
    job.rhs = torch.where(job.keep, dots.squeeze(1), gram_row)
    gram_row.copy_(job.rhs)
    (gram[:, :, pos] if count == s else gram[:, :count, pos]).copy_(job.rhs)
    bucket.hist_pos, bucket.hist_count = (pos + 1) % s, count
    job.g = g


def _push_history_read_back(job: _Job, scratch: _Scratch) -> None:
    """`_push_history` for the fused path, where reading a flag back costs nothing: the new row is
    written at once, its g.g (the Gram's new diagonal entry, which decides whether the matrix steps)
    comes out of the product with the history, and only a bucket with a skipped matrix puts its old
    row back. A bf16 history keeps a float32 copy that changes by one row a step, where
    `_push_history` copies it whole; g stays in the projected gradient's buffer, where the direction
    then overwrites it (an in-place product, half the time of one into another buffer on a CPU), and
    no step allocates a buffer of a row's size: on a CPU a fresh one is fresh pages, whose faults cost
    more than the arithmetic in them."""
    bucket = job.bucket
    history, gram = bucket.stacked["history"], bucket.stacked["gram"]
    n, s, k = history.shape
    pos, count = bucket.hist_pos, min(bucket.hist_count + 1, s)
    rows = _float_rows(bucket)
    row, g = history[:, pos], job.low.view(n, k)
    before = scratch.take((n, k), history.dtype, history.device, slot="row")
    before.copy_(row)
    row.copy_(g)
    if rows is not history:
        g.copy_(row)  # rounded as stored: the Gram describes what the history holds
        rows[:, pos].copy_(g)
    dots = torch.bmm(g.unsqueeze(1), rows[:, :count].mT).squeeze(1)
    # Finite g.g bounds every other dot with a finite row (Cauchy-Schwarz).
    job.bad = _nonfinite(dots[:, pos:pos + 1])
    job.keep = job.bad.logical_not()
    if job.present is not None:
        job.keep &= job.present.unsqueeze(-1)
    gram_row = gram[:, pos] if count == s else gram[:, pos, :count]
    job.rhs = dots
    if not bool(job.keep.all()):
        torch.where(job.keep, row, before, out=row)
        if rows is not history:
            rows[:, pos].copy_(row)
        job.rhs = torch.where(job.keep, dots, gram_row)
    gram_row.copy_(job.rhs)
    (gram[:, :, pos] if count == s else gram[:, :count, pos]).copy_(job.rhs)
    bucket.hist_pos, bucket.hist_count = (pos + 1) % s, count
    job.g, job.rows, job.direction_in_place = g, rows[:, :count], True


def _float_rows(bucket: _Bucket) -> Tensor:
    """The bucket's history as float32 (n, s, k): the history itself, or its float32 copy, whose rows
    up to ``hist_count`` are brought up to date here if the history changed outside a push."""
    history = bucket.stacked["history"]
    if history.dtype == torch.float32:
        return history
    if bucket.history_f32 is None:
        bucket.history_f32 = torch.zeros(history.shape, dtype=torch.float32, device=history.device)
        bucket.history_f32_current = False
    if not bucket.history_f32_current:
        count = bucket.hist_count
        bucket.history_f32[:, :count].copy_(history[:, :count])
        bucket.history_f32_current = True
    return bucket.history_f32


def _natural_directions(jobs: list[_Job]) -> None:
    """One batched damped solve for every matrix of ``jobs``; sets each job's direction.

    The direction is r = g - H^T x = damping * (damping I + H H^T)^-1 g. A
    skipped matrix solves with its old Gram row: finite, and masked later.
    """
    group = jobs[0].bucket.group
    count = jobs[0].bucket.hist_count
    full = count == jobs[0].bucket.stacked["gram"].shape[1]
    grams = [job.bucket.stacked["gram"] if full else job.bucket.stacked["gram"][:, :count, :count] for job in jobs]
    gram = grams[0] if len(jobs) == 1 else torch.cat(grams)
    rhs = jobs[0].rhs if len(jobs) == 1 else torch.cat([job.rhs for job in jobs])
    x, gram64, rhs64 = damped_solve(gram, rhs, float(group["damping"]),
                                    relative=group["damping_mode"] == "relative")
    pos = (jobs[0].bucket.hist_pos - 1) % jobs[0].bucket.stacked["history"].shape[1]
    cos = _cosine_from_gram(gram64, rhs64, x, pos)
    x = x.float()
    sizes = [job.low.shape[0] for job in jobs]
    for job, xs, cs in zip(jobs, x.split(sizes), cos.split(sizes)):
        job.direction = _minus_combined_rows(job.g, xs, job.rows, job.direction_in_place).view_as(job.low)
        job.bucket.last_cosine = (cs, job.keep)


def _cosine_from_gram(gram: Tensor, dots: Tensor, x: Tensor, pos: int) -> Tensor:
    """Per system, cos(g, r) from float64 ``gram``, ``dots`` = H g and the solution ``x``."""
    # cos(g, g - Hx) from s-sized quantities only: g.r = g.g - x.(H g),
    # |r|^2 = g.g - 2 x.(H g) + x^T (H H^T) x. It loses accuracy only when the
    # transform removes nearly all of g (|r| << |g|), far from the defaults.
    # In float64: |r|^2 is a difference of terms the size of |g|^2.
    gg = dots[:, pos]
    xd = (x * dots).sum(-1)
    xgx = (x * torch.bmm(gram, x.unsqueeze(-1)).squeeze(-1)).sum(-1)
    rr = torch.add(gg, xd, alpha=-2).add_(xgx).clamp_min_(0)
    return (gg - xd).div_((gg * rr).sqrt_().clamp_min_(1e-300)).clamp_(-1.0, 1.0)


def _minus_combined_rows(g: Tensor, x: Tensor, rows: Tensor, in_place: bool = False) -> Tensor:
    """g - sum_j x[:, j] * rows[:, j] as float32 (n, k), for float32 weights x (n, c); written over
    ``g`` with ``in_place`` (float32 rows)."""
    if rows.dtype == torch.float32:
        if in_place:
            return g.unsqueeze(1).baddbmm_(x.unsqueeze(1), rows, alpha=-1).squeeze(1)
        return torch.baddbmm(g.unsqueeze(1), x.unsqueeze(1), rows, alpha=-1).squeeze(1)
    # A bf16 x would lose 8 bits; as a sum of two bf16 parts it keeps about 16
    # for the price of one extra row in a product that is bound by reading `rows`.
    high = x.to(rows.dtype)
    low = (x - high.float()).to(rows.dtype)
    return g - _bmm_f32(torch.stack([high, low], 1), rows).sum(1)


def _finish_projected(job: _Job, scratch: _Scratch) -> None:
    """Adam on the stacked low-rank direction, then the update projected back into the parameters."""
    bucket = job.bucket
    group, stacked = bucket.group, bucket.stacked
    if job.keep is None:
        job.keep = _count_skips(bucket, job.bad, job.present)
    else:
        bucket.stacked["skipped"].add_(job.bad.view(-1) if job.present is None else job.bad.view(-1) * job.present)
    ok = job.keep.view(-1, 1, 1)
    skip = ~ok
    exp_avg, exp_avg_sq = stacked["exp_avg"], stacked["exp_avg_sq"]
    direction = job.direction if job.direction.dtype == exp_avg.dtype else job.direction.to(exp_avg.dtype)
    if group["fused"] and exp_avg.dtype == torch.float32 and not bool(skip.any()):
        update = _fused_low_rank_update(bucket, direction, scratch)
        alpha = group["lr"] * group["scale"]
    else:
        _advance_moments(exp_avg, exp_avg_sq, direction, ok, group["betas"])
        step_size, eps = _adam_scalars(group, bucket.clock + 1)
        update = (exp_avg / exp_avg_sq.sqrt().add_(eps)).masked_fill_(skip, 0.0)
        alpha = -step_size * group["scale"]
    _add_back(bucket, _as(update, torch.float32), skip, alpha, scratch)
    bucket.clock += 1


def _fused_low_rank_update(bucket: _Bucket, direction: Tensor, scratch: _Scratch) -> Tensor:
    """Adam's moments advanced by ``direction`` and its normalised update negated, -m_hat / (sqrt(v_hat) + eps),
    in one pass of torch's fused AdamW kernel where the masked arithmetic makes about ten: the kernel
    steps a zeroed stand-in parameter at lr 1 without decay, which leaves exactly that in it."""
    update = scratch.take(tuple(direction.shape), torch.float32, direction.device, slot="update")
    update.zero_()
    _fused_adamw(bucket, _flat(update), _flat(direction), 1.0, 0.0, None)
    return update


def _add_back(bucket: _Bucket, update: Tensor, skip: Tensor, alpha: float, scratch: _Scratch) -> None:
    """param <- param + alpha * back(update) - lr * wd * param, except where ``skip``, for the whole bucket.

    One batched product projects every matrix's update back (update P^T, or
    P update on the left) and one multi-tensor add applies them; bf16
    parameters get a bf16 product, as galore-torch computes it.
    """
    group, params = bucket.group, bucket.params
    dtype = params[0].dtype
    basis, update = _as(bucket.stacked["proj"], dtype), _as(update, dtype)
    factors = (update, basis.mT) if bucket.side == "right" else (basis, update)
    if group["weight_decay"] != 0:
        # Decoupled decay as a per-matrix factor, 1 for a skipped matrix (whose update is 0), so it
        # keeps its weights: one pass over the parameters, where folding the decay into the product
        # would first copy them into the product's buffer.
        decay, decay_each = scratch.take_with_slices(skip.shape, dtype, skip.device, slot=("decay", id(bucket)))
        decay.fill_(1 - group["lr"] * group["weight_decay"]).masked_fill_(skip, 1.0)
        torch._foreach_mul_(params, decay_each)
    if group["fused"]:
        # One product per matrix that adds into the parameter: no full-size buffer written and read again.
        for param, left, right in zip(params, *factors):
            param.addmm_(left, right, alpha=alpha)
        return
    back, back_each = scratch.take_with_slices((len(params), *params[0].shape), dtype, params[0].device)
    torch.bmm(*factors, out=back)
    torch._foreach_add_(params, back_each, alpha=alpha)


def _rotate_history(bucket: _Bucket, new_bases: dict[int, Tensor]) -> None:
    stacked, count = bucket.stacked, bucket.hist_count
    low_shape = tuple(stacked["exp_avg"].shape[1:])
    for i, basis in new_bases.items():
        history, gram = stacked["history"][i], stacked["gram"][i]
        rotated = rotate_low_rank(history[:count], rotation(basis, stacked["proj"][i]), low_shape, bucket.side)
        history[:count].copy_(rotated)
        rows = history[:count].float()
        gram[:count, :count].copy_(rows @ rows.T)
