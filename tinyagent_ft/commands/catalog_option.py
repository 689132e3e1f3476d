"""`--tools CATALOG.json`, shared by every command that meets tools: the option and how a command
settles on its catalog (the given file, else the one stored in its artifacts, else the built-in one)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from planner_eval.catalog import Catalog

FORMATS_HELP = "OpenAI function schemas (wrapped, bare or under \"tools\") or planner_eval's native format"


def add_tools_option(parser: argparse.ArgumentParser, default: str = "the built-in TinyAgent tools") -> None:
    parser.add_argument("--tools", type=Path, default=None, metavar="CATALOG.json",
                        help=f"the tool catalog: {FORMATS_HELP} (default: {default})")


def command_catalog(tools: Path | None, stored_in: Sequence[Path | None] = (), decodable: bool = False) -> Catalog:
    """The catalog a command works with: ``tools`` when given, else the first stored one; every stored
    catalog must agree with it. With ``decodable``, every argument must have a plan grammar (train and
    serve). Raises ValueError or OSError with one line, before the command writes anything."""
    from planner_eval.catalog_io import print_warnings_on_one_line, resolve_catalog

    print_warnings_on_one_line()
    catalog = resolve_catalog(tools, [d for d in stored_in if d is not None])
    if decodable:
        from tinyagent_ft.grammar import check_catalog_grammar

        check_catalog_grammar(catalog)
    return catalog
