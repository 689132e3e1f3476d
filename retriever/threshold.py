"""Choosing the sigmoid threshold on validation data.

A missing tool makes the plan impossible, while an extra one only costs prompt tokens, so the
threshold maximizes recall, subject to a floor on precision.
"""

from __future__ import annotations

import torch

from retriever.classifier import select

CANDIDATES = tuple(round(0.01 * i, 2) for i in range(1, 96))


def per_query_rates(chosen: torch.Tensor, gold: torch.Tensor) -> tuple[float, float]:
    """Mean recall and mean precision over queries (same definitions as metrics.tool_set_metrics)."""
    chosen, gold = chosen.float(), gold.float()
    hits = (chosen * gold).sum(1)
    gold_count, chosen_count = gold.sum(1), chosen.sum(1)
    recall = torch.where(gold_count > 0, hits / gold_count.clamp(min=1), torch.ones_like(hits))
    precision = torch.where(chosen_count > 0, hits / chosen_count.clamp(min=1), torch.zeros_like(hits))
    return recall.mean().item(), precision.mean().item()


def tune_threshold(probabilities: torch.Tensor, gold: torch.Tensor, min_precision: float = 0.8) -> dict[str, float]:
    """The threshold with the best recall among those meeting `min_precision` (the highest such on ties).

    When no threshold reaches the floor, the one with the best precision is taken instead.
    """
    best: tuple[tuple[float, float, float], dict[str, float]] | None = None
    for threshold in CANDIDATES:
        recall, precision = per_query_rates(select(probabilities, threshold), gold)
        meets = precision >= min_precision
        # Rank: meeting the floor, then recall (or precision when nothing meets it), then a higher threshold.
        rank = (float(meets), recall if meets else precision, threshold)
        if best is None or rank > best[0]:
            best = (rank, {"threshold": threshold, "recall": recall, "precision": precision})
    assert best is not None
    return best[1]
