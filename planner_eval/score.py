"""Score one predicted plan against one gold plan."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import NamedTuple

from planner_eval.arguments import argument_problem, fill_defaults, has_defaults, has_numbers, widen_numbers
from planner_eval.catalog import TOOLS, Catalog, Tool
from planner_eval.match import check_args_mode, plans_match
from planner_eval.metrics import Edge, labelled_edges, partial_credit
from planner_eval.parse import LAYOUTS, LENIENT, ParsedPlan, shared_parse
from planner_eval.plan import Action, references_by_action
from planner_eval.validate import GOLD_INVALID, MISSING, plan_error


class Analysis(NamedTuple):  # a tuple: made for every plan scored, and quicker to make than a dataclass
    """A plan text parsed and validated once; shared through a cache, so never mutate its plan."""

    plan: ParsedPlan
    error: str | None
    detail: str | None
    tools: tuple[str, ...]  # tool of every parsed action, in plan order
    refs: Sequence[Sequence[int]]  # the references of every action, for the dependency edges
    shared: bool = False  # the actions are the parser's shared ones (see `shared_parse`)

    def edges(self) -> list[Edge]:
        """Labelled dependency edges, for partial credit: made only when a pair needs them."""
        return labelled_edges(self.plan.actions, self.refs)


class Analyser:
    """Parses and validates plans under one catalog and one argument-check setting.

    Ordinary-sized texts go through a cache, since gold plans and identical predictions recur
    (only those, so the cache's memory stays bounded).
    """

    def __init__(self, catalog: Catalog | None = None, check_args: bool = False, layout: str = LENIENT) -> None:
        self.catalog = TOOLS if catalog is None else catalog
        self.check_args = check_args
        self.layout = layout
        self._fill = has_defaults(self.catalog)
        self._widen = has_numbers(self.catalog)
        self._cached = lru_cache(maxsize=4096)(self._text)
        self._problems: dict[int, tuple[Action, str | None]] = {}

    def __call__(self, plan: str | ParsedPlan) -> Analysis:
        if isinstance(plan, ParsedPlan):
            return self._parsed(_copied(plan) if self._fill or self._widen else plan)
        return self._cached(plan) if len(plan) <= _CACHED_TEXT_CHARS else self._text(plan)

    def _text(self, text: str) -> Analysis:
        # Defaults and widening change the arguments: only then must they be the plan's own, and
        # their references be found again.
        changes = self._fill or self._widen
        plan, refs = shared_parse(text, self.layout, copy_args=changes)
        return self._parsed(plan, None if changes else refs, shared=not changes)

    def _parsed(self, plan: ParsedPlan, refs: Sequence[Sequence[int]] | None = None, shared: bool = False) -> Analysis:
        if self._fill:
            fill_defaults(plan.actions, self.catalog)
        if self._widen:
            widen_numbers(plan.actions, self.catalog)
        if refs is None:
            refs = references_by_action(plan.actions)  # once, for both the validity check and the edges
        error, detail = plan_error(plan, self.catalog, self.check_args, refs,
                                   self._remembered_problem if shared else argument_problem)
        return Analysis(plan, error, detail, tuple(a.tool for a in plan.actions), refs, shared)

    def _remembered_problem(self, action: Action, tool: Tool) -> str | None:
        """`argument_problem` of a shared action, worked out once: lines recur across plans."""
        found = self._problems.get(id(action))
        if found is None:
            if len(self._problems) >= _MAX_REMEMBERED_PROBLEMS:
                self._problems.clear()
            # Holding the action, so that its id is not reused while the entry lives.
            found = self._problems[id(action)] = (action, argument_problem(action, tool))
        return found[1]


def _copied(plan: ParsedPlan) -> ParsedPlan:
    """A copy whose actions can take defaults without touching the caller's plan."""
    actions = [Action(a.id, a.tool, copy.deepcopy(a.args), a.thought) for a in plan.actions]
    return ParsedPlan(actions, list(plan.problems), plan.has_join, plan.join_id)


_CACHED_TEXT_CHARS = 4_000
_MAX_REMEMBERED_PROBLEMS = 65_536
_ANALYSERS: dict[tuple[int, bool, str], Analyser] = {}
_MAX_ANALYSERS = 8


def analyser_for(catalog: Catalog | None, check_args: bool, layout: str = LENIENT) -> Analyser:
    """The shared analyser (and its cache) for a catalog and setting. Keyed by the catalog's
    identity and holding it, so the key cannot be reused while the entry lives."""
    key = (id(TOOLS if catalog is None else catalog), check_args, layout)
    found = _ANALYSERS.get(key)
    if found is None:
        if len(_ANALYSERS) >= _MAX_ANALYSERS:
            _ANALYSERS.clear()
        found = _ANALYSERS[key] = Analyser(catalog, check_args, layout)
    return found


def check_layout(layout: str) -> None:
    """Raise ValueError unless `layout` is one of LAYOUTS."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")


def checks_arguments(args_mode: str, catalog: Catalog | None, check_args: bool | None) -> bool:
    """Argument checks are on with a catalog (unless switched off) or on request, never when
    arguments are ignored."""
    wanted = catalog is not None if check_args is None else check_args
    return wanted and args_mode != "ignore"


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
        return dict(self.__dict__)  # the fields, in their order: made for every pair scored


def score_plan(
    gold_text: str | ParsedPlan,
    pred_text: str | ParsedPlan | None,
    args_mode: str = "normalized",
    catalog: Catalog | None = None,
    check_args: bool | None = None,
    layout: str = LENIENT,
) -> PlanScore:
    """Compare a predicted plan (None when the prediction is missing) with the gold plan.

    `catalog` (tool name -> Tool) replaces the built-in TinyAgent tools; `check_args` turns the
    `bad_arguments` check on or off, and by default is on exactly when a catalog is given. The
    plans may also be given already parsed, as `parse_tool_calls` returns them. `layout`
    ("lenient" or "llmcompiler") is how strictly plan text must be laid out (see `parse_plan`).
    """
    return plan_scorer(args_mode, catalog, check_args, layout)(gold_text, pred_text)


PairScorer = Callable[["str | ParsedPlan", "str | ParsedPlan | None"], PlanScore]


def plan_scorer(
    args_mode: str = "normalized", catalog: Catalog | None = None, check_args: bool | None = None, layout: str = LENIENT
) -> PairScorer:
    """`score_plan` with these settings, checked and looked up once: for scoring many pairs."""
    check_args_mode(args_mode)
    check_layout(layout)
    return partial(_score_pair, analyser_for(catalog, checks_arguments(args_mode, catalog, check_args), layout), args_mode)


def _score_pair(
    analyse_plan: Analyser, args_mode: str, gold_text: str | ParsedPlan, pred_text: str | ParsedPlan | None
) -> PlanScore:
    gold = analyse_plan(gold_text)
    if gold.error is not None:
        return PlanScore(False, False, GOLD_INVALID, f"gold plan: {gold.error}: {gold.detail}")
    if pred_text is None:
        return PlanScore(False, False, MISSING, "no prediction for this id", 0.0, 0.0, 0.0, 0.0, len(gold.plan.actions))
    if isinstance(pred_text, str) and pred_text == gold_text:
        # Equal texts are equal plans: a match in every mode with full credit. Common enough
        # (a good planner reproduces most gold plans verbatim) to be worth skipping the work.
        return PlanScore(True, True, None, None, 1.0, 1.0, 1.0, 1.0, 0)
    pred = analyse_plan(pred_text)
    success = pred.error is None and plans_match(
        gold.plan.actions, pred.plan.actions, args_mode, unchanging=gold.shared and pred.shared
    )
    if success:
        # A match pairs equal tools and maps edges onto edges: full credit, without counting it.
        return PlanScore(True, True, None, None, 1.0, 1.0, 1.0, 1.0, 0)
    credit = partial_credit(gold.tools, pred.tools, gold.edges(), pred.edges())
    return PlanScore(
        False,
        set(pred.tools) == set(gold.tools),
        pred.error,
        pred.detail,
        credit.tool_precision,
        credit.tool_recall,
        credit.tool_f1,
        credit.edge_f1,
        credit.length_error,
    )
