"""Score a file of predictions against a file of gold plans: the evaluator report.

Both files are JSON Lines of {"id": ..., "plan": "..."}, where a prediction may carry OpenAI-style
"tool_calls" instead of "plan" (see `planner_eval.tool_calls`); either may also be a
TinyAgent-format JSON file (see `planner_eval.tinyagent_format`). A line that is not such an
object is reported through `warn` with its line number and skipped; so is a repeated id (the
first wins).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from planner_eval.catalog import Catalog
from planner_eval.match import check_args_mode
from planner_eval.parallel import chunked_map
from planner_eval.parse import ParsedPlan
from planner_eval.score import checks_arguments, plan_scorer
from planner_eval.tinyagent_format import load_tinyagent_json, tinyagent_plans
from planner_eval.tool_calls import parse_tool_calls
from planner_eval.validate import ERROR_CATEGORIES

Warn = Callable[[str], None]

_CREDIT_FIELDS = ("tool_precision", "tool_recall", "tool_f1", "edge_f1", "length_error")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def read_plans(
    path: str | Path, warn: Warn = _stderr, catalog: Catalog | None = None, catalogs: Mapping[str, Catalog] | None = None
) -> tuple[dict[str, str | ParsedPlan], int]:
    """{id: plan text, or the parsed tool calls} in file order, and how many non-blank lines (or
    TinyAgent records) were skipped. `catalog` orders tool-call arguments by name; `catalogs`,
    by id, replaces it for the ids it holds (each BFCL entry has its own)."""
    tinyagent = load_tinyagent_json(path)
    if tinyagent is not None:
        return tinyagent_plans(tinyagent, warn, str(path), catalog)
    plans: dict[str, str | ParsedPlan] = {}
    first_line: dict[str, int] = {}
    skipped = 0
    # errors="replace": a stray invalid byte spoils one line, not the whole file.
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record_id, plan, reason = _read_record(line, catalog, catalogs)
            if reason is None and record_id in plans:
                reason = f"duplicate id {record_id!r} (first on line {first_line[record_id]})"
            if reason is not None:
                warn(f"{path}:{number}: {reason}; line skipped")
                skipped += 1
                continue
            plans[record_id] = plan
            first_line[record_id] = number
    return plans, skipped


def _read_record(
    line: str, catalog: Catalog | None, catalogs: Mapping[str, Catalog] | None = None
) -> tuple[str, str | ParsedPlan, str | None]:
    """(id, plan, None), or ("", "", reason) when the line is not a usable record."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return "", "", f"not valid JSON: {getattr(exc, 'msg', exc.__class__.__name__)}"
    if not isinstance(record, dict):
        return "", "", "not a JSON object"
    record_id, plan = record.get("id"), record.get("plan")
    # Integer ids are accepted as their decimal text; bool is excluded because it is an int subclass.
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        record_id = str(record_id)
    if not isinstance(record_id, str):
        return "", "", 'missing or non-string "id"'
    if isinstance(plan, str):
        return record_id, plan, None
    if "tool_calls" in record:
        calls = record["tool_calls"]
        if calls is None:  # what an OpenAI message holds when it calls no tool
            calls = []
        if isinstance(calls, list):
            return record_id, parse_tool_calls(calls, (catalogs or {}).get(record_id, catalog)), None
        return "", "", '"tool_calls" is not a list'
    return "", "", 'missing or non-string "plan" (and no "tool_calls" list)'



def score_files(
    gold_path: str | Path,
    pred_path: str | Path,
    args_mode: str = "normalized",
    warn: Warn = _stderr,
    catalog: Catalog | None = None,
    check_args: bool | None = None,
    layout: str = "lenient",
    processes: int = 1,
) -> dict:
    """The report dict: {"summary": {...}, "results": [...]} in gold file order.

    `catalog` and `check_args` as in `score_plan`: the built-in tools without argument checks by
    default; `processes` as in `score_plans`. Raises OSError when a file cannot be read and
    ValueError for an unknown args_mode.
    """
    check_args_mode(args_mode)
    gold, gold_skipped = read_plans(gold_path, warn, catalog)
    pred, pred_skipped = read_plans(pred_path, warn, catalog)
    report = score_plans(gold, pred, catalog=catalog, args_mode=args_mode, check_args=check_args, layout=layout,
                         processes=processes)
    report["summary"]["skipped_lines"] = {"gold": gold_skipped, "pred": pred_skipped}
    return report


Plans = Mapping[str, "str | ParsedPlan"] | Sequence["str | ParsedPlan"]


def score_plans(
    golds: Plans,
    preds: Plans,
    *,
    catalog: Catalog | None = None,
    args_mode: str = "normalized",
    check_args: bool | None = None,
    layout: str = "lenient",
    processes: int = 1,
) -> dict:
    """The same report as `score_files`, for plans held in memory.

    Each side is {id: plan} or a list of plans (ids "0", "1", ...); a plan is its text or a
    `ParsedPlan` (e.g. from `parse_tool_calls`). A gold id without a prediction counts as missing.
    `processes` > 1 lets a large input be scored in that many forked processes (see
    `planner_eval.parallel`); the report is the same.
    """
    check_args_mode(args_mode)
    checking = checks_arguments(args_mode, catalog, check_args)
    gold, pred = _keyed(golds), _keyed(preds)
    pairs = [(record_id, gold_plan, pred.get(record_id)) for record_id, gold_plan in gold.items()]

    score_pair = plan_scorer(args_mode, catalog, checking, layout)

    def score_range(start: int, stop: int) -> list[dict]:
        return [
            {"id": record_id, **score_pair(gold_plan, pred_plan).as_dict()}
            for record_id, gold_plan, pred_plan in pairs[start:stop]
        ]

    results = chunked_map(score_range, len(pairs), processes)
    summary = summarize(results)
    summary.update(
        args_mode=args_mode,
        catalog="builtin" if catalog is None else "custom",
        check_args=checking,
        layout=layout,
        extra=sum(1 for record_id in pred if record_id not in gold),
        skipped_lines={"gold": 0, "pred": 0},
    )
    return {"summary": summary, "results": results}


def _keyed(plans: Plans) -> Mapping[str, str | ParsedPlan]:
    if isinstance(plans, Mapping):
        return {str(key): plan for key, plan in plans.items()}
    if isinstance(plans, (str, ParsedPlan)):
        raise TypeError("expected a list or a mapping of plans, got a single plan")
    return {str(i): plan for i, plan in enumerate(plans)}


def summarize(results: Iterable[dict]) -> dict:
    """Rates over all gold ids; partial-credit means over results where credit is defined."""
    results = list(results)
    n = len(results)
    errors = dict.fromkeys(ERROR_CATEGORIES, 0)
    for result in results:
        if result["error"] is not None:
            errors[result["error"]] = errors.get(result["error"], 0) + 1
    summary: dict = {
        "n": n,
        "success_rate": _mean(r["success"] for r in results),
        "tool_set_accuracy": _mean(r["tool_set_match"] for r in results),
        "valid_rate": _mean(r["error"] is None for r in results),
        "errors": errors,
    }
    for name in _CREDIT_FIELDS:
        summary[name] = _mean(r[name] for r in results if r[name] is not None)
    return summary


def _mean(values: Iterable[float]) -> float:
    total = count = 0
    for value in values:
        total += value
        count += 1
    return total / count if count else 0.0

