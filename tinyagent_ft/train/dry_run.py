"""`tinyagent train --dry-run`: what a run will do and the peak memory it needs, from shapes alone.

The model is built on the meta device from its config, so a config-only directory suffices and
nothing is allocated. Sequences are taken at the full prompt budget (the worst case).

Peak = weights + gradients + optimizer state + the larger of the activations and the optimizer
step's transients. The activations are the loss computation and the stored layer inputs, at the
start of the backward pass, while gradients are counted whole: an upper bound, which on the H100
(TinyLlama-1.1B, bf16, 4 x 1,024 tokens, checkpointing, rank 128) came 3 % above torch AdamW's
measured 10.31 GiB and 10 % above Natural GaLore's 7.81 GiB.
"""

from __future__ import annotations

import json
import os
import sys

import torch

from tinyagent_ft.models import SMOLLM2, TINY, packaged_smollm2
from tinyagent_ft.train.device_defaults import DeviceSettings
from tinyagent_ft.train.recipe import GALORE_OPTIMIZERS, TrainConfig

GIB = 1024**3
# Bytes per token and layer that a decoder layer keeps for its backward pass, per byte of element
# size: 10 hidden widths (norm inputs in float32, attention inputs and output, residuals), 4 MLP
# widths (gate, up, their activation and product) and 2 key-value widths. Counted with saved-tensor
# hooks on TinyLlama-1.1B's layer in bf16 with SDPA: 87,432 bytes a token against 87,040 from this.
LAYER_HIDDEN, LAYER_MLP, LAYER_KV = 10, 4, 2
# Bytes per logit during the loss's backward pass: the model's logits (element size) plus float32
# log-softmax output, its gradient and the gradient of the upcast (transformers computes the loss in float32).
# Training computes logits only where a label follows (collator.py); the estimate counts them at every
# position, the worst case of a sequence that is all completion.
LOGIT_FLOAT32_COPIES = 3


def model_config(config: TrainConfig):
    """The model's transformers config, without weights."""
    from transformers import AutoConfig

    if config.model == TINY:
        return config.tiny_shape.llama_config()
    if config.model == SMOLLM2:
        path = packaged_smollm2()
        return AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
    return AutoConfig.from_pretrained(config.model)


def meta_model(config: TrainConfig, model_config, weights_dtype: str):
    """The model as training holds it (LoRA adapters included), on the meta device."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(model_config, dtype=getattr(torch, weights_dtype))
    if config.optimizer == "lora":
        from tinyagent_ft.train.run import with_lora

        model = with_lora(model, config.lora_rank)
    return model


def optimizer_bytes(config: TrainConfig, model) -> tuple[int, int]:
    """(state bytes, step transient bytes). Natural GaLore's state is what ``optim.memory`` plans for
    each parameter; its step stacks at most ``BUCKET_ELEMENTS`` of gradient and as much of update.
    The Trainer's AdamW is torch's fused kernel: moments in the parameters' dtype, updated in place."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer not in GALORE_OPTIMIZERS:
        return sum(2 * p.numel() * p.element_size() for p in trainable), 0
    from tinyagent_ft.optim import NaturalGaLoreAdamW, galore_param_groups, planned_bytes
    from tinyagent_ft.optim.natural_galore import BUCKET_ELEMENTS

    optimizer = NaturalGaLoreAdamW(galore_param_groups(model, **config.galore_options()))
    pairs = [(tuple(p.shape), group) for group in optimizer.param_groups for p in group["params"]]
    by_shape: dict[tuple, int] = {}
    for shape, group in pairs:
        if group.get("rank") is not None and len(shape) == 2:
            by_shape[shape] = by_shape.get(shape, 0) + shape[0] * shape[1]
    bucket = min(BUCKET_ELEMENTS, max(by_shape.values(), default=0))
    return planned_bytes(pairs)["total"], 2 * bucket * trainable[0].element_size()


def activation_bytes(model_config, micro_batch: int, length: int, element: int, checkpointing: bool) -> int:
    """Activations at the start of the backward pass of a micro-batch of ``length``-token sequences."""
    c = model_config
    heads = c.num_attention_heads
    kv_width = getattr(c, "num_key_value_heads", None) or heads
    kv_width *= getattr(c, "head_dim", None) or c.hidden_size // heads
    mlp = getattr(c, "intermediate_size", None) or 4 * c.hidden_size
    tokens = micro_batch * length
    layer = element * (LAYER_HIDDEN * c.hidden_size + LAYER_MLP * mlp + LAYER_KV * kv_width) * tokens
    # Checkpointing keeps each layer's input and recomputes one layer at a time.
    stored = c.num_hidden_layers * tokens * c.hidden_size * element + layer if checkpointing else c.num_hidden_layers * layer
    logits = tokens * c.vocab_size * (element + 4 * LOGIT_FLOAT32_COPIES)
    return stored + logits


def device_memory(device: str) -> int | None:
    """The device's memory in bytes; None for a GPU this machine lacks."""
    if device == "cuda":
        return torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else None
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def estimate(config: TrainConfig, n_records: int) -> dict:
    """The dry run's facts: batch layout, steps and the memory estimate, for ``config.device``."""
    from tinyagent_ft.train.run import training_steps

    settings: DeviceSettings = config.device_settings()
    length = config.prompt_config().max_length
    model_cfg = model_config(config)
    model = meta_model(config, model_cfg, settings.weights_dtype)
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    gradients = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    state, transient = optimizer_bytes(config, model)
    activations = activation_bytes(model_cfg, settings.micro_batch, length, settings.compute_bytes,
                                   settings.gradient_checkpointing)
    peak = weights + gradients + state + max(activations, transient)
    memory = device_memory(settings.device)
    return {
        "model": config.model, "optimizer": config.optimizer, **settings.as_dict(),
        "steps": training_steps(config, n_records, settings.micro_batch, settings.accumulation, settings.processes),
        "train_records": n_records, "max_length": length, "tokens_per_step": config.batch_size * length,
        "parameters": sum(p.numel() for p in params),
        "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
        "weights_bytes": weights, "gradients_bytes": gradients, "optimizer_state_bytes": state,
        "optimizer_step_bytes": transient, "activations_bytes": activations, "peak_bytes": peak,
        "device_memory_bytes": memory, "fits": None if memory is None else peak <= memory,
    }


def describe(facts: dict) -> str:
    """The estimate as lines for a person."""
    gib = {k: facts[k] / GIB for k in ("weights_bytes", "gradients_bytes", "optimizer_state_bytes",
                                       "activations_bytes", "optimizer_step_bytes", "peak_bytes")}
    memory = "unknown (not on this machine)" if facts["device_memory_bytes"] is None else f"{facts['device_memory_bytes'] / GIB:.2f} GiB"
    return "\n".join([
        f"device {facts['device']}: weights {facts['weights_dtype']}, gradient checkpointing "
        f"{'on' if facts['gradient_checkpointing'] else 'off'}, bf16 autocast {'on' if facts['autocast_bf16'] else 'off'}",
        f"steps {facts['steps']} over {facts['train_records']} records; micro-batch {facts['micro_batch']} x accumulation "
        f"{facts['accumulation']} x processes {facts['processes']}; up to {facts['tokens_per_step']:,} tokens a step "
        f"({facts['max_length']} a sequence)",
        f"peak memory per process, estimated: {gib['peak_bytes']:.2f} GiB = weights {gib['weights_bytes']:.2f} + gradients "
        f"{gib['gradients_bytes']:.2f} + optimizer state {gib['optimizer_state_bytes']:.2f} + activations "
        f"{gib['activations_bytes']:.2f} (optimizer step transients {gib['optimizer_step_bytes']:.2f})",
        f"device memory: {memory}",
    ])


def run_dry_run(config: TrainConfig, as_json: bool = False) -> int:
    from tinyagent_ft.data.source import split_rows

    facts = estimate(config, len(split_rows(config.data, "train")))
    if facts["fits"] is False:
        print(f"tinyagent train: warning: the estimated peak of {facts['peak_bytes'] / GIB:.2f} GiB exceeds the "
              f"device's {facts['device_memory_bytes'] / GIB:.2f} GiB: lower --per-device-batch-size or --max-length, "
              "or turn on --gradient-checkpointing", file=sys.stderr)
    print(json.dumps(facts) if as_json else describe(facts))
    return 0
