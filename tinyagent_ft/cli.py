"""`tinyagent`: one console script, a subcommand per pipeline stage."""

from __future__ import annotations

import argparse
import sys

from planner_eval._version import __version__
from tinyagent_ft.cli_options import HelpFormatter, apply_config, finish
from tinyagent_ft.commands import baseline, compare, data, demo, retriever, score, serve, train
from tinyagent_ft.commands import eval as eval_command

# Each command module exposes register(subparsers); a handler returns an exit code or None.
COMMAND_MODULES = (data, retriever, train, eval_command, score, baseline, serve, demo, compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinyagent",
        description="Fine-tune, evaluate and serve a small function-calling planner (TinyAgent / LLMCompiler).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    finish(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        apply_config(parser, argv)
    except (ValueError, OSError) as error:
        print(f"tinyagent: error: {error}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
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
