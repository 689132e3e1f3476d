"""Batches padded on the right to their own longest example (or the next multiple of a length), with
pads masked out of the loss, and whether a model can compute its logits at the labelled positions only."""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from tinyagent_ft.train.dataset import IGNORE_INDEX


# Where batches are padded for oneDNN's per-shape bf16 kernels, the kept positions are rounded up to a
# multiple of this: 300 steps of the demo's recipe on an AMX Xeon peaked at 2,030 MiB with 64, 2,334-2,360
# with 16 and 1,929-1,951 with every logit.
KEPT_MULTIPLE = 64


@dataclass(frozen=True)
class CompletionCollator:
    """Right padding keeps each token's position the same as in an unpadded sequence (Llama derives
    positions from the cache, not the mask), so a padded batch trains exactly like its examples one by
    one. Columns other than input_ids and labels (the sampler's `length`) are dropped here."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None  # as transformers' collators take it: fewer distinct shapes
    # The loss reads a logit only where a label follows, and a completion is a small part of its
    # prompt: transformers' boolean `logits_to_keep` runs the LM head and the softmax over the
    # vocabulary at those positions only, with the matching `shift_labels` (see `slices_logits_by_mask`).
    label_logits_only: bool = False

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            longest = -(-longest // self.pad_to_multiple_of) * self.pad_to_multiple_of
        input_ids = torch.full((len(features), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), longest), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(features), longest), dtype=torch.long)
        for row, feature in enumerate(features):
            n = len(feature["input_ids"])
            input_ids[row, :n] = torch.as_tensor(feature["input_ids"])
            labels[row, :n] = torch.as_tensor(feature["labels"])
            attention_mask[row, :n] = 1
        batch = {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
        if self.label_logits_only:
            batch.update(labelled_positions(labels, KEPT_MULTIPLE if self.pad_to_multiple_of else None))
        return batch


def labelled_positions(labels: torch.Tensor, multiple: int | None = None) -> dict[str, torch.Tensor]:
    """`logits_to_keep`: the positions whose next token is a label; `shift_labels`: those labels, in the
    order the model flattens the kept positions (row by row).

    With ``multiple``, unlabelled positions are kept too (their label ignored) until the count is a
    multiple of it: the kept positions are the LM head's rows, and a count per batch would be a
    new matrix shape per batch, for which oneDNN builds and keeps a bf16 kernel (as for the rows'
    lengths that `pad_to_multiple_of` rounds)."""
    following = torch.full_like(labels, IGNORE_INDEX)
    following[:, :-1] = labels[:, 1:]
    keep = following != IGNORE_INDEX
    if multiple:
        missing = -int(keep.sum()) % multiple
        spare = (~keep).flatten().nonzero().squeeze(1)[:missing]
        keep.view(-1)[spare] = True
    return {"logits_to_keep": keep, "shift_labels": following[keep]}


def slices_logits_by_mask(model: torch.nn.Module) -> bool:
    """Whether ``model`` (or the model a PEFT wrapper holds) takes a boolean `logits_to_keep`:
    transformers' causal LMs select the positions with `slice_logits_to_keep`, which accepts one; a
    model with its own forward may not, and then computes every logit."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    code = getattr(inspect.unwrap(type(base).forward), "__code__", None)
    return code is not None and "slice_logits_to_keep" in code.co_names
