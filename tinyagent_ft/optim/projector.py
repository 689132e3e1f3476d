"""GaLore subspace: which side to project, the orthonormal basis, and the maps.

A basis ``P`` is always stored as (d, r) with orthonormal columns, where d is
the projected side's length:
  left  (P spans column space, d = rows):  low = P^T A   (r, n);  back = P low
  right (P spans row space,    d = cols):  low = A P     (m, r);  back = low P^T
The optimizer applies both as the right-side maps, to A or to A^T.
"""

from __future__ import annotations

import torch
from torch import Tensor

PROJ_TYPES = ("std", "left", "right")
SVD_METHODS = ("full", "randomized", "gram")


def projection_side(shape: tuple[int, ...], proj_type: str) -> str:
    """'left' or 'right'; "std" projects the smaller side, as galore-torch does."""
    if proj_type == "std":
        return "right" if shape[0] >= shape[1] else "left"
    if proj_type in ("left", "right"):
        return proj_type
    raise ValueError(f"proj_type must be one of {PROJ_TYPES}, got {proj_type!r}")


def effective_rank(shape: tuple[int, ...], rank: int) -> int:
    # A rank above the smaller side cannot be orthonormal; cap it there.
    return max(1, min(int(rank), shape[0], shape[1]))


def basis_shape(shape: tuple[int, ...], rank: int, side: str) -> tuple[int, int]:
    r = effective_rank(shape, rank)
    return (shape[0], r) if side == "left" else (shape[1], r)


def low_rank_shape(shape: tuple[int, ...], rank: int, side: str) -> tuple[int, int]:
    r = effective_rank(shape, rank)
    return (r, shape[1]) if side == "left" else (shape[0], r)


def _randomized_left_vectors(a: Tensor, rank: int, generator: torch.Generator,
                             oversample: int = 8, power_iters: int = 2) -> Tensor:
    # Halko-Martinsson-Tropp range finder with QR re-orthonormalised power
    # iterations; its own generator keeps refreshes reproducible on resume and
    # leaves the global RNG stream (dropout, data order) untouched.
    m, n = a.shape
    q = min(rank + oversample, m, n)
    omega = torch.randn(n, q, generator=generator, dtype=a.dtype, device=a.device)
    y = a @ omega
    for _ in range(power_iters):
        y = torch.linalg.qr(y).Q
        y = a @ (a.T @ y)
    basis = torch.linalg.qr(y).Q
    u_small = torch.linalg.svd(basis.T @ a, full_matrices=False).U
    return basis @ u_small[:, :rank]


def _gram_left_vectors(a: Tensor, rank: int) -> Tensor:
    # The top eigenvectors of A A^T are A's top left singular vectors: the same subspace as the SVD's, to
    # float32 rounding (about 1e-5 apart at the demo's shapes), for a product and a symmetric eigensolver
    # that on a CPU run 2.5 to 5.6 times faster than the SVD. Scaling A to unit max first keeps a finite
    # but huge gradient's Gram finite; it changes no eigenvector.
    a = a / a.abs().amax().clamp_min(torch.finfo(a.dtype).tiny)
    _, vectors = torch.linalg.eigh(a @ a.T)
    return vectors[:, -rank:].flip(-1)  # eigh sorts ascending; largest first, as the SVD orders them


def top_singular_basis(matrix: Tensor, rank: int, side: str, method: str = "full",
                       generator: torch.Generator | None = None) -> Tensor:
    """Orthonormal (d, r) basis of the top-r singular subspace of ``matrix``'s ``side``.

    ``method="full"`` is an exact SVD; ``"gram"`` the top eigenvectors of the
    Gram matrix on the projected side (the same subspace, cheaper on a CPU);
    ``"randomized"`` a range finder that costs O(m n r) instead of
    O(m n min(m, n)). Computed in float32.
    """
    a = matrix.float()
    r = effective_rank(tuple(a.shape), rank)
    if method == "full":
        # Same factorisation and sign convention as galore-torch (U for the
        # left side, Vh for the right), so plain GaLore runs match it.
        u, _, vh = torch.linalg.svd(a, full_matrices=False)
        basis = u[:, :r] if side == "left" else vh[:r].T
    elif method == "gram":
        basis = _gram_left_vectors(a if side == "left" else a.T, r)
    elif method == "randomized":
        if generator is None:
            raise ValueError("randomized refresh needs a generator")
        basis = _randomized_left_vectors(a if side == "left" else a.T, r, generator)
    else:
        raise ValueError(f"svd method must be one of {SVD_METHODS}, got {method!r}")
    return basis.contiguous()


def rotation(new_basis: Tensor, old_basis: Tensor) -> Tensor:
    """(r, r) map taking low-rank coordinates in the old basis to the new one."""
    return new_basis.T @ old_basis


def rotate_low_rank(rows: Tensor, rot: Tensor, low_shape: tuple[int, int], side: str) -> Tensor:
    """Re-express flattened low-rank gradients (c, k) in a new basis.

    left: h = P_old^T A  ->  P_new^T P_old h;   right: h = A P_old  ->  h P_old^T P_new.
    The part of the old gradients outside the new subspace is dropped.
    """
    c = rows.shape[0]
    mats = rows.float().reshape(c, *low_shape)
    out = rot @ mats if side == "left" else mats @ rot.T
    return out.reshape(c, -1)
