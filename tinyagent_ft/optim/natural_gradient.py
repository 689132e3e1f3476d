"""Damped empirical-Fisher solves via the Woodbury identity.

The empirical Fisher over a short history of low-rank gradients is
F = G G^T with G of shape (k, s), s << k. Inverting lambda*I + F directly costs
O(k^3); Woodbury turns it into an s x s solve:

    (lambda I + G G^T)^-1 g = (g - G x) / lambda,   (lambda I + G^T G) x = G^T g

The s x s system is symmetric positive definite, so a Cholesky factorisation
solves it. It is always solved in float64: it is tiny, and float32 loses the
damping term when lambda is small against the Gram entries.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Relative jitter added to the diagonal when Cholesky fails, in order of
# preference: none, then 1e-10, 1e-8, ..., 1e-2 of the mean diagonal.
_JITTER_EXPONENTS = (-10.0, -2.0)
_JITTER_STEPS = 5
_INF = float("inf")
_MAX64 = torch.finfo(torch.float64).max
_SHIFT_FACTORS: dict[tuple, Tensor] = {}


def _shift_factors(device: torch.device, s: int, damping: float, relative: bool) -> Tensor:
    """Per jitter level, the factor that multiplies a system's diagonal sum to give its shift.

    Relative: (damping + jitter) / s, absolute: jitter / s (damping is added
    separately). Built on the device once per setting: a tensor made from a
    Python list would be a host-to-device copy, which synchronises, at every step.
    """
    key = (device, s, damping, relative)
    if key not in _SHIFT_FACTORS:
        levels = torch.cat([torch.zeros(1, dtype=torch.float64, device=device),
                            torch.logspace(*_JITTER_EXPONENTS, _JITTER_STEPS, dtype=torch.float64, device=device)])
        _SHIFT_FACTORS[key] = (levels + (damping if relative else 0.0)) / s
    return _SHIFT_FACTORS[key]


def damped_solve(gram: Tensor, rhs: Tensor, damping: float, relative: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """Solve (lambda*I + gram) x = rhs for a batch of symmetric PSD (n, s, s) ``gram``, (n, s) ``rhs``.

    lambda is ``damping``, or with ``relative`` ``damping`` times each
    system's mean diagonal (the history's mean squared norm). Returns x in
    float64, with ``gram`` and ``rhs`` in float64 (callers reuse them). Every jitter level is factorised at once and each system keeps the
    smallest shift whose Cholesky succeeded, falling back to a diagonal solve
    when none did: the result is finite for finite inputs, and ``info`` never
    leaves the device (no retry loop on the host).
    """
    if damping <= 0:
        raise ValueError(f"damping must be > 0, got {damping}")
    s = gram.shape[-1]
    a = gram.double()
    b = rhs.double().unsqueeze(-1)
    diagonal = a.diagonal(dim1=-2, dim2=-1)
    # The sum of the diagonal, kept positive so an all-zero history still gets a shift.
    total = diagonal.sum(-1).clamp_min_(1e-300)
    shifts = torch.outer(_shift_factors(a.device, s, damping, relative), total)
    if not relative:
        shifts.add_(damping)
    _, info = torch.linalg.cholesky_ex(torch.diag_embed(shifts.unsqueeze(-1).expand(-1, -1, s)).add_(a))
    shift = shifts.masked_fill(info.bool(), _INF).amin(0)
    chol, _ = torch.linalg.cholesky_ex(torch.diag_embed(shift.unsqueeze(-1).expand(-1, s)).add_(a))
    y = torch.linalg.solve_triangular(chol, b, upper=False)
    x = torch.linalg.solve_triangular(chol.mT, y, upper=True).squeeze(-1)
    lam = shifts[0] if relative else damping  # level 0 is the undamped-by-jitter shift
    fallback = b.squeeze(-1) / diagonal.clamp_min(0).add_(lam.unsqueeze(-1) if relative else lam)
    factorised = shift.clamp_max(_MAX64).eq(shift).unsqueeze(-1)  # False where every level failed (inf)
    return torch.where(factorised, x, fallback), a, b.squeeze(-1)


def solve_damped_gram(gram: Tensor, rhs: Tensor, damping: float) -> Tensor:
    """Solve (damping*I + gram) x = rhs for symmetric PSD ``gram`` (s, s) or a batch (..., s, s).

    Returns x in float64 (see :func:`damped_solve`).
    """
    batch = gram.shape[:-2]
    s = gram.shape[-1]
    x, _, _ = damped_solve(gram.reshape(-1, s, s), rhs.reshape(-1, s), damping)
    return x.reshape(*batch, s)


def _residual64(G: Tensor, g: Tensor, damping: float) -> Tensor:
    G64 = G.to(torch.float64)
    g64 = g.to(torch.float64)
    x = solve_damped_gram(G64.T @ G64, G64.T @ g64, damping)
    return g64 - G64 @ x


def natural_gradient(G: Tensor, g: Tensor, damping: float) -> Tensor:
    """Return (damping*I + G G^T)^-1 g for G of shape (k, s) and g of shape (k,).

    The columns of ``G`` are past low-rank gradients (include the current one
    if wanted). Uses Woodbury plus a Cholesky solve of the s x s system, so the
    cost is O(k s^2) here (the optimizer keeps G^T G up to date instead, making
    its per-step cost O(k s)). The k-sized arithmetic runs in float64 and the
    result has ``g``'s dtype. Raises ValueError on non-finite inputs or
    non-positive damping rather than returning NaN.
    """
    if G.dim() != 2 or g.dim() != 1 or G.shape[0] != g.shape[0]:
        raise ValueError(f"expected G (k, s) and g (k,), got {tuple(G.shape)} and {tuple(g.shape)}")
    if not (torch.isfinite(G).all() and torch.isfinite(g).all()):
        raise ValueError("natural_gradient needs finite G and g")
    return (_residual64(G, g, damping) / damping).to(g.dtype)
