"""natural_gradient and the optimizer's incremental history/Gram bookkeeping."""

import pytest
import torch

from tinyagent_ft.optim import NaturalGaLoreAdamW, natural_gradient
from tinyagent_ft.optim.natural_galore import (
    DEFAULT_HISTORY,
    DEFAULT_HISTORY_DTYPE,
    _Bucket,
    _Job,
    _natural_directions,
    _push_history,
    _push_history_read_back,
    _Scratch,
)
from tinyagent_ft.optim.natural_gradient import solve_damped_gram


def dense_reference(G: torch.Tensor, g: torch.Tensor, damping: float) -> torch.Tensor:
    G64, g64 = G.double(), g.double()
    k = G.shape[0]
    return torch.linalg.solve(damping * torch.eye(k, dtype=torch.float64) + G64 @ G64.T, g64)


@pytest.mark.parametrize("damping", [1e-4, 1e-2, 1.0, 100.0])
@pytest.mark.parametrize("s", [1, 3, 7])
def test_natural_gradient_equals_dense_solve(damping, s):
    gen = torch.Generator().manual_seed(s)
    G = torch.randn(12, s, generator=gen, dtype=torch.float64)
    g = torch.randn(12, generator=gen, dtype=torch.float64)
    got = natural_gradient(G, g, damping)
    want = dense_reference(G, g, damping)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9 * want.abs().max().item())


def test_natural_gradient_float32_inputs_match_float64_reference():
    gen = torch.Generator().manual_seed(0)
    G = torch.randn(50, 6, generator=gen)
    g = G[:, -1].clone()  # the current gradient is in the history: the hardest case
    got = natural_gradient(G, g, 1e-3)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), dense_reference(G, g, 1e-3), rtol=1e-4, atol=1e-4)


def test_natural_gradient_rank_deficient_history_is_finite():
    # Identical columns make G^T G singular; tiny damping must still give a finite answer.
    col = torch.randn(40)
    G = torch.stack([col] * 5, dim=1)
    out = natural_gradient(G, col, 1e-12)
    assert torch.isfinite(out).all()


def test_solve_falls_back_when_cholesky_fails():
    indefinite = torch.tensor([[1.0, 0.0], [0.0, -5.0]], dtype=torch.float64)
    x = solve_damped_gram(indefinite, torch.ones(2, dtype=torch.float64), 1e-3)
    assert torch.isfinite(x).all()


def test_natural_gradient_rejects_bad_inputs():
    G, g = torch.randn(5, 2), torch.randn(5)
    with pytest.raises(ValueError):
        natural_gradient(G, g, 0.0)
    with pytest.raises(ValueError):
        natural_gradient(G, g.clone().fill_(float("nan")), 1.0)
    with pytest.raises(ValueError):
        natural_gradient(G, torch.randn(4), 1.0)


def _ring(k: int, s: int, n: int = 1, dtype: str = "float32", damping: float = 0.1,
          mode: str = "absolute") -> _Bucket:
    """A bucket of n matrices holding only what the history transform touches."""
    hist_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    stacked = {"history": torch.zeros(n, s, k, dtype=hist_dtype), "gram": torch.zeros(n, s, s)}
    return _Bucket({"damping": damping, "damping_mode": mode}, [], [], True, stacked)


def _natural_direction(ring: _Bucket, low: torch.Tensor, present=None, push=_push_history, scratch=None):
    """The optimizer's history push and solve for one bucket: (direction, finite)."""
    job = _Job(ring, low, present)
    push(job, scratch or _Scratch())
    _natural_directions([job])
    return job.direction, job.bad == 0


@pytest.mark.parametrize("mode", ["absolute", "relative"])
@pytest.mark.parametrize("n", [1, 3])
def test_incremental_direction_matches_natural_gradient_through_wraparound(mode, n):
    # n > 1: matrices stepped together as one batch each match their own dense solve.
    k, s, damping = 30, 4, 0.05
    ring = _ring(k, s, n, damping=damping, mode=mode)
    gen = torch.Generator().manual_seed(1)
    seen = []
    for _ in range(2 * s + 1):  # wraps the ring buffer twice
        g = torch.randn(n, 3, 10, generator=gen)
        seen.append(g.reshape(n, -1))
        out, finite = _natural_direction(ring, g, None)
        assert finite.all()
        count = ring.hist_count
        for i in range(n):
            window = torch.stack([v[i] for v in seen[-s:]], dim=1)
            lam = damping if mode == "absolute" else damping * (window**2).sum(0).mean().item()
            want = lam * natural_gradient(window, seen[-1][i], lam)
            torch.testing.assert_close(out[i].reshape(-1), want, rtol=1e-4, atol=1e-5)
            # The incrementally kept Gram equals the recomputed one.
            stored = ring.stacked["history"][i, :count]
            torch.testing.assert_close(ring.stacked["gram"][i, :count, :count], stored @ stored.T,
                                       rtol=1e-5, atol=1e-5)
            cos = torch.nn.functional.cosine_similarity(out[i].reshape(-1), seen[-1][i], dim=0)
            assert ring.last_cosine[0][i].item() == pytest.approx(cos.item(), abs=1e-4)
    assert ring.hist_count == s


def test_incremental_gram_with_bf16_history_matches_stored_rows():
    ring = _ring(24, 3, n=2, dtype="bfloat16")
    for _ in range(5):
        _natural_direction(ring, torch.randn(2, 4, 6), None)
    stored = ring.stacked["history"].float()
    torch.testing.assert_close(ring.stacked["gram"], stored @ stored.mT, rtol=1e-5, atol=1e-5)


def test_bf16_history_direction_is_close_to_the_float32_one():
    # The bf16 path splits the float64 weights into two bf16 parts; the result
    # must stay close to the same computation on the rounded history in float32.
    gen = torch.Generator().manual_seed(3)
    grads = [torch.randn(2, 5, 8, generator=gen) for _ in range(6)]
    half, full = _ring(40, 4, n=2, dtype="bfloat16"), _ring(40, 4, n=2)
    for g in grads:
        rounded = g.to(torch.bfloat16).float()
        out_half, _ = _natural_direction(half, g, None)
        out_full, _ = _natural_direction(full, rounded, None)
        torch.testing.assert_close(out_half, out_full, rtol=1e-3, atol=1e-3)


def test_nonfinite_low_rank_gradient_leaves_its_history_untouched():
    ring = _ring(8, 3, n=2)
    _natural_direction(ring, torch.randn(2, 2, 4), None)
    before = {k: v.clone() for k, v in ring.stacked.items()}
    bad = torch.randn(2, 2, 4)
    bad[0, 0, 0] = float("inf")
    _, finite = _natural_direction(ring, bad, None)
    assert finite.view(-1).tolist() == [False, True]
    for key, value in before.items():
        assert torch.equal(ring.stacked[key][0], value[0])
        assert not torch.equal(ring.stacked[key][1], value[1])
    # Only the ring position is shared: it moved on for both.
    assert (ring.hist_pos, ring.hist_count) == (2, 2)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_read_back_push_equals_the_masked_push(dtype):
    # The fused path's push writes the row first and puts it back for a skipped matrix; through two
    # wraparounds, a NaN in one matrix and an absent one, history, Gram and directions stay bit-identical.
    masked, read_back = _ring(40, 3, n=3, dtype=dtype), _ring(40, 3, n=3, dtype=dtype)
    scratch = _Scratch()
    gen = torch.Generator().manual_seed(4)
    for step in range(8):
        low = torch.randn(3, 5, 8, generator=gen)
        present = None
        if step == 3:
            low[1, 2, 2] = float("nan")
        if step == 5:
            present = torch.tensor([True, True, False])
        want, want_ok = _natural_direction(masked, low.clone(), present)
        got, got_ok = _natural_direction(read_back, low.clone(), present, _push_history_read_back, scratch)
        assert torch.equal(got_ok, want_ok)
        keep = want_ok.view(-1) if present is None else want_ok.view(-1) & present
        assert torch.equal(got[keep], want[keep])
        for key in ("history", "gram"):
            assert torch.equal(read_back.stacked[key], masked.stacked[key]), (step, key)
    assert masked.stacked["gram"].abs().sum() > 0


@pytest.mark.parametrize("side_shape", [(24, 10), (10, 24)])
def test_gram_stays_exact_after_rotating_history(side_shape):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(*side_shape))
    opt = NaturalGaLoreAdamW([{"params": [w], "rank": 3, "update_proj_gap": 4, "natural_history": 3,
                               "history_on_refresh": "rotate", "damping": 0.1}], lr=1e-2)
    for _ in range(9):  # refreshes at steps 0, 4 and 8
        w.grad = torch.randn_like(w)
        opt.step()
    st = opt.state[w]
    c = st["hist_count"]
    assert c == 3  # rotation kept the history across the refreshes
    rows = st["history"][:c].float()  # the default history is bf16; the Gram describes what is stored
    torch.testing.assert_close(st["gram"][:c, :c], rows @ rows.T, rtol=1e-5, atol=1e-5)


def test_reset_history_on_refresh_empties_the_buffer():
    w = torch.nn.Parameter(torch.randn(12, 8))
    opt = NaturalGaLoreAdamW([{"params": [w], "rank": 2, "update_proj_gap": 3, "natural_history": 5}], lr=1e-2)
    counts = []
    for _ in range(7):
        w.grad = torch.randn_like(w)
        opt.step()
        counts.append(opt.state[w]["hist_count"])
    assert counts == [1, 2, 3, 1, 2, 3, 1]


def test_relative_damping_is_scale_free_and_absolute_is_not():
    gen = torch.Generator().manual_seed(2)
    grads = [torch.randn(3, 5, generator=gen) for _ in range(4)]

    def last_cosine(mode, factor):
        ring = _ring(15, 3, damping=0.5, mode=mode)
        for g in grads:
            out, _ = _natural_direction(ring, (g * factor).unsqueeze(0), None)
        return out[0] / factor, ring.last_cosine[0][0].item()

    rel_small, cos_small = last_cosine("relative", 1e-3)
    rel_big, cos_big = last_cosine("relative", 1e3)
    torch.testing.assert_close(rel_small, rel_big, rtol=1e-4, atol=1e-6)
    assert cos_small == pytest.approx(cos_big, abs=1e-5) and cos_small < 0.99
    # Absolute damping: tiny gradients are left alone (cosine -> 1), big ones whitened hard.
    assert last_cosine("absolute", 1e-3)[1] > 0.9999 > last_cosine("absolute", 1e3)[1]


def test_defaults_are_the_swept_damping_and_the_memory_chosen_history():
    w = torch.nn.Parameter(torch.randn(6, 4))
    group = NaturalGaLoreAdamW([{"params": [w], "rank": 2}]).param_groups[0]
    assert (group["damping"], group["damping_mode"]) == (1.0, "relative")
    assert (group["natural_history"], group["history_dtype"]) == (DEFAULT_HISTORY, DEFAULT_HISTORY_DTYPE)
    assert (DEFAULT_HISTORY, DEFAULT_HISTORY_DTYPE, group["state_dtype"]) == (4, "bfloat16", "float32")
