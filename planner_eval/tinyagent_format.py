"""Gold plans straight from a TinyAgent-format JSON file (the release's or a generated one).

The file is one object `{record_id: {"input", "output": [step, ...]}}`; a record's plan is its
first step of type "plan": its `raw_output` text, or, when that is missing, the text rebuilt from
its `parsed_output` calls (`{"tool_name", "tool_args"}` keyed by argument name, put in positional
order by the catalog). `json.load` holds the whole file: fine for the 12.8 MB test split, and the
evaluator never needs the 734 MB training file. Kept apart from `tinyagent_ft`, which this
package must not import, and which needs more than plan text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from planner_eval.catalog import JOIN, Catalog
from planner_eval.tool_calls import tool_calls_to_plan_text

Warn = Callable[[str], None]


def load_tinyagent_json(path: str | Path) -> dict[str, Any] | None:
    """The decoded file when it looks like TinyAgent data (an object of records), else None.

    JSON Lines files are told apart by their first line, so that only a real candidate is read
    whole."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        first = next((line for line in handle if line.strip()), "")
        if not first.lstrip().startswith("{") or _is_jsonl_record(first):
            return None
        handle.seek(0)
        try:
            data = json.loads(handle.read().lstrip("\ufeff"))
        except (ValueError, RecursionError):
            return None
    if not isinstance(data, dict) or not all(isinstance(v, Mapping) and "output" in v for v in data.values()):
        return None
    return data


def _is_jsonl_record(line: str) -> bool:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and bool({"id", "plan", "tool_calls"} & set(record))


def tinyagent_plans(data: Mapping[str, Any], warn: Warn, source: str, catalog: Catalog | None = None) -> tuple[dict[str, str], int]:
    """{record id: plan text} and how many records had no usable plan (each one reported)."""
    plans: dict[str, str] = {}
    skipped = 0
    for record_id, record in data.items():
        try:
            plans[record_id] = record_plan(record, catalog)
        except ValueError as exc:
            warn(f"{source}: record {record_id!r}: {exc}; record skipped")
            skipped += 1
    return plans, skipped


def record_plan(record: Mapping[str, Any], catalog: Catalog | None = None) -> str:
    """The plan text of one record; raises ValueError saying why there is none."""
    steps = record.get("output")
    step = next((s for s in steps if isinstance(s, Mapping) and s.get("type") == "plan"), None) if isinstance(steps, list) else None
    if step is None:
        raise ValueError('no "plan" step')
    raw = step.get("raw_output")
    if isinstance(raw, str):
        return raw
    calls = step.get("parsed_output")
    if not isinstance(calls, list):
        raise ValueError('the plan step has neither "raw_output" text nor a "parsed_output" list')
    return tool_calls_to_plan_text([_as_tool_call(c) for c in calls if not _is_join(c)], catalog)


def _is_join(call: Any) -> bool:
    return isinstance(call, Mapping) and call.get("tool_name") == JOIN


def _as_tool_call(call: Any) -> dict[str, Any]:
    if not isinstance(call, Mapping):
        return {}  # the converter reports it as a call without a function
    return {"function": {"name": call.get("tool_name"), "arguments": call.get("tool_args")}}
