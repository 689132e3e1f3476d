"""NaturalGaLoreAdamW: AdamW parity, GaLore reference parity, resume, robustness, memory."""

import math

import pytest
import torch

from tinyagent_ft.optim import NaturalGaLoreAdamW, natural_galore, planned_bytes

# Plain tensors below PACK_LIMIT elements share a flat bucket (the generic masked AdamW); a lone float32
# tensor takes torch's fused AdamW kernel. Tests of plain-parameter behaviour run both ways.
PLAIN_PATHS = pytest.mark.parametrize("pack_limit", [natural_galore.PACK_LIMIT, 1], ids=["packed", "fused"])


def _grads(shapes, steps, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(*s, generator=gen) for s in shapes] for _ in range(steps)]


@PLAIN_PATHS
def test_groups_without_rank_match_torch_adamw(pack_limit, monkeypatch):
    monkeypatch.setattr(natural_galore, "PACK_LIMIT", pack_limit)
    # Plain parameters are stepped as flat buckets with per-member coefficient
    # tensors, so roundings differ from torch's by an ulp now and then: compare
    # to float tolerance, tight enough that eps placement or weight decay matter
    # (a misplaced eps moves these parameters by about 5e-6).
    torch.manual_seed(0)
    shapes = [(6, 5), (5,), (3, 4, 2)]
    ours = [torch.nn.Parameter(torch.randn(*s)) for s in shapes]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    # Default hyperparameters on purpose: weight_decay=0.01 and eps=1e-8 must match too.
    opt_ours = NaturalGaLoreAdamW([{"params": ours[:2]}, {"params": ours[2:], "weight_decay": 0.3}], lr=0.05)
    opt_ref = torch.optim.AdamW([{"params": ref[:2]}, {"params": ref[2:], "weight_decay": 0.3}], lr=0.05,
                                foreach=True)
    scheds = [torch.optim.lr_scheduler.StepLR(o, 3, 0.5) for o in (opt_ours, opt_ref)]
    for grads in _grads(shapes, 12):
        for p, q, g in zip(ours, ref, grads):
            p.grad, q.grad = g * 1e-3, g * 1e-3  # small grads make eps matter
        opt_ours.step()
        opt_ref.step()
        for s in scheds:
            s.step()
    for p, q in zip(ours, ref):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)


def reference_galore(w0, grads, rank, gap, scale, lr, betas, eps, wd, side):
    """Straightforward GaLore: SVD basis every `gap` steps, AdamW in the subspace, back with scale."""
    w = w0.clone()
    m = v = basis = None
    for t, g in enumerate(grads, start=1):
        if (t - 1) % gap == 0:
            u, _, vh = torch.linalg.svd(g, full_matrices=False)
            basis = u[:, :rank] if side == "left" else vh[:rank].T
        low = basis.T @ g if side == "left" else g @ basis
        if m is None:
            m, v = torch.zeros_like(low), torch.zeros_like(low)
        m = betas[0] * m + (1 - betas[0]) * low
        v = betas[1] * v + (1 - betas[1]) * low * low
        m_hat = m / (1 - betas[0] ** t)
        v_hat = v / (1 - betas[1] ** t)
        upd = m_hat / (v_hat.sqrt() + eps)
        back = basis @ upd if side == "left" else upd @ basis.T
        w = w * (1 - lr * wd) - lr * scale * back
    return w


@pytest.mark.parametrize("shape,proj_type,side", [
    ((20, 12), "std", "right"), ((12, 20), "std", "left"),
    ((20, 12), "left", "left"), ((12, 20), "right", "right"),
])
def test_galore_path_matches_reference(shape, proj_type, side):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(*shape))
    w0 = w.detach().clone()
    grads = [g[0] for g in _grads([shape], 11, seed=3)]
    kw = dict(rank=4, gap=5, scale=0.25, lr=0.02, betas=(0.9, 0.99), eps=1e-8, wd=0.1)
    opt = NaturalGaLoreAdamW([{"params": [w], "rank": 4, "update_proj_gap": 5, "scale": 0.25,
                               "natural_history": 0, "proj_type": proj_type, "svd_method": "full"}],
                             lr=0.02, betas=(0.9, 0.99), weight_decay=0.1)
    for g in grads:
        w.grad = g.clone()
        opt.step()
    want = reference_galore(w0, grads, side=side, **kw)
    torch.testing.assert_close(w.detach(), want, rtol=1e-5, atol=1e-6)
    assert opt.state[w]["proj"].shape == ((shape[0], 4) if side == "left" else (shape[1], 4))


def test_galore_path_matches_galore_torch():
    galore_torch = pytest.importorskip("galore_torch")
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(16, 24))
    ref = torch.nn.Parameter(w.detach().clone())
    group = {"rank": 4, "update_proj_gap": 4, "scale": 0.5}
    # svd_method="full" is galore-torch's refresh (the CPU default, "gram", spans the same subspace).
    # eps=0 and no weight decay: galore-torch places eps and decay differently from torch's AdamW.
    ours = NaturalGaLoreAdamW([{"params": [w], **group, "natural_history": 0, "svd_method": "full"}], lr=0.01, eps=0.0,
                              weight_decay=0.0)
    theirs = galore_torch.GaLoreAdamW([{"params": [ref], **group, "proj_type": "std"}], lr=0.01, eps=0.0,
                                      weight_decay=0.0, no_deprecation_warning=True)
    for (g,) in _grads([(16, 24)], 10, seed=5):
        w.grad, ref.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
    torch.testing.assert_close(w.detach(), ref.detach(), rtol=1e-5, atol=1e-6)


def test_natural_transform_changes_the_update():
    torch.manual_seed(0)
    shape = (16, 24)
    a, b = (torch.nn.Parameter(torch.randn(*shape)) for _ in range(2))
    b.data.copy_(a.data)
    plain = NaturalGaLoreAdamW([{"params": [a], "rank": 4, "natural_history": 0}], lr=0.01)
    natural = NaturalGaLoreAdamW([{"params": [b], "rank": 4, "natural_history": 5, "damping": 1e-3}], lr=0.01)
    for (g,) in _grads([shape], 6):
        a.grad, b.grad = g.clone(), g.clone()
        plain.step()
        natural.step()
    assert not torch.allclose(a, b, atol=1e-4)
    assert natural.natural_cosine() < 0.99


def test_non_matrix_params_in_rank_group_get_adamw():
    torch.manual_seed(0)
    bias, conv = torch.nn.Parameter(torch.randn(7)), torch.nn.Parameter(torch.randn(2, 3, 4))
    ref = [torch.nn.Parameter(p.detach().clone()) for p in (bias, conv)]
    mat = torch.nn.Parameter(torch.randn(8, 6))
    opt = NaturalGaLoreAdamW([{"params": [mat, bias, conv], "rank": 2}], lr=0.03)
    opt_ref = torch.optim.AdamW(ref, lr=0.03, foreach=True)
    for grads in _grads([(8, 6), (7,), (2, 3, 4)], 5):
        for p, g in zip((mat, bias, conv), grads):
            p.grad = g.clone()
        for p, g in zip(ref, grads[1:]):
            p.grad = g.clone()
        opt.step()
        opt_ref.step()
    torch.testing.assert_close(bias, ref[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(conv, ref[1], rtol=0, atol=1e-6)
    assert "proj" in opt.state[mat] and "proj" not in opt.state[bias]


def test_scheduler_drives_lr_for_projected_and_plain_params():
    torch.manual_seed(0)
    w, b = torch.nn.Parameter(torch.randn(10, 6)), torch.nn.Parameter(torch.randn(6))
    opt = NaturalGaLoreAdamW([{"params": [w], "rank": 2, "weight_decay": 0.0},
                              {"params": [b], "weight_decay": 0.0}], lr=0.1)
    # lr factor: 1, 0, 1 -> the middle step must not move anything.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.0 if s == 1 else 1.0)
    moved = []
    for _ in range(3):
        before = (w.detach().clone(), b.detach().clone())
        w.grad, b.grad = torch.randn_like(w), torch.randn_like(b)
        opt.step()
        sched.step()
        moved.append((not torch.equal(before[0], w), not torch.equal(before[1], b)))
    assert moved == [(True, True), (False, False), (True, True)]


def _make_model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(12, 20), torch.nn.Tanh(), torch.nn.Linear(20, 9)).to(dtype)


def _train(model, opt, sched, batches):
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        loss = ((model(x.to(next(model.parameters()).dtype)).float() - y) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()


def _make_opt(model, **group):
    weights = [p for p in model.parameters() if p.dim() == 2]
    others = [p for p in model.parameters() if p.dim() != 2]
    opt = NaturalGaLoreAdamW([{"params": weights, "rank": 3, "update_proj_gap": 3, "natural_history": 4,
                               "damping": 0.01, **group}, {"params": others}], lr=0.01)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)


@pytest.mark.parametrize("group,dtype", [
    ({}, torch.float32),
    ({"svd_method": "randomized", "history_on_refresh": "rotate"}, torch.float32),
    ({"history_dtype": "bfloat16", "proj_type": "left"}, torch.bfloat16),
    ({"state_dtype": "bfloat16", "history_dtype": "float32"}, torch.float32),
])
def test_bit_exact_resume_across_refresh(tmp_path, group, dtype):
    gen = torch.Generator().manual_seed(0)
    batches = [(torch.randn(16, 12, generator=gen), torch.randn(16, 9, generator=gen)) for _ in range(8)]

    model = _make_model(dtype=dtype)
    opt, sched = _make_opt(model, **group)
    _train(model, opt, sched, batches)

    model2 = _make_model(dtype=dtype)
    opt2, sched2 = _make_opt(model2, **group)
    _train(model2, opt2, sched2, batches[:4])  # stops mid-window; refresh at step 6 comes after resume
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model2.state_dict(), "opt": opt2.state_dict(), "sched": sched2.state_dict()}, path)

    ckpt = torch.load(path, weights_only=True)
    model3 = _make_model(seed=123, dtype=dtype)
    opt3, sched3 = _make_opt(model3, **group)
    model3.load_state_dict(ckpt["model"])
    opt3.load_state_dict(ckpt["opt"])
    sched3.load_state_dict(ckpt["sched"])
    first = opt3.state[model3[0].weight]
    assert first["history"].dtype == opt2.state[model2[0].weight]["history"].dtype
    assert first["exp_avg"].dtype == opt2.state[model2[0].weight]["exp_avg"].dtype and first["hist_count"] > 0
    _train(model3, opt3, sched3, batches[4:])

    for p, q in zip(model.parameters(), model3.parameters()):
        assert torch.equal(p, q)
    for p, q in zip(model.parameters(), model3.parameters()):
        for key, value in opt.state[p].items():
            other = opt3.state[q][key]
            assert torch.equal(value, other) if torch.is_tensor(value) else value == other


@pytest.mark.parametrize("fused_low_rank", [False, True], ids=["masked", "fused_low_rank"])
@PLAIN_PATHS
def test_huge_and_nan_gradients_do_not_poison_params(pack_limit, fused_low_rank, monkeypatch):
    from torch.profiler import ProfilerActivity, profile

    monkeypatch.setattr(natural_galore, "PACK_LIMIT", pack_limit)
    torch.manual_seed(0)
    w, b = torch.nn.Parameter(torch.randn(10, 6)), torch.nn.Parameter(torch.randn(6))
    c = torch.nn.Parameter(torch.randn(4))  # shares b's bucket when packed; its gradient stays finite
    opt = NaturalGaLoreAdamW([{"params": [w], "rank": 2, "update_proj_gap": 2, "fused": fused_low_rank},
                              {"params": [b, c]}], lr=0.01)
    w.grad, b.grad, c.grad = torch.randn_like(w), torch.randn_like(b), torch.randn_like(c)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        opt.step()
    fused_calls = sum(e.name == "aten::_fused_adamw_" for e in prof.events())
    assert fused_calls == (2 if pack_limit == 1 else 0) + fused_low_rank
    for bad in (1e30, float("inf"), float("nan")):
        before = (w.detach().clone(), b.detach().clone(), c.detach().clone())
        w.grad, b.grad, c.grad = torch.full_like(w, bad), torch.full_like(b, bad), torch.randn_like(c)
        opt.step()
        assert torch.isfinite(w).all() and torch.isfinite(b).all()
        if not math.isfinite(bad):
            assert torch.equal(w, before[0]) and torch.equal(b, before[1])
        assert not torch.equal(c, before[2])
    assert opt.state[w]["skipped"] >= 2 and opt.state[b]["skipped"] == 2 and opt.state[c]["skipped"] == 0
    # Training goes on normally afterwards, through a refresh.
    for _ in range(3):
        w.grad, b.grad, c.grad = torch.randn_like(w), torch.randn_like(b), torch.randn_like(c)
        opt.step()
    assert torch.isfinite(w).all() and all(torch.isfinite(v).all() for v in opt.state[w].values()
                                           if torch.is_tensor(v))


def test_bf16_params_keep_fp32_state_and_train():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(16, 8, dtype=torch.bfloat16))
    b = torch.nn.Parameter(torch.randn(8, dtype=torch.bfloat16))
    start = w.detach().clone()
    opt = NaturalGaLoreAdamW([{"params": [w], "rank": 2}, {"params": [b]}], lr=0.05)
    for _ in range(3):
        w.grad, b.grad = torch.randn_like(w), torch.randn_like(b)
        opt.step()
    assert w.dtype == torch.bfloat16 and not torch.equal(w, start)
    for p in (w, b):
        assert all(v.dtype in (torch.float32, torch.float64) for k, v in opt.state[p].items()
                   if torch.is_tensor(v) and k not in ("history", "skipped"))

@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_lone_unfused_plain_tensor_steps_alike_in_slices(dtype, monkeypatch):
    # bf16 parameters with float32 moments cannot use the fused kernel (nor can a float32 one with a
    # transposed gradient); such a tensor is stepped in PLAIN_SLICE pieces to bound the step's
    # temporaries. Slices of 7 (not a divisor of 60) must give bit for bit the one-piece result,
    # through weight decay and a skipped non-finite step.
    monkeypatch.setattr(natural_galore, "PACK_LIMIT", 1)
    gen = torch.Generator().manual_seed(3)
    start = torch.randn(6, 10, generator=gen).to(dtype)
    grads = [torch.randn(10, 6, generator=gen).to(dtype).T for _ in range(5)]
    grads[2] = torch.full_like(grads[2], float("nan"))
    results = []
    for piece in (1 << 23, 7):
        monkeypatch.setattr(natural_galore, "PLAIN_SLICE", piece)
        w = torch.nn.Parameter(start.clone())
        opt = NaturalGaLoreAdamW([w], lr=0.05, weight_decay=0.1)
        for g in grads:
            w.grad = g.clone()
            assert not w.grad.is_contiguous()
            opt.step()
        assert opt.state[w]["skipped"] == 1
        results.append(w.detach().clone())
    assert not torch.equal(results[0], start) and torch.isfinite(results[0]).all()
    assert torch.equal(results[0], results[1])


@pytest.mark.parametrize("history_dtype", ["float32", "bfloat16"])
def test_state_bytes_matches_tensors_and_plan(history_dtype):
    model = _make_model()
    opt, _ = _make_opt(model, history_dtype=history_dtype)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    got = opt.state_bytes()
    actual = sum(v.numel() * v.element_size() for s in opt.state.values() for v in s.values() if torch.is_tensor(v))
    assert got["total"] == actual
    assert got["history"] == sum(opt.state[p]["history"].nbytes for p in model.parameters() if p.dim() == 2)
    planned = planned_bytes([(tuple(p.shape), g) for g in opt.param_groups for p in g["params"]])
    assert planned == got
    # 2 weights of rank 3 with s=4: history is k*s per weight, k = 3 * larger side.
    elt = 2 if history_dtype == "bfloat16" else 4
    assert got["history"] == (3 * 20 * 4 + 3 * 20 * 4) * elt


def test_invalid_group_options_are_rejected():
    w = torch.nn.Parameter(torch.randn(4, 4))
    for bad in ({"proj_type": "diagonal"}, {"damping": 0.0}, {"svd_method": "qr"}, {"history_dtype": "fp8"}):
        with pytest.raises(ValueError):
            NaturalGaLoreAdamW([{"params": [w], "rank": 2, **bad}])


def test_a_group_added_later_is_checked_and_a_refused_one_not_kept():
    opt = NaturalGaLoreAdamW([{"params": [torch.nn.Parameter(torch.randn(4, 4))], "rank": 2}])
    with pytest.raises(ValueError, match="proj_type"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.randn(4, 4))], "rank": 2, "proj_type": "diagonal"})
    assert len(opt.param_groups) == 1
    later = torch.nn.Parameter(torch.randn(6, 4))
    opt.add_param_group({"params": [later], "rank": 2})
    assert opt.param_groups[1]["fused"] is True and opt.param_groups[1]["svd_method"] == "gram"


@pytest.mark.parametrize("side", ["left", "right"])
def test_randomized_basis_spans_the_full_svd_subspace(side):
    from tinyagent_ft.optim.projector import top_singular_basis

    gen = torch.Generator().manual_seed(0)
    u = torch.linalg.qr(torch.randn(60, 5, generator=gen)).Q
    v = torch.linalg.qr(torch.randn(40, 5, generator=gen)).Q
    a = u @ torch.diag(torch.tensor([10.0, 8, 6, 4, 3])) @ v.T + 1e-3 * torch.randn(60, 40, generator=gen)
    full = top_singular_basis(a, 5, side, "full")
    rand = top_singular_basis(a, 5, side, "randomized", torch.Generator().manual_seed(1))
    assert rand.shape == full.shape == ((60, 5) if side == "left" else (40, 5))
    torch.testing.assert_close(rand.T @ rand, torch.eye(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(rand @ rand.T, full @ full.T, atol=1e-3, rtol=0)


@pytest.mark.parametrize("side", ["left", "right"])
def test_gram_basis_is_the_svd_basis_in_order(side):
    from tinyagent_ft.optim.projector import top_singular_basis

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(60, 40, generator=gen) @ torch.diag(torch.logspace(0, -3, 40))
    full = top_singular_basis(a, 8, side, "full")
    gram = top_singular_basis(a, 8, side, "gram")
    assert gram.shape == full.shape == ((60, 8) if side == "left" else (40, 8)) and gram.is_contiguous()
    torch.testing.assert_close(gram.T @ gram, torch.eye(8), atol=1e-5, rtol=0)
    # Column by column, up to sign: the largest singular direction first, as the SVD orders them.
    torch.testing.assert_close((gram * full).sum(0).abs(), torch.ones(8), atol=1e-4, rtol=0)


def test_gram_basis_of_a_huge_finite_gradient_is_finite():
    from tinyagent_ft.optim.projector import top_singular_basis

    a = torch.randn(30, 20, generator=torch.Generator().manual_seed(0)) * 1e30  # its Gram would overflow
    basis = top_singular_basis(a, 4, "right", "gram")
    assert torch.isfinite(basis).all()
    torch.testing.assert_close(basis @ basis.T, top_singular_basis(a, 4, "right", "full") @
                               top_singular_basis(a, 4, "right", "full").T, atol=1e-4, rtol=0)


def test_refresh_method_is_chosen_by_device_and_kept():
    w = torch.nn.Parameter(torch.randn(12, 8))
    assert NaturalGaLoreAdamW([{"params": [w], "rank": 2}]).param_groups[0]["svd_method"] == "gram"
    assert NaturalGaLoreAdamW([{"params": [w], "rank": 2}], svd_method="full").param_groups[0]["svd_method"] == "full"
    on_meta = torch.nn.Parameter(torch.empty(12, 8, device="meta"))
    assert NaturalGaLoreAdamW([{"params": [on_meta], "rank": 2}]).param_groups[0]["svd_method"] == "full"
    saved = NaturalGaLoreAdamW([{"params": [w], "rank": 2, "svd_method": "full"}]).state_dict()
    resumed = NaturalGaLoreAdamW([{"params": [w], "rank": 2}])
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["svd_method"] == "full"


def _tiny_llama(seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=88, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32)
    return LlamaForCausalLM(config)


def _llama_optimizer(model, **options):
    from tinyagent_ft.optim import galore_param_groups

    groups = galore_param_groups(model, rank=4, update_proj_gap=100, svd_method="randomized", **options)
    return NaturalGaLoreAdamW(groups, lr=1e-3)


def _host_reads_outside_fused_adamw(events) -> int:
    """item() calls, less those of torch's fused AdamW on a CPU, which reads its (host) step tensor."""
    def inside_fused(event):
        while event is not None and event.name != "aten::_fused_adamw_":
            event = event.cpu_parent
        return event is not None
    return sum(e.name == "aten::_local_scalar_dense" and not inside_fused(e) for e in events)


@PLAIN_PATHS
def test_steady_state_step_never_synchronises_and_batches_by_shape(pack_limit, monkeypatch):
    from torch.profiler import ProfilerActivity, profile

    monkeypatch.setattr(natural_galore, "PACK_LIMIT", pack_limit)
    model = _tiny_llama()
    opt = _llama_optimizer(model, fused=False)  # the batched path, as on a GPU
    for _ in range(6):  # refresh, then the history fills up
        for p in model.parameters():
            p.grad = torch.randn_like(p)
        opt.step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        opt.step()
    names = [e.name for e in prof.events()]
    assert _host_reads_outside_fused_adamw(prof.events()) == 0
    assert ("aten::_fused_adamw_" in names) == (pack_limit == 1)
    # 14 projected matrices in 4 shapes (q/o, k/v, gate/up, down): one projection product per shape,
    # and for all of them one s x s factorisation (all jitter levels) plus the chosen one.
    assert names.count("aten::linalg_cholesky_ex") == 2
    assert len([b for b in opt._buckets if b.projected]) == 4
    # Per bucket: projection, history dots, history combination, projection back; plus the cosine's.
    assert sum(names.count(op) for op in ("aten::bmm", "aten::baddbmm_", "aten::baddbmm")) == 4 * 4 + 1


def test_shape_buckets_match_one_optimizer_per_matrix():
    # Stepping same-shape matrices together, left- and right-projected ones alike, changes nothing:
    # each matrix ends where its own single-matrix optimizer takes it.
    torch.manual_seed(0)
    shapes = [(24, 10), (24, 10), (10, 24), (10, 24)]
    together = [torch.nn.Parameter(torch.randn(*s)) for s in shapes]
    alone = [torch.nn.Parameter(p.detach().clone()) for p in together]
    group = {"rank": 3, "update_proj_gap": 4, "natural_history": 3, "weight_decay": 0.1}
    opt = NaturalGaLoreAdamW([{"params": together, **group}], lr=0.01)
    singles = [NaturalGaLoreAdamW([{"params": [p], **group}], lr=0.01) for p in alone]
    for step, grads in enumerate(_grads(shapes, 9, seed=4)):
        if step == 5:
            grads[1] = torch.full_like(grads[1], float("nan"))  # skipped in the bucket and alone
        for p, q, g in zip(together, alone, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        for single in singles:
            single.step()
    assert [b.side for b in opt._buckets] == ["right", "left"]
    for p, q in zip(together, alone):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert opt.state[together[1]]["skipped"] == 1 == singles[1].state[alone[1]]["skipped"]


def test_parameter_without_gradient_in_a_bucket_is_left_alone():
    torch.manual_seed(0)
    a, b = torch.nn.Parameter(torch.randn(12, 8)), torch.nn.Parameter(torch.randn(12, 8))
    opt = NaturalGaLoreAdamW([{"params": [a, b], "rank": 2, "natural_history": 3}], lr=0.01)
    a.grad, b.grad = torch.randn_like(a), torch.randn_like(b)
    opt.step()
    before = b.detach().clone()
    moments = opt.state[b]["exp_avg"].clone()
    a.grad, b.grad = torch.randn_like(a), None
    opt.step()
    assert torch.equal(b, before) and torch.equal(opt.state[b]["exp_avg"], moments)
    assert opt.state[b]["skipped"] == 0


def test_bfloat16_moments_option():
    model = _make_model()
    opt, sched = _make_opt(model, state_dtype="bfloat16")
    gen = torch.Generator().manual_seed(0)
    _train(model, opt, sched, [(torch.randn(16, 12, generator=gen), torch.randn(16, 9, generator=gen))
                               for _ in range(5)])
    state = opt.state[model[0].weight]
    assert state["exp_avg"].dtype == torch.bfloat16 and state["exp_avg_sq"].dtype == torch.bfloat16
    assert all(torch.isfinite(p).all() for p in model.parameters())
