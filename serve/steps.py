"""Plan text -> the API's steps: `{"id", "tool", "args", "depends_on"}` with args keyed by the
catalog's argument names (the dataset's `tool_args`), for whole plans and line by line as a plan
streams in. Plans are only parsed (planner_eval reads literals without evaluating anything)."""

from __future__ import annotations

from typing import Any

from planner_eval.catalog import Catalog, default_catalog
from planner_eval.parse import parse_plan
from planner_eval.plan import END_OF_PLAN, Action, references
from planner_eval.validate import plan_error


def step(action: Action, catalog: Catalog | None = None) -> dict[str, Any]:
    tool = (default_catalog() if catalog is None else catalog)[action.tool]
    return {
        "id": action.id,
        "tool": action.tool,
        "args": dict(zip(tool.arg_names, action.args)),
        "depends_on": sorted(set(references(action.args))),
    }


def plan_steps(actions: list[Action], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    """The steps of the actions over ``catalog``'s tools (the built-in catalog by default)."""
    catalog = default_catalog() if catalog is None else catalog
    # Constrained decoding only writes catalog tools; the filter keeps a plan cut off mid-way by
    # max_new_tokens (or an unconstrained model) from raising here.
    return [step(a, catalog) for a in actions if a.tool in catalog]


def analyse_plan(text: str, catalog: Catalog | None = None) -> tuple[list[Action], bool]:
    """(parsed actions, valid): valid means the plan parses into a DAG over ``catalog``'s tools."""
    parsed = parse_plan(text, catalog)
    return parsed.actions, plan_error(parsed, catalog)[0] is None


class StepStream:
    """Turns streamed plan text into steps, each as soon as its line is complete."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog
        self._pending = ""
        self._joined = False  # the parser ignores what follows join(), and so does the stream

    def feed(self, text: str) -> list[dict[str, Any]]:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        return [s for line in lines for s in self._line_steps(line)]

    def close(self) -> list[dict[str, Any]]:
        """Steps of the last line, which the end of generation completes."""
        line, self._pending = self._pending, ""
        return self._line_steps(line)

    def _line_steps(self, line: str) -> list[dict[str, Any]]:
        line = line.split(END_OF_PLAN, 1)[0]
        if self._joined or not line.strip():
            return []
        parsed = parse_plan(line, self.catalog)
        self._joined = parsed.has_join
        return plan_steps(parsed.actions, self.catalog)
