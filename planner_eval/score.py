"""Score one predicted plan against one gold plan."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

from planner_eval.match import check_args_mode, plans_match
from planner_eval.metrics import Edge, labelled_edges, partial_credit
from planner_eval.parse import ParsedPlan, parse_plan
from planner_eval.validate import GOLD_INVALID, MISSING, plan_error


@dataclass(frozen=True)
class Analysis:
    """A plan text parsed and validated once; shared through a cache, so never mutate it."""

    plan: ParsedPlan
    error: str | None
    detail: str | None
    tools: tuple[str, ...]  # tool of every parsed action, in plan order
    edges: tuple[Edge, ...]  # labelled dependency edges, for partial credit


def analyse(text: str) -> Analysis:
    """Parse and validate plan text; ordinary-sized texts go through a cache, since gold plans
    and identical predictions recur (only those, so the cache's memory stays bounded)."""
    return _analyse_cached(text) if len(text) <= _CACHED_TEXT_CHARS else _analyse(text)


def _analyse(text: str) -> Analysis:
    plan = parse_plan(text)
    error, detail = plan_error(plan)
    tools = tuple(a.tool for a in plan.actions)
    return Analysis(plan, error, detail, tools, tuple(labelled_edges(plan.actions)))


_CACHED_TEXT_CHARS = 4_000
_analyse_cached = lru_cache(maxsize=4096)(_analyse)


@dataclass(frozen=True)
class PlanScore:
    success: bool
    tool_set_match: bool
    error: str | None  # None for a valid prediction, else the first category that applies
    detail: str | None = None  # where and why, for the first error
    # Partial credit; None when the gold plan is invalid and there is nothing to compare with.
    tool_precision: float | None = None
    tool_recall: float | None = None
    tool_f1: float | None = None
    edge_f1: float | None = None
    length_error: int | None = None

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(PlanScore))


def score_plan(gold_text: str, pred_text: str | None, args_mode: str = "normalized") -> PlanScore:
    """Compare a predicted plan (None when the prediction is missing) with the gold plan."""
    check_args_mode(args_mode)
    gold = analyse(gold_text)
    if gold.error is not None:
        return PlanScore(False, False, GOLD_INVALID, f"gold plan: {gold.error}: {gold.detail}")
    if pred_text is None:
        return PlanScore(False, False, MISSING, "no prediction for this id", 0.0, 0.0, 0.0, 0.0, len(gold.plan.actions))
    if pred_text == gold_text:
        # Equal texts are equal plans: a match in every mode with full credit. Common enough
        # (a good planner reproduces most gold plans verbatim) to be worth skipping the work.
        return PlanScore(True, True, None, None, 1.0, 1.0, 1.0, 1.0, 0)
    pred = analyse(pred_text)
    success = pred.error is None and plans_match(gold.plan.actions, pred.plan.actions, args_mode)
    credit = partial_credit(gold.tools, pred.tools, gold.edges, pred.edges)
    return PlanScore(
        success,
        set(pred.tools) == set(gold.tools),
        pred.error,
        pred.detail,
        credit.tool_precision,
        credit.tool_recall,
        credit.tool_f1,
        credit.edge_f1,
        credit.length_error,
    )
