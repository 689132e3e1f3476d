"""Copied arguments: argument slots whose values the training plans take verbatim from the question
(names, titles, places, file names, message texts), learnt from the training split, and the grammar rule
that holds such a slot to spans of the question at decoding time (`tinyagent_ft.grammar`).

A small model that has learnt *which* tool to call still writes a plausible name or title that is not in
the question ("user_manual.pdf" for "the audit findings.pdf"): on the 256 x 4 tiny planner, 79 % of the
failed test plans held such a value. Where the training data shows that a slot's value is always a span
of the question, the decoder can only choose a span; which span stays the model's choice.

A span is a run of the question's atoms (see `atoms`) that neither starts nor ends with a space, so
"Home repairs" and "audit findings.pdf" are spans of "append audit findings.pdf to Home repairs?", and
"pair" is not. The question is the one the prompt shows: whitespace collapsed (`prompts.user_text`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence

from planner_eval.catalog import Catalog, default_catalog
from planner_eval.parse import parse_plan
from planner_eval.plan import reference_id

# A slot is copied when at least this share of its training values are spans of their question, over at
# least MIN_VALUES values: the generator's TinyAgent data has 22 such slots at 98.8-100 %, and the next
# ones (an email's subject, 83 %; a transport mode, 94 %) are written, not copied.
COPY_SHARE = 0.98
MIN_VALUES = 20
# An atom longer than this (in UTF-8 bytes) is not copied: the closing walk may have to finish it.
MAX_ATOM_BYTES = 48
# Characters a plan string may not hold raw and the grammar's escapes do not cover: a span stops there.
_BARRIER = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff<]")
_ATOM = re.compile(r"[^\W_]+|\s|.", re.DOTALL)  # letters and digits together; any other character alone

CopiedArguments = dict[str, list[str]]  # tool name -> its copied arguments, in catalog order


def question_text(query: str) -> str:
    """The question as the prompt shows it (`prompts.user_text`), which spans are taken from."""
    return " ".join(query.split())


def atoms(question: str) -> list[tuple[str, bool]]:
    """(text, copyable) per atom of ``question``: each run of letters and digits, and each other character."""
    found = []
    for match in _ATOM.finditer(question):
        text = match.group(0)
        copyable = not _BARRIER.match(text) and len(text.encode()) <= MAX_ATOM_BYTES
        found.append((text, copyable))
    return found


def is_span(value: str, question: str) -> bool:
    """Whether ``value`` is a span of ``question`` (already collapsed, see `question_text`)."""
    if not value or value != value.strip():
        return False
    boundaries, barriers, position = {0}, [], 0
    for text, copyable in atoms(question):
        if not copyable:
            barriers.append(position)
        position += len(text)
        boundaries.add(position)
    start = question.find(value)
    while start >= 0:
        end = start + len(value)
        if start in boundaries and end in boundaries and not any(start <= b < end for b in barriers):
            return True
        start = question.find(value, start + 1)
    return False


def copied_arguments(pairs: Iterable[tuple[str, str]], catalog: Catalog | None = None) -> CopiedArguments:
    """The copied slots of the tools of ``catalog`` (the built-in one by default), learnt from (query,
    plan text) pairs: those whose non-empty string values, references aside, are spans of the question
    at least ``COPY_SHARE`` of the time, over at least ``MIN_VALUES`` of them."""
    catalog = default_catalog() if catalog is None else catalog
    seen, spans = Counter(), Counter()
    for query, plan in pairs:
        question = question_text(query)
        for slot, text in string_values(plan, catalog):
            seen[slot] += 1
            spans[slot] += is_span(text, question)
    copied: CopiedArguments = {}
    for name, tool in catalog.items():
        kept = [arg.name for arg in tool.args
                if seen[name, arg.name] >= MIN_VALUES and spans[name, arg.name] >= COPY_SHARE * seen[name, arg.name]]
        if kept:
            copied[name] = kept
    return copied


def string_values(plan: str, catalog: Catalog) -> Iterator[tuple[tuple[str, str], str]]:
    """((tool, argument), string) for each plain string a plan's arguments hold (`plain_strings`),
    actions calling a tool ``catalog`` lacks aside."""
    for action in parse_plan(plan, catalog).actions:
        tool = catalog.get(action.tool)
        for arg, value in zip(tool.args if tool is not None else (), action.args):
            for text in plain_strings(value):
                yield (action.tool, arg.name), text


def plain_strings(value) -> Iterable[str]:
    """The plain strings of an argument's value, its list elements included (references and "" aside)."""
    if isinstance(value, str):
        if value and reference_id(value) is None:
            yield value
    elif isinstance(value, list):
        for item in value:
            yield from plain_strings(item)


def checked_copied_arguments(copied: object, catalog: Catalog) -> CopiedArguments:
    """``copied`` as read from a checkpoint, keeping only the tools and arguments ``catalog`` has;
    raises ValueError (one line) when it is not a mapping of tool names to lists of argument names."""
    if not isinstance(copied, Mapping) or not all(
            isinstance(tool, str) and isinstance(args, list) and all(isinstance(a, str) for a in args)
            for tool, args in copied.items()):
        raise ValueError("copied_arguments must map tool names to lists of argument names")
    kept = {}
    for name, args in copied.items():
        known = {arg.name for arg in catalog[name].args} if name in catalog else set()
        if known & set(args):
            kept[name] = [a for a in args if a in known]
    return kept


def copy_reserve(question: str) -> int:
    """Tokens the closing walk may need to finish a span of ``question`` at the next point where it may
    end: the rest of the longest atom, after a space (every token carries at least a byte)."""
    return 1 + max((len(text.encode()) for text, copyable in atoms(question) if copyable), default=0)


def copied_slots(copied: Mapping[str, Sequence[str]] | None, tools: Iterable[str]) -> frozenset[tuple[str, str]]:
    """The (tool, argument) pairs of ``copied`` among ``tools``."""
    if not copied:
        return frozenset()
    return frozenset((tool, arg) for tool in tools for arg in copied.get(tool, ()))
