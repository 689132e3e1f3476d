"""Reading labelled query files (JSONL lines `{"query": str, "tools": [tool names]}`), strictly.

A bad line is an error naming the file and line, not a skipped line: an eval silently run on part
of its queries reports numbers nobody asked for.
"""

from __future__ import annotations

import json
from pathlib import Path

from planner_eval.catalog import Catalog, default_catalog


def read_queries(path: str | Path, catalog: Catalog | None = None) -> tuple[list[str], list[list[str]]]:
    """(queries, tool sets) with tools of ``catalog`` (the built-in one by default); blank lines are
    skipped. Raises ValueError naming the offending line."""
    path = Path(path)
    catalog = default_catalog() if catalog is None else catalog
    queries: list[str] = []
    tool_sets: list[list[str]] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            query, tools = _parse_line(line, f"{path}:{number}", catalog)
            queries.append(query)
            tool_sets.append(tools)
    if not queries:
        raise ValueError(f"{path}: no queries")
    return queries, tool_sets


def _parse_line(line: str, where: str, catalog: Catalog) -> tuple[str, list[str]]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not valid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object with \"query\" and \"tools\"")
    for name in ("query", "tools"):
        if name not in record:
            raise ValueError(f"{where}: missing field \"{name}\"")
    query, tools = record["query"], record["tools"]
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"{where}: \"query\" must be a non-empty string")
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise ValueError(f"{where}: \"tools\" must be a list of tool names")
    unknown = [t for t in tools if t not in catalog]
    if unknown:
        raise ValueError(f"{where}: unknown tool {unknown[0]!r} (not one of the {len(catalog)} catalog tools)")
    return query, list(dict.fromkeys(tools))
