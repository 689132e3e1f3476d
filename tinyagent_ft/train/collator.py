"""Batches padded on the right to their own longest example (or the next multiple of a length), with
pads masked out of the loss."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tinyagent_ft.train.dataset import IGNORE_INDEX


@dataclass(frozen=True)
class CompletionCollator:
    """Right padding keeps each token's position the same as in an unpadded sequence (Llama derives
    positions from the cache, not the mask), so a padded batch trains exactly like its examples one by
    one. Columns other than input_ids and labels (the sampler's `length`) are dropped here."""

    pad_token_id: int
    pad_to_multiple_of: int | None = None  # as transformers' collators take it: fewer distinct shapes

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
        return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
