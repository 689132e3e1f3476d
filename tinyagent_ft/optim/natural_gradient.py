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

# Relative jitter added to the diagonal when Cholesky fails, tried in order.
_JITTERS = (0.0, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2)


def solve_damped_gram(gram: Tensor, rhs: Tensor, damping: float) -> Tensor:
    """Solve (damping*I + gram) x = rhs for a symmetric PSD (s, s) ``gram``.

    Returns x in float64. If Cholesky fails (round-off made ``gram`` slightly
    indefinite), retries with growing diagonal jitter relative to the mean
    diagonal; if every attempt fails, falls back to a diagonal solve so the
    result is always finite for finite inputs.
    """
    if damping <= 0:
        raise ValueError(f"damping must be > 0, got {damping}")
    a = gram.to(torch.float64)
    b = rhs.to(torch.float64).unsqueeze(-1)
    n = a.shape[-1]
    eye = torch.eye(n, dtype=torch.float64, device=a.device)
    diag_scale = float(a.diagonal().abs().mean()) if n else 0.0
    for jitter in _JITTERS:
        shift = damping + jitter * diag_scale
        chol, info = torch.linalg.cholesky_ex(a + shift * eye)
        if int(info) == 0:
            return torch.cholesky_solve(b, chol).squeeze(-1)
    return (b.squeeze(-1) / (a.diagonal().clamp_min(0) + damping))


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
