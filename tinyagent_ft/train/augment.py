"""Phrasing noise for training queries (`tinyagent train --query-noise RATE`).

A planner trained from scratch learns each phrasing template whole: on the generated data it plans
0.88 of the test queries phrased like training's and 0.56 of those phrased by held-out templates
(README). Noise on the words that only phrase the request (dropped, or swapped for phrasing words of
other requests) makes the model find the values and key words wherever they stand. Words the plan
needs are left alone: those it copies, anything with a digit, calendar words, which the plan
converts rather than copies ("June 5, 3pm" -> "2026-06-05 15:00:00"), and the words that tell the
record's tools apart from the rest of the catalog ("new" for create_note against append_note_content):
a noise that dropped "new" taught SmolLM2 to plan "new note X in my Y folder" as an append (RESULTS).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from planner_eval.catalog import Catalog

_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_CALENDAR = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
    # "a", "p" and "m" are what "a.m." and "p.m." split into
    "saturday sunday today tomorrow tonight morning afternoon evening noon midnight am pm a p m".split()
)


def intent_words(catalog: Catalog) -> dict[str, frozenset[str]]:
    """Per tool, the words of its description that at most a quarter of the catalog's descriptions
    use: "new" and "makes" for create_note, "existing" and "end" for append_note_content, but not
    "the", "in" or "app"."""
    words = {name: frozenset(_WORD.findall(tool.description.casefold())) for name, tool in catalog.items()}
    shared_by = Counter(word for tool_words in words.values() for word in tool_words)
    return {name: frozenset(w for w in tool_words if shared_by[w] <= len(catalog) / 4)
            for name, tool_words in words.items()}


def needed_words(plan: str, tools: Iterable[str] = (), intent: Mapping[str, frozenset[str]] | None = None) -> set[str]:
    """The words noise must keep: those of the plan, and the intent words of the record's tools."""
    words = set(_WORD.findall(plan.casefold()))
    intent = intent or {}
    for tool in tools:
        words |= intent.get(tool, frozenset())
    return words


def is_phrasing(word: str, needed: set[str]) -> bool:
    """True for a whitespace-separated query word that carries nothing the plan needs."""
    parts = _WORD.findall(word.casefold())
    return bool(parts) and not any(p.isdigit() or p in needed or p in _CALENDAR for p in parts)


def phrasing_words(queries: Iterable[str], needed: Iterable[set[str]]) -> list[str]:
    """Every phrasing word of the training set, repeats kept, so a swap draws common words more often."""
    words = []
    for query, query_needed in zip(queries, needed):
        words.extend(w for w in query.split() if is_phrasing(w, query_needed))
    return words


def noisy_query(query: str, needed: set[str], pool: Sequence[str], rate: float, rng: random.Random) -> str:
    """``query`` with each phrasing word dropped or swapped for a word of ``pool``, each with
    probability rate / 2; never returns an empty query."""
    kept = []
    for word in query.split():
        draw = rng.random() if is_phrasing(word, needed) else 1.0
        if draw < rate / 2:
            continue
        kept.append(rng.choice(pool) if draw < rate and pool else word)
    return " ".join(kept) or query
