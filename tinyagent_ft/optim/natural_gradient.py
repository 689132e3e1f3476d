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
# preference: none, then 1e-10, 1e-8, ..., 1e-2 (built on the device, see below).
_JITTER_EXPONENTS = (-10, -2)
_JITTER_STEPS = 5


def solve_damped_gram(gram: Tensor, rhs: Tensor, damping: float | Tensor) -> Tensor:
    """Solve (damping*I + gram) x = rhs for symmetric PSD ``gram`` of shape (..., s, s).

    ``rhs`` is (..., s); ``damping`` a positive float or a tensor of the batch
    shape. Returns x in float64. Every jitter level (relative to the mean
    diagonal) is factorised at once and each system keeps the first that
    succeeded, falling back to a diagonal solve when none did, so the result is
    finite for finite inputs and nothing is read back to the host: the loop of
    retries that would need ``info`` on the host is a batched ``cholesky_ex``.
    """
    if isinstance(damping, (int, float)) and damping <= 0:
        raise ValueError(f"damping must be > 0, got {damping}")
    a = gram.to(torch.float64)
    b = rhs.to(torch.float64).unsqueeze(-1)
    n = a.shape[-1]
    # A float stays a Python number: turning it (or a list of jitters) into a
    # device tensor would be a host-to-device copy, which synchronises.
    lam = damping if isinstance(damping, (int, float)) else damping.to(torch.float64).reshape(damping.shape + (1, 1))
    diagonal = a.diagonal(dim1=-2, dim2=-1)
    scale = diagonal.abs().mean(-1, keepdim=True).unsqueeze(-1)
    jitters = torch.cat([torch.zeros(1, dtype=torch.float64, device=a.device),
                         torch.logspace(*_JITTER_EXPONENTS, _JITTER_STEPS, dtype=torch.float64, device=a.device)])
    jitters = jitters.reshape(-1, *([1] * a.dim()))
    eye = torch.eye(n, dtype=torch.float64, device=a.device)
    chol, info = torch.linalg.cholesky_ex(a + (lam + jitters * scale) * eye)
    ok = info == 0                                       # (J, ...)
    first = ok.to(torch.uint8).argmax(0)                 # first level that factorised (0 if none)
    chol = chol.gather(0, first.reshape(1, *first.shape, 1, 1).expand(1, *a.shape)).squeeze(0)
    y = torch.linalg.solve_triangular(chol, b, upper=False)
    x = torch.linalg.solve_triangular(chol.mT, y, upper=True).squeeze(-1)
    fallback = b.squeeze(-1) / (diagonal.clamp_min(0) + (lam if isinstance(lam, (int, float)) else lam.squeeze(-1)))
    return torch.where(ok.any(0).unsqueeze(-1), x, fallback)


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
