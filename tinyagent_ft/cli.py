"""`tinyagent`: one console script, a subcommand per pipeline stage."""

from __future__ import annotations

import argparse
import sys

from tinyagent_ft.commands import baseline, compare, data, demo, retriever, serve, train
from tinyagent_ft.commands import eval as eval_command

# Each command module exposes register(subparsers); a handler returns an exit code or None.
COMMAND_MODULES = (data, retriever, train, eval_command, baseline, serve, demo, compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyagent",
        description="Fine-tune, evaluate and serve a small function-calling planner (TinyAgent / LLMCompiler).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except (ValueError, OSError) as error:
        # Bad input (missing file, corrupt data, bad flag value) is the user's to fix: one line, no traceback.
        print(f"tinyagent {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
