"""The fused low-rank path (``fused``, the default on a CPU) against the masked, batched path."""

import pytest
import torch

from tinyagent_ft.optim import NaturalGaLoreAdamW

SHAPES = [(24, 10), (24, 10), (10, 24), (10, 24), (10, 24)]


def _params(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(*s, generator=gen)) for s in SHAPES]


def _run(fused, history, steps=11, nan_at=None, weight_decay=0.1):
    params = _params()
    opt = NaturalGaLoreAdamW([{"params": params, "rank": 3, "update_proj_gap": 4, "natural_history": history,
                               "fused": fused}], lr=0.01, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        for i, p in enumerate(params):
            p.grad = torch.randn(p.shape, generator=gen)
            if nan_at == (step, i):
                p.grad[0, 0] = float("nan")
        opt.step()
    return params, opt


@pytest.mark.parametrize("history", [0, 4])
@pytest.mark.parametrize("nan_at", [None, (6, 3)], ids=["finite", "one_nan"])
def test_fused_low_rank_path_matches_the_masked_one(history, nan_at):
    # 11 steps cross two refreshes; a NaN in one matrix of the three-matrix bucket sends that bucket's
    # step down the masked path while the other bucket stays fused.
    fused, fused_opt = _run(True, history, nan_at=nan_at)
    masked, masked_opt = _run(False, history, nan_at=nan_at)
    for p, q in zip(fused, masked):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(fused_opt.state[p][key], masked_opt.state[q][key], rtol=1e-5, atol=1e-7)
        assert fused_opt.state[p]["skipped"] == masked_opt.state[q]["skipped"]
    assert [int(fused_opt.state[p]["skipped"]) for p in fused] == [0, 0, 0, int(nan_at is not None), 0]
    assert not torch.equal(fused[0], _params()[0])


def test_fused_path_is_not_the_masked_one():
    # The two paths round differently: were ``fused`` ignored, the parameters would be bit-identical.
    fused, _ = _run(True, 4)
    masked, _ = _run(False, 4)
    assert any(not torch.equal(p, q) for p, q in zip(fused, masked))


def test_fused_steady_step_reads_one_flag_per_bucket_and_adds_back_in_place():
    from torch.profiler import ProfilerActivity, profile

    params, opt = _run(True, 4, steps=6)
    for p in params:
        p.grad = torch.randn_like(p)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        opt.step()
    names = [e.name for e in prof.events()]
    assert names.count("aten::_fused_adamw_") == 2  # one per bucket: (24, 10) and (10, 24)
    assert names.count("aten::addmm_") == len(SHAPES)
    assert names.count("aten::is_nonzero") + names.count("aten::_local_scalar_dense") >= 2


def test_fused_is_chosen_by_device_and_travels_in_the_state_dict():
    params, opt = _run(None, 4, steps=3)
    assert opt.param_groups[0]["fused"] is True  # CPU parameters
    saved = opt.state_dict()
    assert saved["param_groups"][0]["fused"] is True

    resumed = NaturalGaLoreAdamW([{"params": params, "rank": 3, "update_proj_gap": 4, "fused": False}], lr=0.01)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["fused"] is True

    legacy = {**saved, "param_groups": [{k: v for k, v in g.items() if k != "fused"} for g in saved["param_groups"]]}
    older = NaturalGaLoreAdamW([{"params": params, "rank": 3, "update_proj_gap": 4}], lr=0.01)
    older.load_state_dict(legacy)
    assert older.param_groups[0]["fused"] is False  # it was saved by an optimizer that stepped unfused


def test_fused_must_be_a_bool_or_none():
    with pytest.raises(ValueError, match="fused"):
        NaturalGaLoreAdamW([{"params": _params(), "rank": 3, "fused": "yes"}])


def test_fused_steady_step_allocates_nothing_of_a_low_rank_gradients_size():
    # On a CPU a fresh buffer is fresh pages: the fused path keeps its projected gradients, the float32
    # copy of the bf16 history and the row it may put back, so a steady step allocates only s x s work.
    from torch.profiler import ProfilerActivity, profile

    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(*s, generator=gen)) for s in [(300, 100), (300, 100), (100, 300)]]
    opt = NaturalGaLoreAdamW([{"params": params, "rank": 20, "update_proj_gap": 100}], lr=0.01)
    for _ in range(6):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        opt.step()
    largest = max(e.cpu_memory_usage for e in prof.events() if e.name.startswith("aten::"))
    one_row_bf16 = 300 * 20 * 2
    assert 0 < largest < one_row_bf16 // 2


def test_switching_fused_off_and_on_again_keeps_the_float32_history_copy_current():
    # A masked step writes the bf16 history without the fused path's float32 copy; back on the fused path
    # the copy must be rebuilt, or the next dots and directions read stale rows.
    params, opt = _run(True, 4, steps=5)  # steps 5-7 follow: no refresh (every 4) resets the history
    reference = [p.detach().clone() for p in params]
    ref_opt = NaturalGaLoreAdamW([{"params": [torch.nn.Parameter(p) for p in reference], "rank": 3,
                                   "update_proj_gap": 4, "natural_history": 4, "fused": True}],
                                 lr=0.01, weight_decay=0.1)
    ref_opt.load_state_dict(opt.state_dict())
    gen = torch.Generator().manual_seed(5)
    for step in range(3):
        grads = [torch.randn(p.shape, generator=gen) for p in params]
        opt.param_groups[0]["fused"] = step != 1
        ref_opt.param_groups[0]["fused"] = False
        for p, q, g in zip(params, ref_opt.param_groups[0]["params"], grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
    for p, q in zip(params, ref_opt.param_groups[0]["params"]):
        rows = opt.state[p]["history"][: opt.state[p]["hist_count"]].float()  # the Gram describes what is stored
        torch.testing.assert_close(opt.state[p]["gram"], rows @ rows.T, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
