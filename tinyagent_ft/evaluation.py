"""`evaluate(planner, data)`: what `tinyagent eval` does, from a script, with the report in memory."""

from __future__ import annotations

from typing import Any

from planner_eval.catalog import default_catalog
from planner_eval.report import score_plans
from tinyagent_ft.data.source import split_rows


def evaluate(planner, data: Any, split: str = "test", limit: int | None = None, *, constrain: bool = True,
             args_mode: str = "normalized", batch_size: int = 16, max_new_tokens: int | None = None,
             progress: bool = False) -> dict:
    """Plan ``split`` of ``data`` with ``planner`` and score the plans against the gold ones.

    ``data`` is a data directory (str or Path), a DatasetDict or a Dataset (the split itself), over the
    planner's catalog.
    Returns planner_eval's report, {"summary": {...}, "results": [...]}, its summary extended with
    a "generation" entry as `tinyagent eval` writes it.
    """
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    catalog = planner.catalog
    rows = split_rows(data, split, catalog)
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    results, stats = planner.plan_with_stats(list(rows["query"]), constrain=constrain, batch_size=batch_size,
                                             max_new_tokens=max_new_tokens, progress=progress)
    # Plans over another catalog than the built-in one are scored against it, argument types included.
    given = None if catalog is default_catalog() else catalog
    report = score_plans(dict(zip(rows["id"], rows["plan"])), dict(zip(rows["id"], (r.plan for r in results))),
                         args_mode=args_mode, catalog=given)
    report["summary"]["generation"] = stats.as_dict()
    return report
