"""Tool-selection quality, averaged per query (the `retriever eval` report)."""

from __future__ import annotations

from collections.abc import Sequence


def tool_set_metrics(predicted: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> dict[str, float | int]:
    """Recall, precision and exact-set accuracy, each averaged over queries.

    An empty prediction has precision 0 (it selected nothing useful); an empty gold set has recall 1.
    """
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} gold tool sets")
    n = len(gold)
    recall = precision = exact = selected = 0.0
    for pred, want in zip(predicted, gold):
        pred_set, gold_set = set(pred), set(want)
        hits = len(pred_set & gold_set)
        recall += hits / len(gold_set) if gold_set else 1.0
        precision += hits / len(pred_set) if pred_set else 0.0
        exact += pred_set == gold_set
        selected += len(pred_set)
    denominator = max(n, 1)
    return {
        "tool_recall": recall / denominator,
        "tool_precision": precision / denominator,
        "exact_set_accuracy": exact / denominator,
        "mean_tools_selected": selected / denominator,
        "n": n,
    }
