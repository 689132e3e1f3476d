"""Is a parsed plan a well-formed DAG over known tools? One error category per plan.

Categories are checked in the contract's precedence (`missing`, `parse`, `unknown_tool`,
`bad_arguments`, `duplicate_id`, `bad_reference`) so that every plan gets exactly one, the first
that applies. `bad_arguments` is only looked for when the caller asks for argument checks, so
reports made without them stay comparable with older ones.
A plan with any line the parser could not read in full (a malformed action, a text or plan over
the size bounds) is a `parse` failure: dropping the line and scoring the rest could turn a
broken plan into a success. The detail names which of the two it was.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from planner_eval.arguments import argument_problem
from planner_eval.catalog import TOOLS, Catalog, Tool
from planner_eval.parse import MALFORMED, TOO_LARGE, ParsedPlan
from planner_eval.plan import Action, references_by_action

MISSING = "missing"
PARSE = "parse"
UNKNOWN_TOOL = "unknown_tool"
BAD_ARGUMENTS = "bad_arguments"
DUPLICATE_ID = "duplicate_id"
BAD_REFERENCE = "bad_reference"
GOLD_INVALID = "gold_invalid"

# Precedence order of prediction errors (gold_invalid is about the reference, not the prediction).
PREDICTION_ERRORS: tuple[str, ...] = (
    MISSING,
    PARSE,
    UNKNOWN_TOOL,
    BAD_ARGUMENTS,
    DUPLICATE_ID,
    BAD_REFERENCE,
)
ERROR_CATEGORIES: tuple[str, ...] = PREDICTION_ERRORS + (GOLD_INVALID,)


def plan_error(
    plan: ParsedPlan,
    catalog: Catalog | None = None,
    check_args: bool = False,
    refs: Sequence[Sequence[int]] | None = None,
    check: Callable[[Action, Tool], str | None] = argument_problem,
) -> tuple[str | None, str | None]:
    """(category, human-readable detail) of the first problem that applies, or (None, None).

    `catalog` defaults to the built-in TinyAgent tools; `check_args` adds the `bad_arguments` check.
    `refs`, the `references` of each action, spares a caller that has them already another walk
    through the arguments; `check`, a stand-in for `argument_problem` that gives the same answers
    (say, remembered ones).
    """
    tools = TOOLS if catalog is None else catalog
    if plan.empty:
        return PARSE, "no action and no join() found"
    if refs is None:
        refs = references_by_action(plan.actions)
    if not plan.problems and _valid_at_a_glance(plan, tools, check if check_args else None, refs):
        return None, None
    for kind in (TOO_LARGE, MALFORMED):
        for problem in plan.problems:
            if problem.kind == kind:
                return PARSE, f"{kind}: line {problem.line}: {problem.message}"
    for action in plan.actions:
        if action.tool not in tools:
            return UNKNOWN_TOOL, f"action {action.id}: unknown tool {action.tool!r}"
    if check_args:
        for action in plan.actions:
            problem = check(action, tools[action.tool])
            if problem is not None:
                return BAD_ARGUMENTS, f"action {action.id}: {problem}"
    ids = [a.id for a in plan.actions] + ([plan.join_id] if plan.join_id is not None else [])
    for before, after in zip(ids, ids[1:]):
        if after <= before:
            return DUPLICATE_ID, f"id {after} follows id {before}; ids must increase"
    earlier: set[int] = set()
    for action, action_refs in zip(plan.actions, refs):
        for ref in action_refs:
            if ref not in earlier:
                return BAD_REFERENCE, f"action {action.id}: ${ref} is not an earlier action"
        earlier.add(action.id)
    return None, None


def _valid_at_a_glance(plan: ParsedPlan, tools: Catalog, check: Callable[[Action, Tool], str | None] | None,
                       refs: Sequence[Sequence[int]]) -> bool:
    """Whether no check below finds a problem, in one pass over the actions: most plans scored are
    valid. Any problem sends the plan through the checks in their order, which name the first."""
    earlier: set[int] = set()
    previous = -1  # ids are never negative
    for action, action_refs in zip(plan.actions, refs):
        tool = tools.get(action.tool)
        if tool is None or action.id <= previous or (check is not None and check(action, tool) is not None):
            return False
        for ref in action_refs:
            if ref not in earlier:
                return False
        earlier.add(action.id)
        previous = action.id
    return plan.join_id is None or plan.join_id > previous
