"""Optimizer-state layout per parameter, shared by the optimizer and the memory benchmark.

The optimizer allocates exactly what :func:`plan_state` returns, so byte
counts computed from shapes alone (e.g. on a meta-device model) cannot drift
from what a real run holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .projector import basis_shape, low_rank_shape, projection_side

HISTORY_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
STATE_DTYPES = HISTORY_DTYPES

# Which kind each state tensor counts as in state_bytes().
KIND_OF_KEY = {
    "exp_avg": "moments",
    "exp_avg_sq": "moments",
    "proj": "projections",
    "history": "history",
    "gram": "gram",
    "skipped": "counters",
}


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def nbytes(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n * torch.empty((), dtype=self.dtype).element_size()


def is_projected(shape: tuple[int, ...], group: Mapping[str, Any]) -> bool:
    """Only matrices in groups that ask for a rank are projected."""
    return group.get("rank") is not None and len(shape) == 2


def plan_state(shape: tuple[int, ...], group: Mapping[str, Any]) -> dict[str, TensorSpec]:
    """Tensor state a parameter of ``shape`` gets in ``group``.

    Low-rank moments have ``state_dtype`` (float32 unless the group says
    bfloat16), the history ``history_dtype``; everything else is float32
    whatever the parameter dtype (plain parameters' moments included: their
    update is computed in float32 and rounded once).
    ``skipped`` is a per-parameter device counter (Adam's step count is the
    bucket's, kept on the host).
    """
    shape = tuple(int(d) for d in shape)
    counters = {"skipped": TensorSpec((), torch.float32)}
    if not is_projected(shape, group):
        return {"exp_avg": TensorSpec(shape, torch.float32), "exp_avg_sq": TensorSpec(shape, torch.float32),
                **counters}
    moments = STATE_DTYPES[group.get("state_dtype", "float32")]
    side = projection_side(shape, group.get("proj_type", "std"))
    low = low_rank_shape(shape, group["rank"], side)
    plan = {
        "exp_avg": TensorSpec(low, moments),
        "exp_avg_sq": TensorSpec(low, moments),
        "proj": TensorSpec(basis_shape(shape, group["rank"], side), torch.float32),
        **counters,
    }
    s = int(group.get("natural_history", 0) or 0)
    if s > 0:
        k = low[0] * low[1]
        plan["history"] = TensorSpec((s, k), HISTORY_DTYPES[group.get("history_dtype", "float32")])
        plan["gram"] = TensorSpec((s, s), torch.float32)
    return plan


def planned_bytes(shapes_and_groups: list[tuple[tuple[int, ...], Mapping[str, Any]]]) -> dict[str, int]:
    """Bytes per kind (plus "total") for parameters given as (shape, group) pairs."""
    out: dict[str, int] = {}
    for shape, group in shapes_and_groups:
        for key, spec in plan_state(shape, group).items():
            kind = KIND_OF_KEY[key]
            out[kind] = out.get(kind, 0) + spec.nbytes
    out["total"] = sum(out.values())
    return out


def tensor_state_bytes(states: list[Mapping[str, Any]]) -> dict[str, int]:
    """Bytes per kind (plus "total") actually held in optimizer state dicts."""
    out: dict[str, int] = {}
    for state in states:
        for key, value in state.items():
            if torch.is_tensor(value):
                kind = KIND_OF_KEY.get(key, "other")
                out[kind] = out.get(kind, 0) + value.numel() * value.element_size()
    out["total"] = sum(out.values())
    return out
