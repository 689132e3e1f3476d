"""The evaluator's report as one self-contained HTML page, for finding out why a planner fails.

The page holds the summary, a bar chart of error categories, success by tool, plan length and
(when the gold data names them) intent, a gold tool -> predicted tool confusion table, and every
failed case: its query, both plans as text and as graphs, and the first difference marked
(`planner_eval.plan_diff`). It fetches nothing: styles, script and data are inline, and a
Content-Security-Policy forbids every request and every script but its own.

Each failed case is data in a JSON island (its plans' actions, the marks of the difference); the
page's script filters and searches the cases and draws only the current page's graphs, with the
project's plan renderer (`planner_eval.plan_graph`). Drawing every graph here instead, as SVG
markup, was measured at about 275 us a plan and 2 kB of markup each: for a 10,000-pair report,
most of the scoring time again and a 27 MB page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from planner_eval.arguments import fill_defaults, has_defaults
from planner_eval.catalog import TOOLS, Catalog
from planner_eval.parse import ParsedPlan, parse_plan
from planner_eval.plan import Action
from planner_eval.plan_diff import Difference, Marks, align, argument_name, first_difference, literal_text, tool_pairs
from planner_eval.plan_graph import plan_graph_css, plan_graph_js
from planner_eval.report import read_plans
from planner_eval.tinyagent_format import load_tinyagent_json
from planner_eval.validate import ERROR_CATEGORIES, GOLD_INVALID, MISSING, PARSE, plan_error

Plan = str | ParsedPlan
MISMATCH = "mismatch"  # the category of a valid prediction that is not the gold plan
PER_PAGE = 50
_CATEGORY_LABELS = {MISMATCH: "valid, but different"}


def read_gold_context(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """({id: query}, {id: intent}) from a gold file: a TinyAgent record's "input" (and "intent",
    when a record carries one), or a JSON Lines record's "query" and "intent". Lines that are not
    such records are left out silently: reading the plans already reported them."""
    queries: dict[str, str] = {}
    intents: dict[str, str] = {}
    tinyagent = load_tinyagent_json(path)
    if tinyagent is not None:
        records: Any = ((record_id, record, "input") for record_id, record in tinyagent.items())
    else:
        records = _jsonl_records(path)
    for record_id, record, query_key in records:
        if isinstance(record.get(query_key), str):
            queries.setdefault(record_id, record[query_key])
        if isinstance(record.get("intent"), str):
            intents.setdefault(record_id, record["intent"])
    return queries, intents


def _jsonl_records(path: str | Path):
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if not isinstance(record, dict):
                continue
            record_id = record.get("id")
            if isinstance(record_id, int) and not isinstance(record_id, bool):
                record_id = str(record_id)
            if isinstance(record_id, str):
                yield record_id, record, "query"


def write_html_report_for_files(
    report: dict, gold_path: str | Path, pred_path: str | Path, path: str | Path, catalog: Catalog | None = None
) -> Path:
    """`write_html_report` for the files `score_files` read (their warnings were already given)."""
    golds, _ = read_plans(gold_path, _quiet, catalog)
    preds, _ = read_plans(pred_path, _quiet, catalog)
    queries, intents = read_gold_context(gold_path)
    return write_html_report(report, golds, preds, path, queries, catalog, intents, sources=(str(gold_path), str(pred_path)))


def _quiet(_message: str) -> None:
    pass


def write_html_report(
    report: dict,
    golds: Mapping[str, Plan],
    preds: Mapping[str, Plan],
    path: str | Path,
    queries: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
    intents: Mapping[str, str] | None = None,
    title: str = "Plan evaluation",
    sources: tuple[str, str] | None = None,
) -> Path:
    """Write the HTML page for a `score_files` report. `golds` and `preds` map ids to plan texts
    (or parsed tool calls) as `read_plans` gives them; `queries` and `intents` are optional.
    Raises OSError when the file cannot be written."""
    page = render_html_report(report, golds, preds, queries, catalog, intents, title, sources)
    path = Path(path)
    # errors="replace": a lone surrogate (JSON input may escape one) must not lose the whole page.
    path.write_text(page, encoding="utf-8", errors="replace")
    return path


@dataclass
class _Tally:
    """Cases and successes per key (a tool, a plan length, an intent)."""

    cases: Counter = field(default_factory=Counter)
    successes: Counter = field(default_factory=Counter)

    def add(self, key: Any, success: bool) -> None:
        self.cases[key] += 1
        self.successes[key] += success


@dataclass
class _Collected:
    by_tool: _Tally = field(default_factory=_Tally)
    by_length: _Tally = field(default_factory=_Tally)
    by_intent: _Tally = field(default_factory=_Tally)
    confusion: Counter = field(default_factory=Counter)  # (gold tool | None, predicted tool | None) -> count
    categories: Counter = field(default_factory=Counter)
    cases: list[dict] = field(default_factory=list)


def render_html_report(
    report: dict,
    golds: Mapping[str, Plan],
    preds: Mapping[str, Plan],
    queries: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
    intents: Mapping[str, str] | None = None,
    title: str = "Plan evaluation",
    sources: tuple[str, str] | None = None,
) -> str:
    """The page as a string (see `write_html_report`)."""
    summary = report["summary"]
    reader = _Reader(catalog, bool(summary.get("check_args", False)), summary.get("args_mode", "normalized"))
    collected = _Collected()
    for result in report["results"]:
        _collect(result, golds, preds, queries or {}, intents or {}, reader, collected)
    return _page(title, summary, collected, sources)


class _Reader:
    """Plans as the scorer read them (defaults filled in), without its validation: each result
    already says whether its prediction was valid."""

    def __init__(self, catalog: Catalog | None, check_args: bool, mode: str) -> None:
        self.catalog, self.check_args, self.mode = catalog, check_args, mode
        self.tools = TOOLS if catalog is None else catalog
        self._fill = has_defaults(self.tools)

    def parsed(self, plan: Plan) -> ParsedPlan:
        if isinstance(plan, str):
            return parse_plan(plan, self.tools if self._fill else None)
        actions = [Action(a.id, a.tool, list(a.args), a.thought) for a in plan.actions]
        if self._fill:
            fill_defaults(actions, self.tools)
        return ParsedPlan(actions, list(plan.problems), plan.has_join, plan.join_id)

    def parses(self, plan: ParsedPlan) -> bool:
        return plan_error(plan, self.catalog, self.check_args)[0] != PARSE


def _collect(
    result: dict, golds: Mapping[str, Plan], preds: Mapping[str, Plan], queries: Mapping[str, str],
    intents: Mapping[str, str], reader: _Reader, out: _Collected,
) -> None:
    record_id, success, error = result["id"], bool(result["success"]), result["error"]
    gold_plan = golds.get(record_id)
    gold = reader.parsed(gold_plan) if gold_plan is not None else None
    gold_actions = gold.actions if gold is not None else []
    if error != GOLD_INVALID:
        for tool in dict.fromkeys(a.tool for a in gold_actions):
            out.by_tool.add(tool, success)
        out.by_length.add(len(gold_actions), success)
        if record_id in intents:
            out.by_intent.add(intents[record_id], success)
    if success:
        out.confusion.update((a.tool, a.tool) for a in gold_actions)
        return
    category = error or MISMATCH
    out.categories[category] += 1
    pred_plan = preds.get(record_id)
    pred = None
    if pred_plan is not None and error not in (MISSING, PARSE):
        pred = reader.parsed(pred_plan)
        if error == GOLD_INVALID and not reader.parses(pred):
            pred = None  # its own error was never reported: the gold plan was the problem
    gold_drawn = gold is not None and (error != GOLD_INVALID or reader.parses(gold))
    difference: Difference | None = None
    if gold is not None and error != GOLD_INVALID:
        pairs = align(gold_actions, pred.actions, reader.mode) if pred is not None else {}
        out.confusion.update(tool_pairs(gold_actions, pred.actions if pred is not None else [], pairs))
        if pred is not None:
            difference = first_difference(gold_actions, pred.actions, reader.mode, reader.catalog, error, result["detail"], pairs)
    case = {
        "i": record_id,
        "c": category,
        "q": queries.get(record_id),
        "e": f"{error}: {result['detail']}" if error else None,
        "d": difference.message if difference is not None and difference.kind != "invalid" else None,
        "g": _plan_text(gold_plan),
        "p": _plan_text(pred_plan),
    }
    if gold_drawn:
        case["ga"] = _actions_data(gold_actions)
    else:
        case["gx"] = ["no gold plan", "no line with this id"] if gold is None else ["the gold plan does not parse", result["detail"] or ""]
    if pred is not None:
        case["pa"] = _actions_data(pred.actions)
    elif pred_plan is None:
        case["px"] = ["no prediction", "no line with this id"]
    else:
        case["px"] = ["the predicted plan does not parse", result["detail"] if error == PARSE else ""]
    if difference is not None:
        case["gm"], case["pm"] = _marks_data(difference.gold, gold_actions, reader), _marks_data(difference.pred, pred.actions, reader)
    out.cases.append(case)


def _actions_data(actions: list[Action]) -> list[list]:
    return [[a.id, a.tool, a.args] for a in actions]


def _marks_data(marks: Marks, actions: list[Action], reader: _Reader) -> dict:
    data: dict[str, Any] = {"nodes": sorted(marks.nodes), "edges": sorted(marks.edges)}
    if marks.arg is not None:
        action_id, index = marks.arg
        tool = next((a.tool for a in actions if a.id == action_id), "")
        data["arg"] = [action_id, index, argument_name(tool, index, reader.catalog)]
    return data


def _plan_text(plan: Plan | None) -> str | None:
    if plan is None or isinstance(plan, str):
        return plan
    # Tool calls: the plan they stand for, then what could not be read.
    lines = [f"{a.id}. {a.tool}({', '.join(literal_text(v) for v in a.args)})" for a in plan.actions]
    lines += [f"(call {p.line}: {p.message})" for p in plan.problems]
    return "\n".join(lines)


# ---- the page ------------------------------------------------------------------------------


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def _metric(label: str, value: str, note: str = "") -> str:
    hint = f'<span class="note">{escape(note)}</span>' if note else ""
    return f'<div class="metric"><span class="value">{escape(value)}</span><span class="label">{escape(label)}</span>{hint}</div>'


def _summary(summary: dict) -> str:
    n = summary.get("n", 0)
    headline = [
        _metric("success", _percent(summary.get("success_rate", 0.0)), f"{round(summary.get('success_rate', 0.0) * n)} of {n}"),
        _metric("tool-set accuracy", _percent(summary.get("tool_set_accuracy", 0.0))),
        _metric("valid plans", _percent(summary.get("valid_rate", 0.0))),
    ]
    credit = [
        _metric("tool precision", f"{summary.get('tool_precision', 0.0):.3f}"),
        _metric("tool recall", f"{summary.get('tool_recall', 0.0):.3f}"),
        _metric("tool F1", f"{summary.get('tool_f1', 0.0):.3f}"),
        _metric("edge F1", f"{summary.get('edge_f1', 0.0):.3f}"),
        _metric("length error", f"{summary.get('length_error', 0.0):.2f}", "actions, mean"),
    ]
    skipped = summary.get("skipped_lines", {})
    facts = (
        f"{n} gold plans · arguments {summary.get('args_mode', 'normalized')} · catalog {summary.get('catalog', 'builtin')}"
        f" · argument checks {'on' if summary.get('check_args') else 'off'} · {summary.get('extra', 0)} predictions for unknown ids"
        f" · skipped lines: gold {skipped.get('gold', 0)}, predictions {skipped.get('pred', 0)}"
    )
    return (
        f'<section id="summary"><h2>Summary</h2><div class="metrics">{"".join(headline)}</div>'
        f'<h3>Partial credit</h3><div class="metrics small">{"".join(credit)}</div>'
        f'<p class="facts">{escape(facts)}</p></section>'
    )


def _category_chart(counts: Counter) -> str:
    """Horizontal bars, one per category present, as an inline SVG."""
    order = [c for c in (*ERROR_CATEGORIES, MISMATCH) if counts.get(c)]
    if not order:
        return '<section id="errors"><h2>Failures by category</h2><p>No failed case.</p></section>'
    total = sum(counts.values())
    top = max(counts[c] for c in order)
    label_w, bar_w, row_h = 170, 360, 26
    height = row_h * len(order) + 8
    rows = []
    for k, category in enumerate(order):
        y = 4 + k * row_h
        width = max(2.0, bar_w * counts[category] / top)
        label = _CATEGORY_LABELS.get(category, category.replace("_", " "))
        rows.append(
            f'<g class="bar {category}" data-category="{category}"><title>show these cases</title><text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row_h - 8}" rx="3"/>'
            f'<text x="{label_w + width + 6:.1f}" y="{y + 17}">{counts[category]} ({_percent(counts[category] / total)})</text></g>'
        )
    width = label_w + bar_w + 110
    return (
        '<section id="errors"><h2>Failures by category</h2><p class="hint">Click a bar to list its cases.</p>'
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="failed cases by category">{"".join(rows)}</svg></section>'
    )


def _tally_table(caption: str, key_name: str, tally: _Tally, keys: list) -> str:
    rows = []
    for key in keys:
        cases, successes = tally.cases[key], tally.successes[key]
        rate = successes / cases if cases else 0.0
        rows.append(
            f"<tr><th>{escape(str(key))}</th><td class=num>{cases}</td><td class=num>{_percent(rate)}</td>"
            f'<td class="barcell"><span class="track"><span class="meter" style="width:{100 * rate:.1f}%"></span></span></td></tr>'
        )
    return (
        f'<table class="tally"><caption>{escape(caption)}</caption><thead><tr><th>{escape(key_name)}</th>'
        f'<th>cases</th><th>success</th><th></th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _breakdowns(collected: _Collected) -> str:
    tables = []
    if collected.by_tool.cases:
        keys = sorted(collected.by_tool.cases, key=lambda t: (-collected.by_tool.cases[t], t))
        tables.append(_tally_table("Success by tool (cases whose gold plan uses it)", "tool", collected.by_tool, keys))
    if len(collected.by_length.cases) > 1:
        tables.append(_tally_table("Success by gold plan length", "actions", collected.by_length, sorted(collected.by_length.cases)))
    if len(collected.by_intent.cases) > 1:
        keys = sorted(collected.by_intent.cases, key=lambda t: (-collected.by_intent.cases[t], t))
        tables.append(_tally_table("Success by intent", "intent", collected.by_intent, keys))
    if not tables:
        return ""
    return f'<section id="breakdowns"><h2>Where it succeeds</h2><div class="tables">{"".join(tables)}</div></section>'


def _confusion(confusion: Counter) -> str:
    if not confusion:
        return ""
    gold_tools = Counter()
    pred_tools = Counter()
    for (gold, pred), count in confusion.items():
        gold_tools[gold] += count
        pred_tools[pred] += count
    rows = sorted((t for t in gold_tools if t is not None), key=lambda t: (-gold_tools[t], t))
    columns = rows + sorted(t for t in pred_tools if t is not None and t not in gold_tools)
    rows_all: list[str | None] = [*rows, *([None] if None in gold_tools else [])]
    columns_all: list[str | None] = [*columns, *([None] if None in pred_tools else [])]
    head = "".join(f'<th class="col"><span>{escape(t or "(none: missing)")}</span></th>' for t in columns_all)
    body = []
    for gold in rows_all:
        total = sum(confusion[(gold, pred)] for pred in columns_all) or 1
        cells = []
        for pred in columns_all:
            count = confusion[(gold, pred)]
            if not count:
                cells.append("<td></td>")
                continue
            kind = "hit" if gold == pred else "miss"
            cells.append(f'<td class="{kind}" style="--share:{count / total:.3f}" title="{count / total:.1%} of this row">{count}</td>')
        body.append(f'<tr><th>{escape(gold or "(none: extra)")}</th>{"".join(cells)}</tr>')
    return (
        '<section id="confusion"><h2>Tool confusion</h2><p class="hint">Each gold action paired with a '
        "predicted one (same tool and most agreeing arguments first, then in plan order); rows: gold tool, "
        "columns: predicted tool. Unparsable and missing predictions count as missing actions.</p>"
        f'<div class="scroll"><table class="confusion"><thead><tr><th class="corner">gold \\ predicted</th>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div></section>'
    )


def _cases_section(collected: _Collected) -> str:
    options = "".join(
        f'<option value="{escape(c)}">{escape(_CATEGORY_LABELS.get(c, c.replace("_", " ")))} ({collected.categories[c]})</option>'
        for c in (*ERROR_CATEGORIES, MISMATCH) if collected.categories.get(c)
    )
    nav = ('<nav class="pager"><button type="button" class="prev">&larr; previous</button>'
           '<span class="status"></span><button type="button" class="next">next &rarr;</button></nav>')
    return (
        f'<section id="failures"><h2>Failed cases ({len(collected.cases)})</h2>'
        '<div class="controls"><input id="search" type="search" placeholder="search ids, queries, plans, errors" '
        'aria-label="search the failed cases">'
        f'<select id="category" aria-label="category"><option value="">every category</option>{options}</select></div>'
        f'{nav}<div id="cases"></div>{nav}<noscript>The failed cases need JavaScript to be listed.</noscript></section>'
    )


def _contents(collected: _Collected) -> str:
    links = [("summary", "Summary"), ("errors", "Failures by category")]
    if collected.by_tool.cases:
        links.append(("breakdowns", "Where it succeeds"))
    if collected.confusion:
        links.append(("confusion", "Tool confusion"))
    links.append(("failures", f"Failed cases ({len(collected.cases)})"))
    return '<nav class="contents">' + "".join(f'<a href="#{anchor}">{escape(text)}</a>' for anchor, text in links) + "</nav>"


def _json_island(data: Any) -> str:
    """JSON that can sit inside <script>: "<" written as \\u003c can start neither "</script>"
    nor "<!--" (it only occurs within strings, where the escape means the same character);
    ASCII-only, so that a lone surrogate from the input survives as its escape."""
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    except ValueError:  # an infinite float literal (1e999) has no JSON form: shown as its text
        text = json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _page(title: str, summary: dict, collected: _Collected, sources: tuple[str, str] | None) -> str:
    script = plan_graph_js() + _SCRIPT
    script_hash = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{script_hash}'"
    subtitle = f"gold {sources[0]} · predictions {sources[1]}" if sources else ""
    return "".join([
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}{plan_graph_css()}</style></head><body>",
        f'<header class="top"><h1>{escape(title)}</h1><p class="sources">{escape(subtitle)}</p>',
        _contents(collected), "</header><main>",
        '<div class="duo">', _summary(summary), _category_chart(collected.categories), "</div>",
        _breakdowns(collected),
        _confusion(collected.confusion),
        _cases_section(collected),
        f'</main><script type="application/json" id="case-data">{_json_island(collected.cases)}</script>',
        f"<script>{script}</script></body></html>\n",
    ])


_CSS = """
:root { color-scheme: light; --ink: #1d2a3a; --muted: #5b6b7f; --line: #d8dee6; --bad: #d92d20; --good: #12805c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f8fa; }
header.top { padding: 14px 24px 6px; background: #fff; border-bottom: 1px solid var(--line); }
header.top h1 { margin: 0; font-size: 20px; }
nav.contents { display: flex; gap: 18px; flex-wrap: wrap; margin: 4px 0 6px; }
nav.contents a { color: #1570ef; text-decoration: none; }
.sources, .facts, .hint { color: var(--muted); margin: 4px 0; font-size: 13px; }
main { padding: 8px 24px 40px; max-width: 1500px; }
h2 { font-size: 17px; margin: 22px 0 8px; }
h3 { font-size: 14px; margin: 12px 0 6px; color: var(--muted); font-weight: 600; }
.duo { display: grid; gap: 0 14px; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); align-items: start; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 12px; margin-top: 14px; }
.metrics { display: flex; flex-wrap: wrap; gap: 10px; }
.metric { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 130px; display: flex; flex-direction: column; }
.metric .value { font-size: 26px; font-weight: 650; }
.metrics.small .value { font-size: 18px; }
.metric .label { color: var(--muted); }
.metric .note { color: var(--muted); font-size: 12px; }
svg.chart { font: 13px system-ui, sans-serif; max-width: 100%; height: auto; }
svg.chart .bar { cursor: pointer; }
svg.chart .bar:hover rect { opacity: 0.75; }
svg.chart .bar rect { fill: #e0795d; }
svg.chart .bar.mismatch rect { fill: #d9a441; }
svg.chart .bar.missing rect { fill: #9aa5b1; }
svg.chart .bar.gold_invalid rect { fill: #7c8db5; }
.tables { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
table { border-collapse: collapse; }
table.tally caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
table.tally th, table.tally td { padding: 2px 8px; border-bottom: 1px solid #eef1f4; text-align: left; }
table.tally th { font-weight: 500; font-family: ui-monospace, monospace; font-size: 13px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.barcell { width: 140px; }
.track { display: block; height: 10px; background: #e7ecf1; border-radius: 2px; }
.meter { display: block; height: 10px; background: var(--good); border-radius: 2px; }
.scroll { overflow-x: auto; }
table.confusion { font-size: 12px; }
table.confusion th { font-family: ui-monospace, monospace; font-weight: 500; padding: 2px 6px; text-align: right; white-space: nowrap; }
table.confusion th.col { vertical-align: bottom; height: 150px; }
table.confusion th.col span { writing-mode: vertical-rl; transform: rotate(180deg); }
table.confusion td { min-width: 34px; text-align: center; border: 1px solid #eef1f4; font-variant-numeric: tabular-nums; }
table.confusion td.hit { background: rgba(18, 128, 92, calc(0.12 + 0.6 * var(--share))); }
table.confusion td.miss { background: rgba(217, 45, 32, calc(0.15 + 0.7 * var(--share))); font-weight: 600; }
.controls { display: flex; gap: 10px; flex-wrap: wrap; }
#search { flex: 1; min-width: 260px; padding: 6px 10px; font-size: 14px; border: 1px solid var(--line); border-radius: 6px; }
#category { padding: 6px; font-size: 14px; }
.pager { display: flex; align-items: center; gap: 12px; margin: 10px 0; }
.pager .status { color: var(--muted); }
.pager button { padding: 4px 10px; }
article.case { border: 1px solid var(--line); border-left: 4px solid var(--bad); border-radius: 6px; padding: 8px 12px; margin: 10px 0; }
article.case header { display: flex; gap: 10px; align-items: center; }
.badge { background: #fde8e6; color: #8a1c12; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; }
.badge.mismatch { background: #fdf1d8; color: #7a4b00; }
.case-id { color: var(--muted); }
.field { margin: 4px 0; }
.field b { color: var(--muted); font-weight: 600; margin-right: 6px; }
.field.diff span, .field.error span { color: #8a1c12; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 12px; margin-top: 6px; }
figure.side { margin: 0; border: 1px solid #eef1f4; border-radius: 6px; padding: 6px; min-width: 0; }
figure.side figcaption { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.graph { overflow-x: auto; padding: 4px 0; }
pre.plan-text { margin: 4px 0 0; padding: 6px 8px; background: #f6f8fa; border-radius: 4px; font-size: 12px; white-space: pre-wrap; word-break: break-word; max-height: 220px; overflow: auto; }
"""

# The page's own script, after PlanGraph (the Content-Security-Policy allows exactly their text,
# by hash). Every case text goes into the document as a text node.
_SCRIPT = """
(() => {
  "use strict";
  const PER_PAGE = %d;
  const cases = JSON.parse(document.getElementById("case-data").textContent);
  const list = document.getElementById("cases");
  const search = document.getElementById("search");
  const category = document.getElementById("category");
  let shown = cases, page = 0, timer = 0;
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  };
  const field = (label, text, cls) => {
    const p = el("p", "field " + cls);
    p.append(el("b", null, label), el("span", null, text));
    return p;
  };
  const actions = (rows) => rows.map(([id, tool, args]) => ({ id, tool, args, deps: PlanGraph.references(args) }));
  const side = (caption, rows, absent, marks, text) => {
    const figure = el("figure", "side");
    const graph = el("div", "graph");
    graph.append(rows ? PlanGraph.draw(actions(rows), marks || {}, caption) : PlanGraph.placeholder(absent[0], absent[1]));
    figure.append(el("figcaption", null, caption), graph, el("pre", "plan-text", text === null ? "(none)" : text));
    return figure;
  };
  const card = (c) => {
    const article = el("article", "case");
    article.dataset.category = c.c;
    const head = el("header");
    head.append(el("span", "badge " + c.c, c.c.replace("_", " ")), el("code", "case-id", c.i));
    article.append(head);
    if (c.q !== null) article.append(field("Query", c.q, "query"));
    if (c.e !== null) article.append(field("Error", c.e, "error"));
    if (c.d !== null) article.append(field("First difference", c.d, "diff"));
    const pair = el("div", "pair");
    pair.append(side("Gold plan", c.ga, c.gx, c.gm, c.g), side("Predicted plan", c.pa, c.px, c.pm, c.p));
    article.append(pair);
    return article;
  };
  const haystack = (c) => c.h || (c.h = [c.i, c.q, c.e, c.d, c.g, c.p].join("\\n").toLowerCase());
  const render = () => {
    const pages = Math.max(1, Math.ceil(shown.length / PER_PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    list.replaceChildren(...shown.slice(page * PER_PAGE, (page + 1) * PER_PAGE).map(card));
    if (!shown.length) list.append(el("p", "hint", cases.length ? "No failed case matches." : "No failed case."));
    for (const nav of document.querySelectorAll(".pager")) {
      nav.querySelector(".status").textContent =
        `${shown.length} of ${cases.length} failed cases · page ${page + 1} of ${pages}`;
      nav.querySelector(".prev").disabled = page === 0;
      nav.querySelector(".next").disabled = page >= pages - 1;
    }
  };
  const filter = () => {
    const words = search.value.toLowerCase().split(/\\s+/).filter(Boolean);
    const wanted = category.value;
    shown = cases.filter((c) => (!wanted || c.c === wanted) && words.every((w) => haystack(c).includes(w)));
    page = 0;
    render();
  };
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(filter, 150); });
  category.addEventListener("change", filter);
  for (const bar of document.querySelectorAll("[data-category]")) {
    bar.addEventListener("click", () => {
      category.value = bar.dataset.category;
      filter();
      document.getElementById("failures").scrollIntoView();
    });
  }
  for (const nav of document.querySelectorAll(".pager")) {
    nav.querySelector(".prev").addEventListener("click", () => { page -= 1; render(); list.scrollIntoView(); });
    nav.querySelector(".next").addEventListener("click", () => { page += 1; render(); list.scrollIntoView(); });
  }
  render();
})();
""" % PER_PAGE
