"""Where a predicted plan departs from the gold plan: the first difference a person should look at.

The matcher (`planner_eval.match`) only says whether two plans are isomorphic. To show a failure,
each gold action is paired with a predicted one: first with an action of the same tool, the one
agreeing on most arguments (references compared through the pairs made so far, gold actions taken
in plan order so that what they reference is already paired), then the actions left on both sides
pair up in plan order (a wrong tool). The first difference is then, in this order: the
prediction's own validity error, a gold action with no partner, a wrong tool, a wrong argument,
an extra action, a missing edge, an extra edge. The pairing is a heuristic for display; scoring
never uses it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from planner_eval.catalog import TOOLS, Catalog
from planner_eval.graph import dependency_edges
from planner_eval.match import action_key
from planner_eval.plan import Action, format_literal, references
from planner_eval.validate import BAD_ARGUMENTS, BAD_REFERENCE, DUPLICATE_ID, UNKNOWN_TOOL

_UNPAIRED = -2  # a reference to an action with no gold partner; gold ids are never negative
_ACTION_IN_DETAIL = re.compile(r"action (\d+):")
_ID_IN_DETAIL = re.compile(r"id (\d+) follows")
VALIDITY_ERRORS = (UNKNOWN_TOOL, BAD_ARGUMENTS, DUPLICATE_ID, BAD_REFERENCE)


@dataclass(frozen=True)
class Marks:
    """What a drawing of one plan highlights: actions (by id), edges (source id, target id), and
    one argument of one action (action id, argument index)."""

    nodes: frozenset[int] = frozenset()
    edges: frozenset[tuple[int, int]] = frozenset()
    arg: tuple[int, int] | None = None


NO_MARKS = Marks()


@dataclass(frozen=True)
class Difference:
    kind: str  # invalid, missing_action, wrong_tool, wrong_argument, extra_action, missing_edge, extra_edge
    message: str
    gold: Marks = NO_MARKS
    pred: Marks = NO_MARKS


def literal_text(value: Any) -> str:
    """An argument as a plan writes it; never raises."""
    try:
        return format_literal(value)
    except TypeError:
        return repr(value)


def clipped(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def argument_name(tool: str, index: int, catalog: Catalog | None = None) -> str:
    """The catalog's name for a tool's index-th argument, else "argument N"."""
    known = (TOOLS if catalog is None else catalog).get(tool)
    if known is not None and index < len(known.args):
        return known.args[index].name
    return f"argument {index + 1}"


def _identity(ref: int) -> int:
    return ref


def _agreement(gold_key: Hashable, pred_key: Hashable) -> int:
    """How many argument slots agree (under `ignore`, how many reference targets)."""
    gold_args, pred_args = gold_key[1], pred_key[1]
    return sum(1 for g, p in zip(gold_args, pred_args) if g == p) + (len(gold_args) == len(pred_args))


def align(gold: Sequence[Action], pred: Sequence[Action], mode: str = "normalized") -> dict[int, int]:
    """Gold position -> predicted position for every action that gets a partner."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    pred_to_gold: dict[int, int] = {}

    def mapped(ref: int) -> int:
        return pred_to_gold.get(ref, _UNPAIRED)

    for g, gold_action in enumerate(gold):
        gold_key = action_key(gold_action, mode, _identity)
        best, best_score = None, -1
        for p, pred_action in enumerate(pred):
            if p in taken or pred_action.tool != gold_action.tool:
                continue
            score = _agreement(gold_key, action_key(pred_action, mode, mapped))
            if score > best_score:
                best, best_score = p, score
        if best is not None:
            pairs[g] = best
            taken.add(best)
            pred_to_gold.setdefault(pred[best].id, gold_action.id)
    left = [p for p in range(len(pred)) if p not in taken]
    for g, p in zip((g for g in range(len(gold)) if g not in pairs), left):
        pairs[g] = p
    return pairs


def tool_pairs(gold: Sequence[Action], pred: Sequence[Action], pairs: dict[int, int]) -> list[tuple[str | None, str | None]]:
    """(gold tool, predicted tool) per paired action, (tool, None) per unpaired gold action and
    (None, tool) per extra predicted one: the rows of a tool confusion table."""
    found: list[tuple[str | None, str | None]] = [
        (action.tool, pred[pairs[g]].tool if g in pairs else None) for g, action in enumerate(gold)
    ]
    paired = set(pairs.values())
    found += [(None, action.tool) for p, action in enumerate(pred) if p not in paired]
    return found


def first_difference(
    gold: Sequence[Action],
    pred: Sequence[Action],
    mode: str = "normalized",
    catalog: Catalog | None = None,
    pred_error: str | None = None,
    pred_detail: str | None = None,
    pairs: dict[int, int] | None = None,
) -> Difference | None:
    """The first difference (see the module doc), or None when the pairing finds none."""
    if pred_error in VALIDITY_ERRORS:
        found = (_ID_IN_DETAIL if pred_error == DUPLICATE_ID else _ACTION_IN_DETAIL).search(pred_detail or "")
        nodes = frozenset({int(found.group(1))}) if found else frozenset()
        return Difference("invalid", f"{pred_error}: {pred_detail}", NO_MARKS, Marks(nodes=nodes))
    pairs = align(gold, pred, mode) if pairs is None else pairs
    pred_to_gold = {}
    for g, p in pairs.items():
        pred_to_gold.setdefault(pred[p].id, gold[g].id)
    gold_to_pred = {gold[g].id: pred[p].id for g, p in pairs.items()}
    for g, gold_action in enumerate(gold):
        found = _pair_difference(gold_action, pred[pairs[g]] if g in pairs else None, mode, catalog, pred_to_gold, gold_to_pred)
        if found is not None:
            return found
    paired = set(pairs.values())
    for p, action in enumerate(pred):
        if p not in paired:
            return Difference("extra_action", f"action {action.id} ({action.tool}) is not in the gold plan",
                              NO_MARKS, Marks(nodes=frozenset({action.id})))
    return _edge_difference(gold, pred, gold_to_pred)


def _pair_difference(
    gold: Action, pred: Action | None, mode: str, catalog: Catalog | None,
    pred_to_gold: dict[int, int], gold_to_pred: dict[int, int],
) -> Difference | None:
    if pred is None:
        return Difference("missing_action", f"gold action {gold.id} ({gold.tool}) is missing from the prediction",
                          Marks(nodes=frozenset({gold.id})))
    both = Marks(nodes=frozenset({gold.id})), Marks(nodes=frozenset({pred.id}))
    if pred.tool != gold.tool:
        return Difference("wrong_tool", f"action {pred.id} calls {pred.tool} where gold action {gold.id} calls {gold.tool}", *both)
    if mode == "ignore":
        return None
    gold_args = action_key(gold, mode, _identity)[1]
    pred_args = action_key(pred, mode, lambda ref: pred_to_gold.get(ref, _UNPAIRED))[1]
    index = next((k for k in range(max(len(gold_args), len(pred_args)))
                  if k >= len(gold_args) or k >= len(pred_args) or gold_args[k] != pred_args[k]), None)
    if index is None:
        return None
    name = argument_name(gold.tool, index, catalog)
    message = (f"action {pred.id} ({pred.tool}): {name} is {_value(pred, index)}, "
               f"gold action {gold.id} has {_value(gold, index)}")
    # Where the argument is a reference, the edges it gains or loses are marked too.
    gold_sources, pred_sources = set(references(gold.args)), set(references(pred.args))
    return Difference(
        "wrong_argument", message,
        Marks(frozenset({gold.id}), frozenset((s, gold.id) for s in gold_sources if gold_to_pred.get(s) not in pred_sources), (gold.id, index)),
        Marks(frozenset({pred.id}), frozenset((s, pred.id) for s in pred_sources if pred_to_gold.get(s) not in gold_sources), (pred.id, index)),
    )


def _value(action: Action, index: int) -> str:
    return clipped(literal_text(action.args[index]), 60) if index < len(action.args) else "not given"


def _edge_difference(gold: Sequence[Action], pred: Sequence[Action], gold_to_pred: dict[int, int]) -> Difference | None:
    pred_edges = set(dependency_edges(list(pred)))
    images = set()
    for source, target in dependency_edges(list(gold)):
        image = (gold_to_pred.get(source), gold_to_pred.get(target))
        images.add(image)
        if image not in pred_edges:
            return Difference("missing_edge", f"the prediction lacks the edge ${source} -> action {target} of the gold plan",
                              Marks(edges=frozenset({(source, target)})))
    for source, target in sorted(pred_edges - images):
        return Difference("extra_edge", f"action {target} uses ${source}, which the gold plan does not",
                          NO_MARKS, Marks(edges=frozenset({(source, target)})))
    return None
