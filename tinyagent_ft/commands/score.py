"""`tinyagent score`: the evaluator, the same command as `python -m planner_eval score`."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from planner_eval.cli import add_score_parser, run

    add_score_parser(subparsers).set_defaults(handler=run)
