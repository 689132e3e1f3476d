"""The HTML report's cost beside the scoring it shows: writing time against scoring time on one
realistic prediction mix, and how long the page takes to open in headless Chromium.

The pairs are the evaluator speed benchmark's mix (identical, renumbered, wrong arguments, swapped
references, unknown tools, bad references, prose, truncations) over synthesized gold plans, each
gold line with a query. Scoring (`score_files`) and writing (`write_html_report_for_files`, which
reads both files again) are timed in one process, alternately, `--repeat` times; the page is
opened `--repeat` times in a fresh browser page each, timed from navigation to the first page of
failed cases drawn (its graphs are SVG built by the page's script).

    python benchmarks/html_report.py [--n 10000] [--seed 0] [--repeat 3] [--browser] [--keep DIR]

Prints one JSON object: n, failed cases, page bytes, score_s and html_s (every run and the median),
html_over_score (ratio of medians), and with --browser open_s (each run) and load_event_ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluator_speed import make_prediction, synthesize_plan  # noqa: E402

from planner_eval.html_report import write_html_report_for_files  # noqa: E402
from planner_eval.plan import format_plan  # noqa: E402
from planner_eval.report import score_files  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def write_pairs(directory: Path, n: int, seed: int) -> tuple[Path, Path]:
    rng = random.Random(seed)
    gold_path, pred_path = directory / "gold.jsonl", directory / "pred.jsonl"
    with open(gold_path, "w") as gold, open(pred_path, "w") as pred:
        for i in range(n):
            gold_text = format_plan(synthesize_plan(rng))
            _, pred_text = make_prediction(rng, gold_text)
            gold.write(json.dumps({"id": f"case-{i}", "query": f"generated request number {i}", "plan": gold_text}) + "\n")
            pred.write(json.dumps({"id": f"case-{i}", "plan": pred_text}) + "\n")
    return gold_path, pred_path


def open_times(page_path: Path, repeat: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    seconds, load_ms = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            start = time.perf_counter()
            page.goto(page_path.as_uri())
            page.wait_for_selector("article.case svg.plan")
            seconds.append(round(time.perf_counter() - start, 3))
            load_ms.append(page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd"))
            page.close()
        browser.close()
    return seconds, load_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="gold/prediction pairs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each step")
    parser.add_argument("--browser", action="store_true", help="also time opening the page in headless Chromium")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.keep or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        gold, pred = write_pairs(directory, args.n, args.seed)
        page_path = directory / "report.html"
        score_s, html_s = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = score_files(gold, pred, warn=lambda _message: None)
            score_s.append(round(time.perf_counter() - start, 3))
            start = time.perf_counter()
            write_html_report_for_files(report, gold, pred, page_path)
            html_s.append(round(time.perf_counter() - start, 3))
        result = {
            "n": args.n,
            "failed": sum(not r["success"] for r in report["results"]),
            "page_bytes": page_path.stat().st_size,
            "score_s": score_s, "score_s_median": statistics.median(score_s),
            "html_s": html_s, "html_s_median": statistics.median(html_s),
            "html_over_score": round(statistics.median(html_s) / statistics.median(score_s), 3),
        }
        if args.browser:
            result["open_s"], result["load_event_ms"] = open_times(page_path, args.repeat)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
