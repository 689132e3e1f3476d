"""Plan language, tool catalog and scoring for LLMCompiler plans; imports nothing heavy.

The public names below are loaded on first use, so `import planner_eval` stays cheap for the
stages that only need the catalog.
"""

from __future__ import annotations

import importlib
from typing import Any

from planner_eval._version import __version__

_EXPORTS = {
    "Action": "planner_eval.plan",
    "format_plan": "planner_eval.plan",
    "ParsedPlan": "planner_eval.parse",
    "parse_plan": "planner_eval.parse",
    "plan_error": "planner_eval.validate",
    "ERROR_CATEGORIES": "planner_eval.validate",
    "dependency_edges": "planner_eval.graph",
    "to_digraph": "planner_eval.graph",
    "plans_match": "planner_eval.match",
    "PlanScore": "planner_eval.score",
    "score_plan": "planner_eval.score",
    "score_files": "planner_eval.report",
    "score_bfcl_files": "planner_eval.bfcl",
    "score_plans": "planner_eval.report",
    "read_plans": "planner_eval.report",
    "write_html_report": "planner_eval.html_report",
    "TOOLS": "planner_eval.catalog",
    "Tool": "planner_eval.catalog",
    "ToolArg": "planner_eval.catalog",
    "CatalogError": "planner_eval.catalog_io",
    "read_catalog": "planner_eval.catalog_io",
    "catalog_from_json": "planner_eval.catalog_io",
    "from_openai_schemas": "planner_eval.catalog_io",
    "to_openai_schemas": "planner_eval.catalog_io",
    "to_native": "planner_eval.catalog_io",
    "export_catalog": "planner_eval.catalog_io",
    "ToolCallError": "planner_eval.tool_calls",
    "parse_tool_calls": "planner_eval.tool_calls",
    "tool_calls_to_actions": "planner_eval.tool_calls",
    "tool_calls_to_plan_text": "planner_eval.tool_calls",
    "actions_to_tool_calls": "planner_eval.tool_calls",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planner_eval' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
