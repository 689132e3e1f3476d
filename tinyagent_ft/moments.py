"""Dates, clock times and durations said in a question, and the values a plan may derive from them.

A tool's date argument takes a stamp (`2026-03-11 14:00:00`) where the question says "Mar 11 at 2pm";
an end date takes the start plus the question's duration ("for 30 mins"); a duration argument takes
minutes. A small model learns the stamp's format early and its digits late: the demo's planner writes
the right month and a wrong day or hour in most calendar, reminder and zoom plans. So, as for copied
arguments (`tinyagent_ft.copying`), slots whose training values are always such derived values are
learnt from the training split, and the decoder holds them to the values this question allows: every
date said, at every time said, at each time plus each duration said, or at midnight (an all-day
entry); a duration slot to the durations said, in minutes. Which value stays the model's choice.

The year is never derived: a question rarely says it, so the grammar leaves its four digits to the
model. What is read (English only): "March 5", "Mar 5th", "5 March", "the 5th of March", "3/5" (month
first, and day first where that is a date too), "2026-03-05"; "3pm", "3:30 p.m.", "15:30", "noon",
"midnight"; "30 min", "2 hours", "1.5 hours", "an hour", "an hour and a half", "half an hour".
A question with no date gives no stamps, and one with no duration no minutes: such a slot is then
decoded free for that question.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence

from planner_eval.catalog import Catalog, default_catalog
from planner_eval.parse import parse_plan
from planner_eval.plan import reference_id
from tinyagent_ft.copying import COPY_SHARE, MIN_VALUES, question_text

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")


def _prefixes(rest: str) -> str:
    """A pattern for any prefix of ``rest``: "Sept" and "Septem" read as September, as "Sep" does."""
    return f"(?:{rest[0]}{_prefixes(rest[1:])})?" if rest else ""


_MONTH = r"(?P<month>" + "|".join(m[:3] + _prefixes(m[3:]) for m in _MONTHS) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_DATES = (
    re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?![:/.]\d)", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?![a-z])", re.IGNORECASE),
)
_NUMERIC_DATE = re.compile(r"(?<![\d/])(?P<a>[01]?\d)/(?P<b>[0-3]?\d)(?![\d/])")
_ISO_DATE = re.compile(r"\b\d{4}-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b")
_SUFFIX = r"\s?(?P<half>[ap])\.?m\b\.?"
_CLOCKS = (
    re.compile(rf"\b(?P<hour>1[0-2]|0?[1-9])(?::(?P<minute>[0-5]\d))?{_SUFFIX}", re.IGNORECASE),
    re.compile(r"\b(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)\b(?!\s?[ap]\.?m\b)", re.IGNORECASE),
)
_NAMED_CLOCKS = {"noon": (12, 0), "midday": (12, 0), "midnight": (0, 0)}
_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_HOUR_AND_A_HALF = re.compile(r"\b(?P<n>\d+|an?|one|two|three)\s+hours?\s+and\s+a\s+half\b", re.IGNORECASE)
_HALF_AN_HOUR = re.compile(r"\bhalf\s+an?\s+hour\b", re.IGNORECASE)
_DURATION = re.compile(
    r"\b(?P<n>\d+(?:\.\d+)?|an?|one|two|three|four|five|six)[\s-]?"
    r"(?P<unit>minutes?|mins?|hours?|hrs?)\b", re.IGNORECASE)
MINUTES = "minutes"  # the kind of a duration slot
# The longest duration a minutes slot may take: 4 digits, so its closing walk is no longer than `1`'s.
MAX_MINUTES = 9999
# Any leap year: every month-day a question may name is a date in it.
_LEAP = 2000
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
# A date at a time the question says, at that time plus a duration it says, at midnight.
STAMP_KINDS = ("at", "after", "midnight")


def question_dates(question: str) -> list[tuple[int, int]]:
    """(month, day) of each date ``question`` names, in order of appearance, each once."""
    found: list[tuple[int, tuple[int, int]]] = []
    for pattern in _DATES:
        for match in pattern.finditer(question):
            month = _month_number(match.group("month"))
            found.append((match.start(), (month, int(match.group("day")))))
    for match in _ISO_DATE.finditer(question):
        found.append((match.start(), (int(match.group("month")), int(match.group("day")))))
    for match in _NUMERIC_DATE.finditer(question):
        a, b = int(match.group("a")), int(match.group("b"))
        found += [(match.start(), (a, b)), (match.start(), (b, a))]
    return _unique(pair for _, pair in sorted(found, key=lambda item: item[0]) if _is_date(*pair))


def question_clocks(question: str) -> list[tuple[int, int]]:
    """(hour, minute) on a 24-hour clock of each time of day ``question`` names, each once."""
    found: list[tuple[int, tuple[int, int]]] = []
    for pattern in _CLOCKS:
        for match in pattern.finditer(question):
            hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
            if "half" in pattern.groupindex:
                hour = hour % 12 + (12 if match.group("half").lower() == "p" else 0)
            found.append((match.start(), (hour, minute)))
    for word, clock in _NAMED_CLOCKS.items():
        for match in re.finditer(rf"\b{word}\b", question, re.IGNORECASE):
            found.append((match.start(), clock))
    return _unique(clock for _, clock in sorted(found, key=lambda item: item[0]))


def question_minutes(question: str) -> list[int]:
    """Each duration ``question`` names, in whole minutes, each once."""
    found: list[tuple[int, int]] = []
    taken: list[range] = []
    for match in _HOUR_AND_A_HALF.finditer(question):
        found.append((match.start(), _count(match.group("n")) * 60 + 30))
        taken.append(range(match.start(), match.end()))
    for match in _HALF_AN_HOUR.finditer(question):
        found.append((match.start(), 30))
        taken.append(range(match.start(), match.end()))
    for match in _DURATION.finditer(question):
        if any(match.start() in span for span in taken):
            continue
        hours = match.group("unit").lower().startswith("h")
        minutes = _count(match.group("n")) * (60 if hours else 1)
        if minutes == int(minutes) and minutes > 0:
            found.append((match.start(), int(minutes)))
    return _unique(minutes for _, minutes in sorted(found) if minutes <= MAX_MINUTES)


def _moments(question: str) -> Iterator[tuple[str, dt.datetime]]:
    """(kind, moment) for each stamp ``question`` allows, date by date (see `stamp_suffixes`); the
    question is read once, whatever the kinds asked for."""
    clocks, durations = question_clocks(question), question_minutes(question)
    for month, day in question_dates(question):
        midnight = dt.datetime(_LEAP, month, day)
        starts = [midnight.replace(hour=h, minute=m) for h, m in clocks]
        yield "midnight", midnight
        yield from (("at", start) for start in starts)
        yield from (("after", start + dt.timedelta(minutes=d)) for start in starts for d in durations)


def _suffix(moment: dt.datetime) -> str:
    return moment.strftime(STAMP_FORMAT)[5:]


def stamp_suffixes(question: str, kinds: Iterable[str] = STAMP_KINDS) -> list[str]:
    """The stamps ``question`` allows for a slot of ``kinds`` (see `STAMP_KINDS`), their year left
    out (`03-11 14:00:00`): each date it names at each time it names ("at"), at each such time plus
    each duration it names ("after"), at midnight ("midnight")."""
    kinds = set(kinds)
    return _unique(_suffix(moment) for kind, moment in _moments(question) if kind in kinds)


def stamp_kinds(value: str, question: str) -> set[str]:
    """The kinds of stamp (`STAMP_KINDS`) ``question`` allows that ``value`` is; empty for any other value."""
    if _STAMP.fullmatch(value) is None:
        return set()
    return {kind for kind, moment in _moments(question) if _suffix(moment) == value[5:]}


DerivedArguments = dict[str, dict[str, list[str]]]  # tool -> argument -> the kinds of value it takes


def derived_arguments(pairs: Iterable[tuple[str, str]], catalog: Catalog | None = None) -> DerivedArguments:
    """The slots of ``catalog``'s tools whose training values derive from the question, learnt from
    (query, plan text) pairs, with the kinds of value each takes: a string slot whose values are stamps
    `stamp_kinds` finds at least ``COPY_SHARE`` of the time, over at least ``MIN_VALUES`` values, takes
    the fewest kinds that cover that share of them; an integer slot whose values are durations the
    question says takes ``MINUTES``."""
    catalog = default_catalog() if catalog is None else catalog
    seen: Counter = Counter()
    kinds_seen: dict[tuple[str, str], list[set[str]]] = {}
    for query, plan in pairs:
        question = question_text(query)
        for (tool, arg), value in _plain_values(plan, catalog):
            seen[tool, arg] += 1
            found = stamp_kinds(value, question) if isinstance(value, str) else (
                {MINUTES} if value in question_minutes(question) else set())
            kinds_seen.setdefault((tool, arg), []).append(found)
    derived: DerivedArguments = {}
    for (tool, arg), found in kinds_seen.items():
        derivable = [kinds for kinds in found if kinds]
        if seen[tool, arg] >= MIN_VALUES and len(derivable) >= COPY_SHARE * seen[tool, arg]:
            derived.setdefault(tool, {})[arg] = _fewest_kinds(derivable)
    return {tool: dict(sorted(args.items(), key=lambda item: _arg_index(catalog, tool, item[0])))
            for tool, args in derived.items()}


def _fewest_kinds(found: list[set[str]]) -> list[str]:
    """The kinds, most frequent first, that cover ``COPY_SHARE`` of ``found`` (each value's kinds)."""
    chosen: list[str] = []
    covered = 0
    counts = Counter(kind for kinds in found for kind in kinds)
    for kind, _ in counts.most_common():
        if covered >= COPY_SHARE * len(found):
            break
        chosen.append(kind)
        covered = sum(bool(kinds & set(chosen)) for kinds in found)
    return sorted(chosen, key=(*STAMP_KINDS, MINUTES).index)


def _arg_index(catalog: Catalog, tool: str, arg: str) -> int:
    return [a.name for a in catalog[tool].args].index(arg)


def _plain_values(plan: str, catalog: Catalog) -> Iterator[tuple[tuple[str, str], str | int]]:
    """((tool, argument), value) for each non-empty string and each integer a plan's arguments hold,
    references and tools ``catalog`` lacks aside."""
    for action in parse_plan(plan, catalog).actions:
        tool = catalog.get(action.tool)
        for arg, value in zip(tool.args if tool is not None else (), action.args):
            if isinstance(value, str) and value and reference_id(value) is None:
                yield (action.tool, arg.name), value
            elif isinstance(value, int) and not isinstance(value, bool):
                yield (action.tool, arg.name), value


def checked_derived_arguments(derived: object, catalog: Catalog) -> DerivedArguments:
    """``derived`` as read from a checkpoint, keeping only the tools and arguments ``catalog`` has;
    raises ValueError (one line) when it is not a mapping of tools to arguments to lists of kinds, or
    names a kind its argument's type cannot take."""
    if not isinstance(derived, Mapping) or not all(
            isinstance(tool, str) and isinstance(args, Mapping) and all(
                isinstance(arg, str) and isinstance(kinds, list) and kinds and all(isinstance(k, str) for k in kinds)
                for arg, kinds in args.items())
            for tool, args in derived.items()):
        raise ValueError("derived_arguments must map tool names to argument names to lists of kinds")
    kept: DerivedArguments = {}
    for tool, args in derived.items():
        types = {arg.name: arg.type_hint for arg in catalog[tool].args} if tool in catalog else {}
        for arg, kinds in args.items():
            if arg not in types:
                continue
            allowed = set(STAMP_KINDS) if types[arg] == "str" else {MINUTES} if types[arg] == "int" else set()
            if not set(kinds) <= allowed:
                raise ValueError(f"derived_arguments: {tool}.{arg} ({types[arg]}) cannot take {kinds}")
            kept.setdefault(tool, {})[arg] = list(kinds)
    return kept


def derived_slots(derived: Mapping[str, Mapping[str, Sequence[str]]] | None,
                  tools: Iterable[str]) -> frozenset[tuple[str, str, tuple[str, ...]]]:
    """(tool, argument, kinds) of each slot of ``derived`` among ``tools``."""
    if not derived:
        return frozenset()
    return frozenset((tool, arg, tuple(kinds)) for tool in tools for arg, kinds in derived.get(tool, {}).items())


def _month_number(name: str) -> int:
    return next(i for i, month in enumerate(_MONTHS, 1) if month.startswith(name.lower().rstrip(".")[:3]))


def _is_date(month: int, day: int) -> bool:
    try:
        dt.date(_LEAP, month, day)
    except ValueError:
        return False
    return True


def _count(text: str) -> float:
    return _WORD_NUMBERS[text.lower()] if text.lower() in _WORD_NUMBERS else float(text)


def _unique(items: Iterable) -> list:
    return list(dict.fromkeys(items))
