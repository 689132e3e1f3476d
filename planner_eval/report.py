"""Score a file of predictions against a file of gold plans: the evaluator report.

Both files are JSON Lines of {"id": ..., "plan": "..."}, where a prediction may carry OpenAI-style
"tool_calls" instead of "plan" (see `planner_eval.tool_calls`); either may also be a
TinyAgent-format JSON file (see `planner_eval.tinyagent_format`). A line that is not such an
object is reported through `warn` with its line number and skipped; so is a repeated id (the
first wins).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

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
    return _read_loaded(path, _load(path), warn, catalog, catalogs)


Loaded = list[str] | dict[str, Any]  # a JSON Lines file's lines, or a decoded TinyAgent-format file


def _load(path: str | Path) -> Loaded:
    tinyagent = load_tinyagent_json(path)
    if tinyagent is not None:
        return tinyagent
    # errors="replace": a stray invalid byte spoils one line, not the whole file.
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        return handle.readlines()


def _read_loaded(
    path: str | Path, loaded: Loaded, warn: Warn, catalog: Catalog | None, catalogs: Mapping[str, Catalog] | None = None
) -> tuple[dict[str, str | ParsedPlan], int]:
    """`read_plans` of a loaded file."""
    if isinstance(loaded, dict):
        return tinyagent_plans(loaded, warn, str(path), catalog)
    plans: dict[str, str | ParsedPlan] = {}
    first_line: dict[str, int] = {}
    skipped = 0
    for number, line in enumerate(loaded, start=1):
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


def _plain_record(line: str) -> tuple[str, str, None] | None:
    """`_read_record` of a line exactly as json.dumps writes `{"id": ID, "plan": PLAN}` with
    string values, read with json's own string scanner (most lines are such, and this takes a
    fraction of a full decode); None for anything else, which json.loads then reads."""
    if not line.startswith('{"id": "'):
        return None
    try:
        record_id, end = _scan_string(line, 8)
        if not line.startswith(', "plan": "', end):
            return None
        plan, end = _scan_string(line, end + 11)
    except ValueError:  # a control character or a bad escape: json.loads gives the reason
        return None
    if line[end : end + 1] != "}" or line[end + 1 :].strip(" \t\n\r"):
        return None
    return record_id, plan, None


_scan_string = json.decoder.scanstring


def _read_record(
    line: str, catalog: Catalog | None, catalogs: Mapping[str, Catalog] | None = None
) -> tuple[str, str | ParsedPlan, str | None]:
    """(id, plan, None), or ("", "", reason) when the line is not a usable record."""
    plain = _plain_record(line)
    if plain is not None:
        return plain
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


# Read ahead: the ids of a file whose every line starts as json.dumps writes a record, with a plain
# string id. The rest of each line is decoded where it is scored, in a worker process, and only
# there is the id confirmed (see `_confirmed`).
_PLAIN_ID = re.compile(r'\{"id": ?"([^"\\]*)"')


class _NotPlain(Exception):
    """A line read ahead is not the plain record it started as: the files are read again line by line."""


def _read_ahead(loaded: Loaded) -> dict[str, str] | None:
    """{id: line} when every non-blank line starts as a record with a plain id and no id repeats,
    else None."""
    if isinstance(loaded, dict):
        return None
    lines: dict[str, str] = {}
    match = _PLAIN_ID.match
    blank = 0
    for line in loaded:
        found = match(line)
        if found is not None:
            lines[found[1]] = line
        elif line.strip():
            return None
        else:
            blank += 1
    return lines if len(lines) == len(loaded) - blank else None


def _confirmed(plan: str | ParsedPlan | None, is_line: bool, record_id: str, catalog: Catalog | None) -> str | ParsedPlan | None:
    """The plan; for a line read ahead, that of its record, once it proves to be usable and to have this id."""
    if not is_line or plan is None:
        return plan
    found_id, found, reason = _read_record(plan, catalog)
    if reason is not None or found_id != record_id:
        raise _NotPlain
    return found


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
    summary, results = score_files_json(gold_path, pred_path, args_mode, warn, catalog, check_args, layout, processes)
    return {"summary": summary, "results": json.loads(f"[{results}]")}


def score_files_json(
    gold_path: str | Path,
    pred_path: str | Path,
    args_mode: str = "normalized",
    warn: Warn = _stderr,
    catalog: Catalog | None = None,
    check_args: bool | None = None,
    layout: str = "lenient",
    processes: int = 1,
) -> tuple[dict, str]:
    """`score_files`' summary, and its results as JSON objects joined by ",\\n  " (as
    `format_report` writes them). With `processes` > 1 the lines of large files are decoded,
    scored and written as JSON in worker processes, and only that text comes back."""
    check_args_mode(args_mode)
    gold_loaded = _load(gold_path)
    try:
        pred_loaded = _load(pred_path)
    except OSError:
        _read_loaded(gold_path, gold_loaded, warn, catalog)  # its warnings come first
        raise
    scored = partial(_scored_json, args_mode=args_mode, catalog=catalog, check_args=check_args, layout=layout,
                     processes=processes)
    gold_skipped = 0
    if isinstance(gold_loaded, dict):  # read here, once, so that its warnings are given once
        gold, gold_skipped = tinyagent_plans(gold_loaded, warn, str(gold_path), catalog)
    else:
        gold = _read_ahead(gold_loaded)
    pred = _read_ahead(pred_loaded) if gold is not None else None
    if pred is not None:
        extra = [record_id for record_id in pred if record_id not in gold]
        lines = (not isinstance(gold_loaded, dict), True)
        try:
            for record_id in extra:
                _confirmed(pred[record_id], True, record_id, catalog)
            return scored(gold, pred, lines=lines, extra=len(extra), skipped=(gold_skipped, 0))
        except _NotPlain:
            pass
    if not isinstance(gold_loaded, dict):
        gold, gold_skipped = _read_loaded(gold_path, gold_loaded, warn, catalog)
    pred, pred_skipped = _read_loaded(pred_path, pred_loaded, warn, catalog)
    extra = sum(1 for record_id in pred if record_id not in gold)
    return scored(gold, pred, lines=(False, False), extra=extra, skipped=(gold_skipped, pred_skipped))


def _scored_json(
    gold: Mapping[str, str | ParsedPlan],
    pred: Mapping[str, str | ParsedPlan],
    *,
    lines: tuple[bool, bool],
    args_mode: str,
    catalog: Catalog | None,
    check_args: bool | None,
    layout: str,
    processes: int,
    extra: int,
    skipped: tuple[int, int],
) -> tuple[dict, str]:
    checking = checks_arguments(args_mode, catalog, check_args)
    score_pair = plan_scorer(args_mode, catalog, checking, layout)
    pairs = [(record_id, gold_plan, pred.get(record_id)) for record_id, gold_plan in gold.items()]
    gold_lines, pred_lines = lines

    def score_range(start: int, stop: int) -> list[tuple[str, list[list]]]:
        results = [
            {"id": record_id, **score_pair(_confirmed(gold_plan, gold_lines, record_id, catalog),
                                           _confirmed(pred_plan, pred_lines, record_id, catalog)).as_dict()}
            for record_id, gold_plan, pred_plan in pairs[start:stop]
        ]
        # One dumps for the chunk, then a line for each result: its values are plain, so `}, {"`
        # occurs only between results (a quote inside a string is escaped).
        text = json.dumps(results)[1:-1].replace('}, {"', '},\n  {"')
        return [(text, [[result[name] for result in results] for name in _COLUMNS])]

    parts = chunked_map(score_range, len(pairs), processes)
    summary = _summary([[value for _, columns in parts for value in columns[i]] for i in range(len(_COLUMNS))])
    _describe(summary, args_mode, catalog, checking, layout, extra)
    summary["skipped_lines"] = {"gold": skipped[0], "pred": skipped[1]}
    return summary, ",\n  ".join(text for text, _ in parts)


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
    _describe(summary, args_mode, catalog, checking, layout, extra=sum(1 for record_id in pred if record_id not in gold))
    return {"summary": summary, "results": results}


def _describe(summary: dict, args_mode: str, catalog: Catalog | None, checking: bool, layout: str, extra: int) -> None:
    """The summary's settings and counts, after its rates."""
    summary.update(
        args_mode=args_mode,
        catalog="builtin" if catalog is None else "custom",
        check_args=checking,
        layout=layout,
        extra=extra,
        skipped_lines={"gold": 0, "pred": 0},
    )


def _keyed(plans: Plans) -> Mapping[str, str | ParsedPlan]:
    if isinstance(plans, Mapping):
        return {str(key): plan for key, plan in plans.items()}
    if isinstance(plans, (str, ParsedPlan)):
        raise TypeError("expected a list or a mapping of plans, got a single plan")
    return {str(i): plan for i, plan in enumerate(plans)}


def summarize(results: Iterable[dict]) -> dict:
    """Rates over all gold ids; partial-credit means over results where credit is defined."""
    results = list(results)
    return _summary([[result[name] for result in results] for name in _COLUMNS])


# What the summary needs of the results, in this order; workers send back only these columns.
_COLUMNS = ("success", "tool_set_match", "error", *_CREDIT_FIELDS)


def _summary(columns: Sequence[list]) -> dict:
    """`summarize` of the results' `_COLUMNS`."""
    success, tool_set_match, error, *credit = columns
    errors = dict.fromkeys(ERROR_CATEGORIES, 0)
    for category in error:
        if category is not None:
            errors[category] = errors.get(category, 0) + 1
    summary: dict = {
        "n": len(success),
        "success_rate": _mean(success),
        "tool_set_accuracy": _mean(tool_set_match),
        "valid_rate": _mean([category is None for category in error]),
        "errors": errors,
    }
    for name, values in zip(_CREDIT_FIELDS, credit):
        summary[name] = _mean([value for value in values if value is not None])
    return summary


def _mean(values: list) -> float:
    # Added one by one, in order (not with sum(), which adds floats differently from Python 3.12 on),
    # so that a report is the same on every version.
    total = 0
    for value in values:
        total += value
    return total / len(values) if values else 0.0
