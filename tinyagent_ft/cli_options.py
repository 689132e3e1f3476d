"""What every `tinyagent` subcommand shares: help that shows defaults, deprecated flag spellings,
and `--config FILE` (YAML or JSON keyed by the flags' destinations; flags given on the command line win)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to every option that takes a value and has a default; an unset (None)
    default says nothing, so the help text itself says what happens then, and on/off switches
    need no default shown."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if shows_default(action):
            return super()._get_help_string(action)
        return action.help


def shows_default(action: argparse.Action) -> bool:
    """Whether --help shows ``action``'s default (the test of every subcommand checks this)."""
    return (action.nargs != 0 and action.default is not None and action.default is not argparse.SUPPRESS
            and "%(default)" not in (action.help or ""))


class _Deprecated(argparse.Action):
    """An old spelling: warns on stderr, then acts as the new flag does."""

    def __init__(self, option_strings, dest, new: str, const_value: Any = None, takes_value: bool = True, **kwargs):
        self.new, self.const_value = new, const_value
        super().__init__(option_strings, dest, nargs=None if takes_value else 0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: warning: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, self.const_value if self.nargs == 0 else values)


def deprecated_alias(parser: argparse.ArgumentParser, old: str, new: argparse.Action) -> None:
    """Accept ``old`` for the flag ``new`` (hidden from --help, with a warning when used)."""
    flag_only = new.nargs == 0
    parser.add_argument(old, dest=new.dest, action=_Deprecated, new=new.option_strings[0], type=new.type,
                        const_value=new.const, takes_value=not flag_only, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)


def subparsers_of(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """(command path, parser) for every parser below ``parser``, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield name, child
                for sub_name, grandchild in subparsers_of(child):
                    yield f"{name} {sub_name}", grandchild


def is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def finish(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand the help formatter, and every runnable one `--config`."""
    for _, child in subparsers_of(parser):
        child.formatter_class = HelpFormatter
        if is_leaf(child):
            child.add_argument("--config", metavar="FILE", type=Path,
                               help="YAML or JSON file of settings keyed by this command's flag names "
                               "(report-to or report_to); flags given here override it")


def apply_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Turn the settings of a `--config FILE` in ``argv`` into the chosen subcommand's defaults."""
    path = _config_path(argv)
    if path is None:
        return
    leaf = _chosen(parser, argv)
    settings = read_config(path)
    by_name: dict[str, list[argparse.Action]] = {}
    for action in leaf._actions:  # a flag and its old spellings share a destination
        if action.dest in (argparse.SUPPRESS, "help", "config"):
            continue
        for name in {action.dest, *(_key(option) for option in action.option_strings if option.startswith("--"))}:
            by_name.setdefault(name, []).append(action)
    unknown = [key for key in settings if _key(key) not in by_name]
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) for `{leaf.prog}`: {', '.join(unknown)}")
    for key, value in settings.items():
        for action in by_name[_key(key)]:
            if action.choices is not None and value not in action.choices:
                raise ValueError(f"{path}: {key} must be one of {', '.join(map(str, action.choices))}, got {value!r}")
            # A string default goes through the flag's type, as a value on the command line would.
            action.default = str(value) if isinstance(value, (str, Path)) else value
            action.required = False


def _key(name: str) -> str:
    """A setting's name as a flag (`--report-to`), without dashes (`report-to`) or as its destination
    (`report_to`) all read alike."""
    return name.lstrip("-").replace("-", "_")


def read_config(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise OSError(f"--config {path}: {error.strerror or error}") from None
    if path.suffix.lower() == ".json":
        try:
            settings = json.loads(text)
        except ValueError as error:
            raise ValueError(f"--config {path}: not JSON ({error})") from None
    else:  # YAML is a superset of JSON, so other suffixes read either
        import yaml

        try:
            settings = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"--config {path}: not YAML or JSON ({str(error).splitlines()[0]})") from None
    if not isinstance(settings, dict):
        raise ValueError(f"--config {path}: expected a mapping of settings, got {type(settings).__name__}")
    return settings


def _config_path(argv: Sequence[str]) -> Path | None:
    for i, token in enumerate(argv):
        if token == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if token.startswith("--config="):
            return Path(token.split("=", 1)[1])
    return None


def _chosen(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The subcommand parser that ``argv`` names (its first positional words)."""
    current = parser
    for token in argv:
        children = next((a.choices for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        if children is None:
            break
        if token in children:
            current = children[token]
    return current
