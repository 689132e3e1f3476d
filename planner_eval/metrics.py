"""Partial credit for a prediction that is not an exact match.

Computed from whatever actions parsed, even in an invalid plan, so a near miss still earns
something. Two empty sides agree perfectly (1.0); one empty side earns 0.0.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from planner_eval.graph import dependency_edges
from planner_eval.plan import Action

Edge = tuple[str, str]


@dataclass(frozen=True)
class PartialCredit:
    tool_precision: float
    tool_recall: float
    tool_f1: float
    edge_f1: float  # edges labelled by the tool names of their endpoints
    length_error: int  # |number of predicted actions - number of gold actions|


def _precision_recall_f1(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> tuple[float, float, float]:
    gold_total, pred_total = len(gold), len(pred)
    if not gold_total and not pred_total:
        return 1.0, 1.0, 1.0
    overlap = _multiset_overlap(gold, pred)
    precision = overlap / pred_total if pred_total else 0.0
    recall = overlap / gold_total if gold_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if overlap else 0.0
    return precision, recall, f1


def _multiset_overlap(first: Sequence[Hashable], second: Sequence[Hashable]) -> int:
    """The size of the multiset intersection; by hand, since Counters cost more on a few items."""
    left: dict[Hashable, int] = {}
    for item in first:
        left[item] = left.get(item, 0) + 1
    overlap = 0
    for item in second:
        count = left.get(item, 0)
        if count:
            left[item] = count - 1
            overlap += 1
    return overlap


def labelled_edges(actions: list[Action], refs: Sequence[Sequence[int]] | None = None) -> list[tuple[str, str]]:
    """Dependency edges named by the tools at their ends, so they compare across numberings.
    `refs` as in `dependency_edges`."""
    tool = {a.id: a.tool for a in actions}
    return [(tool[src], tool[dst]) for src, dst in dependency_edges(actions, refs)]


def partial_credit(
    gold_tools: Sequence[str], pred_tools: Sequence[str], gold_edges: Sequence[Edge], pred_edges: Sequence[Edge]
) -> PartialCredit:
    """Tool-name precision/recall/F1 and edge F1 (as multisets), and the length error."""
    precision, recall, f1 = _precision_recall_f1(gold_tools, pred_tools)
    _, _, edge_f1 = _precision_recall_f1(gold_edges, pred_edges)
    return PartialCredit(precision, recall, f1, edge_f1, abs(len(gold_tools) - len(pred_tools)))
