"""What the page tests share: a real headless Chromium (Debian's `chromium`, driven by Playwright
for Python through its executable, since Playwright's own browser download cannot work offline),
a place for screenshots, and a scripted planner engine that streams a fixed plan slowly, so that a
page can be watched growing its graph without a model."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from tinyagent_ft.prompts import DEFAULT_PLAN_TOKENS

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

# Five actions, four of them feeding the last (a fan-in), as a planner would write them.
FAN_IN_PLAN = """1. get_email_address("Sid")
2. get_email_address("Nick")
3. open_and_get_file_path("Q3 budget.pdf")
4. summarize_pdf("$3")
5. compose_new_email(["$1", "$2"], [], "Q3 budget", "$4", ["$3"])
6. join()<END_OF_PLAN>"""


def chromium_executable() -> str | None:
    return shutil.which("chromium") or next((p for p in ("/usr/bin/chromium",) if os.path.exists(p)), None)


def _unavailable(reason: str):
    # Under CI a missing browser is a failure: the browser tests must not pass by skipping.
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[dev]')")
    executable = chromium_executable()
    if executable is None:
        _unavailable("no chromium executable (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        # Playwright starts it headless with a fresh, temporary profile (--user-data-dir).
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Console:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    yield context.new_page()
    context.close()


@pytest.fixture
def console(page) -> Console:
    return Console(page)


@pytest.fixture
def artifacts(tmp_path, request) -> Path:
    """Where screenshots go: $TEST_ARTIFACTS/<test name> when set, else the test's tmp_path."""
    root = os.environ.get("TEST_ARTIFACTS")
    directory = Path(root) / request.node.name if root else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of {request.node.name}: {directory}")
    return directory


class ScriptedEngine:
    """A stand-in for `serve.engine.PlannerEngine` answering every query with one plan, streamed a
    line at a time with a pause, so that the steps arrive as separate events."""

    default_max_new_tokens = DEFAULT_PLAN_TOKENS

    def __init__(self, plan: str, tools: Sequence[str], pause_s: float = 0.25, model_name: str = "scripted-planner"):
        self.plan, self.tools, self.pause_s, self.model_name = plan, list(tools), pause_s, model_name
        self.examples = [{"id": "train-1", "query": "email Ann and Bo the <b>report</b> summary", "score": 0.8125},
                         {"id": "train-2", "query": "text Sid the budget", "score": 0.5}]

    def _outcome(self):
        from serve.engine import PlanOutcome

        return PlanOutcome(self.plan, self.tools, self.examples, 100, 60)

    def plan_batch(self, jobs) -> list:
        return [self._outcome() for _ in jobs]

    def plan_stream(self, job, on_text: Callable[[str], None], on_start: Callable[[], None]):
        on_start()
        for line in self.plan.splitlines(keepends=True):
            time.sleep(self.pause_s)
            on_text(line)
        return self._outcome()
