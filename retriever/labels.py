"""Tool sets as multi-hot vectors over a catalog's tools, in catalog order (the built-in catalog's by default)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from planner_eval.catalog import default_catalog


def default_names() -> tuple[str, ...]:
    return tuple(default_catalog())


def check_tools(tools: Sequence[str], names: Sequence[str] | None = None) -> None:
    known = set(default_names() if names is None else names)
    unknown = [t for t in tools if t not in known]
    if unknown:
        raise ValueError(f"unknown tool name(s): {', '.join(unknown)}")


def encode(tool_sets: Sequence[Sequence[str]], names: Sequence[str] | None = None) -> torch.Tensor:
    """(len(tool_sets), len(names)) float tensor; 1.0 where the tool is in the set."""
    names = default_names() if names is None else tuple(names)
    index = {name: i for i, name in enumerate(names)}
    hot = torch.zeros(len(tool_sets), len(names))
    for row, tools in enumerate(tool_sets):
        check_tools(tools, names)
        hot[row, [index[t] for t in tools]] = 1.0
    return hot


def decode(hot: torch.Tensor, names: Sequence[str] | None = None) -> list[list[str]]:
    """Tool names (catalog order) for each row of a boolean or 0/1 matrix."""
    names = default_names() if names is None else tuple(names)
    return [[names[i] for i in row.nonzero().flatten().tolist()] for row in hot.bool()]
