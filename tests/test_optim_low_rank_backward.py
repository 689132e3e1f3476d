"""Weight gradients computed in GaLore's subspace during backward (`low_rank_backward`)."""

import copy
import math
from contextlib import nullcontext

import pytest
import torch
from torch import nn

from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups
from tinyagent_ft.optim.low_rank_backward import clip_grad_norm_with, low_rank_backward, projected_linears
from tinyagent_ft.train.device_defaults import low_rank_backward_default

GAP = 3


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    # q/k/v/o square, gate/up tall (projected on the right), down wide (on the left).
    config = LlamaConfig(vocab_size=61, hidden_size=32, intermediate_size=80, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    return LlamaForCausalLM(config)


def batches(steps: int, micro: int = 2) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [[torch.randint(0, 61, (2, 12), generator=generator) for _ in range(micro)] for _ in range(steps)]


def train(model, data, low_rank: bool, natural_history: int = 4):
    """Steps with two accumulated micro-batches each; also records, per step, whether the first
    projected weight got a full-size gradient."""
    # The full SVD: the Gram's eigenvectors (the CPU default) are more sensitive to rounding where two
    # singular values at the rank's edge nearly tie, and the two paths' gradients differ by rounding.
    optimizer = NaturalGaLoreAdamW(galore_param_groups(model, rank=8, update_proj_gap=GAP, svd_method="full",
                                                       natural_history=natural_history), lr=1e-2)
    full_gradient = []
    with low_rank_backward(model, optimizer) if low_rank else nullcontext():
        for micro_batches in data:
            for ids in micro_batches:
                (model(input_ids=ids, labels=ids).loss / len(micro_batches)).backward()
            full_gradient.append(model.model.layers[0].mlp.down_proj.weight.grad is not None)
            optimizer.step()
            optimizer.zero_grad()
    return full_gradient


@pytest.mark.parametrize(("natural_history", "checkpointing"), [(4, False), (0, False), (4, True)])
def test_projected_weight_gradients_train_as_full_ones(natural_history, checkpointing):
    reference, model = tiny_llama(), tiny_llama()
    if checkpointing:  # the layers' forward runs again inside backward
        for each in (reference, model):
            each.gradient_checkpointing_enable()
            each.train()
    data = batches(8)
    train(reference, data, low_rank=False, natural_history=natural_history)
    full_gradient = train(model, data, low_rank=True, natural_history=natural_history)
    # Refreshing steps (every GAP-th, the first included) need the full gradient; the rest never form it.
    assert full_gradient == [step % GAP == 0 for step in range(8)]
    for (name, a), b in zip(reference.named_parameters(), model.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5, msg=name)


def test_only_projected_linear_layers_are_patched_and_only_within_the_block():
    model = tiny_llama()
    optimizer = NaturalGaLoreAdamW(galore_param_groups(model, rank=8), lr=1e-2)
    layers = projected_linears(model, optimizer)
    assert len(layers) == 2 * 7 and model.lm_head not in layers
    with low_rank_backward(model, optimizer) as patched:
        assert patched == 14 and all("forward" in vars(layer) for layer in layers)
    assert not any("forward" in vars(layer) for layer in layers)


def test_bias_and_input_gradients_are_those_of_a_linear_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 20), nn.Tanh(), nn.Linear(20, 6))
    reference = copy.deepcopy(model)
    optimizer = NaturalGaLoreAdamW([{"params": [model[0].weight, model[2].weight], "rank": 4, "update_proj_gap": 5},
                                    {"params": [model[0].bias, model[2].bias]}], lr=1e-2)
    x = torch.randn(7, 12)
    for _ in range(2):  # the first step refreshes; the second takes projected gradients
        inputs = x.clone().requires_grad_()
        with low_rank_backward(model, optimizer):
            model(inputs).square().sum().backward()
        reference_inputs = x.clone().requires_grad_()
        reference(reference_inputs).square().sum().backward()
        torch.testing.assert_close(inputs.grad, reference_inputs.grad)
        for layer, reference_layer in zip((model[0], model[2]), (reference[0], reference[2])):
            torch.testing.assert_close(layer.bias.grad, reference_layer.bias.grad)
        held = optimizer.low_rank_gradients()
        optimizer.step()
        optimizer.zero_grad()
        reference.load_state_dict(model.state_dict())
        reference.zero_grad()
    assert len(held) == 2 and model[0].weight.grad is None


def test_clipping_counts_and_scales_the_projected_gradients():
    model = tiny_llama()
    optimizer = NaturalGaLoreAdamW(galore_param_groups(model, rank=8, update_proj_gap=GAP), lr=1e-2)
    data = batches(2, micro=1)
    with low_rank_backward(model, optimizer):
        for step, (ids,) in enumerate(data):
            model(input_ids=ids, labels=ids).loss.backward()
            if step == 0:
                optimizer.step()
                optimizer.zero_grad()
    held = optimizer.low_rank_gradients()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    expected = math.sqrt(sum(float(t.square().sum()) for t in grads + held))
    norm = clip_grad_norm_with(model.parameters(), held, max_norm=expected / 4)
    assert float(norm) == pytest.approx(expected, rel=1e-5)
    after = math.sqrt(sum(float(t.square().sum()) for t in grads + held))
    assert after == pytest.approx(expected / 4, rel=1e-4)


def test_zero_grad_drops_projected_gradients():
    model = tiny_llama()
    optimizer = NaturalGaLoreAdamW(galore_param_groups(model, rank=8, update_proj_gap=GAP), lr=1e-2)
    ids = batches(1, micro=1)[0][0]
    with low_rank_backward(model, optimizer):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        model(input_ids=ids, labels=ids).loss.backward()
        assert optimizer.low_rank_gradients()
        optimizer.zero_grad()
    assert optimizer.low_rank_gradients() == []


def test_default_is_a_fixed_rule_by_device_and_process_count():
    assert low_rank_backward_default(True, "cpu", 1, None)
    assert not low_rank_backward_default(True, "cuda", 1, None)
    assert not low_rank_backward_default(True, "cpu", 2, None)
    assert not low_rank_backward_default(False, "cpu", 1, None)
    assert low_rank_backward_default(True, "cuda", 1, True)
    with pytest.raises(ValueError, match="GaLore optimizer"):
        low_rank_backward_default(False, "cpu", 1, True)
    with pytest.raises(ValueError, match="one process"):
        low_rank_backward_default(True, "cpu", 2, True)
