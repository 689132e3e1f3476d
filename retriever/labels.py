"""Tool sets as multi-hot vectors over the catalog's 16 tools, in catalog order."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from planner_eval.catalog import TOOL_NAMES

LABEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(TOOL_NAMES)}


def check_tools(tools: Sequence[str]) -> None:
    unknown = [t for t in tools if t not in LABEL_INDEX]
    if unknown:
        raise ValueError(f"unknown tool name(s): {', '.join(unknown)}")


def encode(tool_sets: Sequence[Sequence[str]]) -> torch.Tensor:
    """(len(tool_sets), 16) float tensor; 1.0 where the tool is in the set."""
    hot = torch.zeros(len(tool_sets), len(TOOL_NAMES))
    for row, tools in enumerate(tool_sets):
        check_tools(tools)
        hot[row, [LABEL_INDEX[t] for t in tools]] = 1.0
    return hot


def decode(hot: torch.Tensor) -> list[list[str]]:
    """Tool names (catalog order) for each row of a boolean or 0/1 matrix."""
    return [[TOOL_NAMES[i] for i in row.nonzero().flatten().tolist()] for row in hot.bool()]
