"""The plan graph renderer as text to inline in a page: `static/plan_graph.js` (PlanGraph, drawing
in the browser) and its styles, `static/plan_graph.css`. One renderer for every page that shows
plans: the evaluator's HTML report and the server's playground."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def plan_graph_js() -> str:
    return files("planner_eval").joinpath("static", "plan_graph.js").read_text(encoding="utf-8")


@cache
def plan_graph_css() -> str:
    return files("planner_eval").joinpath("static", "plan_graph.css").read_text(encoding="utf-8")
