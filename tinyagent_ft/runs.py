"""Reading finished runs back: the figures of a training run's `metrics.jsonl`. Shared by `tinyagent demo`
and `tinyagent compare`, so both report the same way."""

from __future__ import annotations

import json
from pathlib import Path


def read_metrics(path: str | Path) -> list[dict]:
    """The JSON lines of a `metrics.jsonl`; a line cut short by a crash is skipped, not fatal."""
    lines = []
    for text in Path(path).read_text().splitlines():
        try:
            lines.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return lines


def training_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if "loss" in line]


def validation_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if "eval_success_rate" in line]


def run_figures(run: Path) -> dict:
    """Figures of one `tinyagent train` run directory: its metrics.jsonl plus planner.json's facts."""
    lines = read_metrics(run / "metrics.jsonl")
    facts = json.loads((run / "planner.json").read_text()).get("info", {})
    train, valid = training_lines(lines), validation_lines(lines)
    steps = facts.get("steps") or max((line["step"] for line in lines), default=0)
    seconds = facts.get("train_seconds", 0.0)
    return {
        "steps": steps,
        "final_loss": train[-1]["loss"] if train else None,
        "train_seconds": seconds,
        "seconds_per_step": seconds / steps if steps else None,
        "peak_rss_bytes": max((line.get("peak_rss_bytes", 0) for line in lines), default=0),
        "optimizer_state_bytes": max((line.get("optimizer_state_bytes", 0) for line in train), default=0),
        "best_eval_success_rate": max((v["eval_success_rate"] for v in valid), default=None),
        "last_eval_success_rate": valid[-1]["eval_success_rate"] if valid else None,
    }
