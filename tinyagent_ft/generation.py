"""Plan generation shared by evaluation, per-epoch validation and serving: batched greedy decoding
with left padding and the KV cache, stopping at `<END_OF_PLAN>`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from planner_eval.plan import END_OF_PLAN


def cut_at_end_marker(text: str) -> str:
    """The plan up to and including `<END_OF_PLAN>` (all of ``text`` when the marker is missing)."""
    end = text.find(END_OF_PLAN)
    return text if end < 0 else text[: end + len(END_OF_PLAN)]


def _length_order(tokenizer, prompts: Sequence[str]) -> list[int]:
    # Similar lengths in one batch waste less on padding; the answer keeps the callers' order.
    lengths = [len(ids) for ids in tokenizer(list(prompts), add_special_tokens=False)["input_ids"]]
    return sorted(range(len(prompts)), key=lambda i: lengths[i])


@torch.inference_mode()
def generate_plans(
    model,
    tokenizer,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 256,
    batch_size: int = 16,
    progress: bool = False,
) -> list[str]:
    """Greedy plan text for each prompt, in the prompts' order."""
    plans: list[str] = [""] * len(prompts)
    order = _length_order(tokenizer, prompts)
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation appends on the right, so pads go left
    was_training = model.training
    model.eval()
    try:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in tqdm(batches, desc="generate", unit="batch", disable=not progress):
            texts = _generate_batch(model, tokenizer, [prompts[i] for i in batch], max_new_tokens)
            for i, text in zip(batch, texts):
                plans[i] = cut_at_end_marker(text).strip()
    finally:
        tokenizer.padding_side = padding_side
        model.train(was_training)
    return plans


def _generate_batch(model, tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    inputs = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    output = model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        stop_strings=[END_OF_PLAN],
        tokenizer=tokenizer,
    )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    return tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
