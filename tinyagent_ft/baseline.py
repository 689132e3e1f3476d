"""A planner with no language model: answer each query with the plan of its nearest retrieved
training example. It is the floor a fine-tuned planner has to clear, scored by the same evaluator."""

from __future__ import annotations

from collections.abc import Sequence


def nearest_example_plans(retriever, queries: Sequence[str]) -> list[str]:
    """The plan of the top retrieved example per query ("" when the index has nothing to offer)."""
    hits = retriever.retrieve(list(queries), k=1)
    return [found[0].plan if found else "" for found in hits]
