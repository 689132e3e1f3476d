"""The HTML report and the server's playground in a real headless Chromium (see tests/page_fixtures.py:
skipped with a one-line reason where no browser is installed, a failure under CI=true)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from planner_eval.catalog import TOOLS
from planner_eval.parse import parse_plan
from tests.page_fixtures import FAN_IN_PLAN, ScriptedEngine, artifacts, browser, console, page  # noqa: F401 (fixtures)

KEY = "playground-key"
GOLD = """1. get_email_address("Sid")
2. get_email_address("Nick")
3. compose_new_email(["$1"], ["$2"], "Budget", "Send the Q3 budget", [])
4. join()<END_OF_PLAN>"""
SCRIPT = "<script>window.__pwned = 1</script>"
IMAGE = '<img src=x onerror="window.__pwned = 1">'
PAGE_SIZE = 50

# Watches the graph container and records how many nodes each redraw holds.
WATCH_GRAPH = """() => {
  window.__counts = [];
  new MutationObserver(() => window.__counts.push(document.querySelectorAll('#graph svg .node').length))
    .observe(document.getElementById('graph'), { childList: true });
}"""


def write_jsonl(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    """A report whose first page holds a wrong argument in a 5-action fan-in, an unparsable and a
    hostile prediction, followed by enough mismatches to need a second page."""
    root = tmp_path_factory.mktemp("report")
    hostile_gold = f'1. get_phone_number({json.dumps(IMAGE)})\n2. send_sms(["$1"], {json.dumps(SCRIPT)})\n3. join()'
    gold = [
        {"id": "fan-in", "query": "Email Sid and Nick a summary of the Q3 budget", "plan": FAN_IN_PLAN},
        {"id": "prose", "query": f"text Ann {SCRIPT}", "plan": GOLD},
        {"id": "hostile", "query": f"{IMAGE} and {SCRIPT}", "plan": hostile_gold},
        {"id": "right", "plan": GOLD},
        *({"id": f"filler-{i:03d}", "plan": GOLD} for i in range(60)),
    ]
    pred = [
        {"id": "fan-in", "plan": FAN_IN_PLAN.replace('"Q3 budget", "$4"', '"Q3 budget", "$3"')},
        {"id": "prose", "plan": f"I cannot do that {SCRIPT}"},
        {"id": "hostile", "plan": hostile_gold.replace("1. get_phone_number", "1. get_email_address")},
        {"id": "right", "plan": GOLD},
        *({"id": f"filler-{i:03d}", "plan": GOLD.replace('"Budget"', f'"Budget {i}"')} for i in range(60)),
    ]
    gold_path, pred_path = write_jsonl(root / "gold.jsonl", gold), write_jsonl(root / "pred.jsonl", pred)
    html = root / "report.html"
    done = subprocess.run([sys.executable, "-m", "planner_eval", "score", "--gold", str(gold_path), "--pred", str(pred_path),
                           "--out", str(root / "report.json"), "--html", str(html)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return html


def test_report_shows_the_summary_and_two_graphs_per_failed_case_with_the_difference_marked(page, console, artifacts, report_page):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report_page.as_uri())
    page.wait_for_selector("article.case svg.plan")
    page.screenshot(path=str(artifacts / "report-first-screen.png"))
    assert "success" in page.inner_text("#summary") and page.locator("#errors svg.chart .bar").count() == 2
    cases = page.locator("article.case")
    assert cases.count() == PAGE_SIZE
    for k in range(PAGE_SIZE):
        assert cases.nth(k).locator("svg.plan").count() == 2

    fan_in = page.locator("article.case", has=page.locator("code.case-id", has_text="fan-in"))
    gold_graph, pred_graph = fan_in.locator("figure.side").nth(0).locator("svg"), fan_in.locator("figure.side").nth(1).locator("svg")
    assert gold_graph.locator(".node").count() == pred_graph.locator(".node").count() == 5
    assert gold_graph.locator('.node.diff[data-id="5"]').count() == 1 and pred_graph.locator('.node.diff[data-id="5"]').count() == 1
    assert "≠ context" in pred_graph.locator('.node[data-id="5"]').text_content()
    assert gold_graph.locator('.edge[data-to="5"]').count() == 4  # the fan-in: 1, 2, 3 and 4 feed action 5
    assert gold_graph.locator('.edge.diff[data-from="4"][data-to="5"]').count() == 1  # the edge the prediction lost
    assert "First difference" in fan_in.inner_text()
    fan_in.screenshot(path=str(artifacts / "report-fan-in-case.png"))

    prose = page.locator("article.case", has=page.locator("code.case-id", has_text="prose"))
    assert prose.locator("svg.plan.placeholder").count() == 1 and "does not parse" in prose.locator("svg.placeholder").text_content()
    assert f"I cannot do that {SCRIPT}" in prose.inner_text() and "parse:" in prose.inner_text()

    hostile = page.locator("article.case", has=page.locator("code.case-id", has_text="hostile"))
    assert f"{IMAGE} and {SCRIPT}" in hostile.inner_text()  # shown as text, never run
    assert page.locator("img").count() == 0 and page.evaluate("() => window.__pwned") is None
    assert requests == [report_page.as_uri()]
    assert console.errors == []


def test_report_cases_page_filter_and_search(page, console, report_page):
    page.goto(report_page.as_uri())
    page.wait_for_selector("article.case")
    assert "63 of 63 failed cases · page 1 of 2" in page.inner_text(".pager .status >> nth=0")
    page.locator(".pager .next").first.click()
    assert page.locator("article.case").count() == 13
    page.select_option("#category", "parse")
    assert [page.locator("code.case-id").nth(k).inner_text() for k in range(page.locator("article.case").count())] == ["prose"]
    page.locator("#errors .bar.mismatch").click()  # a bar of the chart lists its category
    assert page.locator("article.case").count() == PAGE_SIZE and page.input_value("#category") == "mismatch"
    page.fill("#search", "filler-059")
    page.wait_for_function("() => document.querySelectorAll('article.case').length === 1")
    assert page.inner_text("code.case-id") == "filler-059"
    assert console.errors == []


@pytest.fixture(scope="module")
def scripted_url():
    from serve.app import create_app
    from tests.serve_fixtures import live_server

    tools = ["get_email_address", "open_and_get_file_path", "summarize_pdf", "compose_new_email"]
    with live_server(create_app(ScriptedEngine(FAN_IN_PLAN, tools, pause_s=0.3), api_key=KEY)) as url:
        yield url


def test_playground_grows_a_fan_in_step_by_step(page, console, artifacts, scripted_url):
    from serve.openai_compat import tool_calls
    from serve.steps import analyse_plan, plan_steps

    page.goto(f"{scripted_url}/")
    assert page.locator("#key").is_visible()
    page.evaluate(WATCH_GRAPH)
    page.fill("#query", "Email Sid and Nick a summary of the Q3 budget pdf")
    page.fill("#key", KEY)
    page.click("#submit")
    page.wait_for_function("() => document.querySelectorAll('#graph svg .node').length === 3")
    page.screenshot(path=str(artifacts / "playground-mid-stream.png"))
    page.wait_for_selector("#status:has-text('done')")
    page.screenshot(path=str(artifacts / "playground-fan-in.png"), full_page=True)
    counts = page.evaluate("() => window.__counts")
    assert list(dict.fromkeys(c for c in counts if c)) == [1, 2, 3, 4, 5]  # one more node per step event
    graph = page.locator("#graph svg")
    assert graph.locator(".node").count() == 5 and graph.locator('.edge[data-to="5"]').count() == 4
    # The tool_calls shown are exactly what /v1/chat/completions answers for these steps.
    expected = tool_calls(plan_steps(analyse_plan(FAN_IN_PLAN)[0]))
    assert json.loads(page.inner_text("#tool-calls")) == expected
    retrieved = page.inner_text("#retrieved")
    assert "compose_new_email" in retrieved and "email Ann and Bo the <b>report</b> summary" in retrieved and "0.813" in retrieved
    assert page.locator("#latency div").count() == 3 and "ms" in page.inner_text("#latency")
    assert console.errors == []


def test_playground_without_the_right_key_says_so_and_plans_nothing(page, scripted_url):
    page.goto(f"{scripted_url}/")
    page.fill("#query", "text Ann")
    page.click("#submit")
    page.wait_for_selector("#status.failed")
    assert "401" in page.inner_text("#status") and "API key" in page.inner_text("#status")
    assert page.locator("#graph svg").count() == 0


@pytest.fixture(scope="module")
def planner_url(tmp_path_factory):
    """The real server around the tiny random planner (as in tests/test_serve.py), with an API key."""
    import torch

    from serve.app import create_app
    from serve.engine import PlannerEngine
    from tests.serve_fixtures import live_server, save_tiny_checkpoint, save_tiny_retriever
    from tinyagent_ft.planner import Planner

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: a second thread only adds synchronisation
    root = tmp_path_factory.mktemp("planner")
    planner = Planner.load(save_tiny_checkpoint(root / "ckpt"), save_tiny_retriever(root / "retriever"))
    app = create_app(PlannerEngine(planner, model_name="tiny-planner"), api_key=KEY, default_max_new_tokens=160)
    with live_server(app) as url:
        yield url
    torch.set_num_threads(threads)


def test_playground_plans_a_query_end_to_end_with_an_api_key(page, console, artifacts, planner_url):
    page.goto(f"{planner_url}/")
    page.wait_for_selector("#model:has-text('tiny-planner')")
    page.evaluate(WATCH_GRAPH)
    page.fill("#query", "Text Ben that I am running late")
    page.fill("#key", KEY)
    page.click("#submit")
    page.wait_for_selector("#status:has-text('done')", timeout=120_000)
    page.screenshot(path=str(artifacts / "playground-tiny-planner.png"), full_page=True)
    actions = [a for a in parse_plan(page.inner_text("#plan-text")).actions if a.tool in TOOLS]
    assert actions, "a constrained plan holds at least one action"
    assert page.locator("#graph svg .node").count() == len(actions)
    assert [c["function"]["name"] for c in json.loads(page.inner_text("#tool-calls"))] == [a.tool for a in actions]
    counts = [c for c in page.evaluate("() => window.__counts") if c]
    assert counts[0] == 1 and counts == sorted(counts) and counts[-1] == len(actions)
    assert page.locator("#retrieved .chip").count() >= 1
    assert console.errors == []
