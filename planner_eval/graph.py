"""The dependency graph of a plan: an edge N -> M when action M has an argument "$N".

`join()` is not a node. Edges to ids that are not actions of the plan are left out, so the
functions here also work on invalid plans (for partial credit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from planner_eval.plan import Action, references_by_action

if TYPE_CHECKING:
    import networkx as nx


def dependency_edges(actions: list[Action], refs: Sequence[Sequence[int]] | None = None) -> list[tuple[int, int]]:
    """Distinct (source id, target id) pairs, in plan order. `refs`, the `references` of each
    action, spares a caller that has them already another walk through the arguments."""
    ids = {a.id for a in actions}
    edges: dict[tuple[int, int], None] = {}
    for action, action_refs in zip(actions, references_by_action(actions) if refs is None else refs):
        for ref in action_refs:
            if ref in ids:
                edges[(ref, action.id)] = None
    return list(edges)


def to_digraph(actions: list[Action]) -> nx.DiGraph:
    """A networkx DiGraph with nodes keyed by action id carrying `tool` and `args` attributes."""
    import networkx as nx  # imported here: scoring does not need it and it costs start-up time

    graph = nx.DiGraph()
    for action in actions:
        graph.add_node(action.id, tool=action.tool, args=action.args)
    graph.add_edges_from(dependency_edges(actions))
    return graph
